"""The check-in's transaction on the driver: all or nothing, never left open, and a commit whose
answer was lost never repeated."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import DBAPIError

import shared.db.engine
from config.settings import Settings
from shared.db.driver import DriverStatement
from shared.db.engine import driver_transaction, make_engine, run_autocommit
from shared.db.models import Fault


@pytest.fixture
def autocommit(settings: Settings, engine: Engine) -> Iterator[Engine]:
    made = make_engine(settings.database_url, autocommit=True, timeout=2)
    yield made
    made.dispose()


def insert_fault(connection: Any) -> None:
    statement = DriverStatement.compile(
        Fault.__table__.insert().values(tracker="pause", drop=False, created_at=func.now()),
        connection.dialect,
    )
    statement.count(connection)


def faults(engine: Engine) -> int:
    with engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(Fault)).scalar_one()


def test_work_that_raises_writes_nothing_and_leaves_no_transaction_open(
    autocommit: Engine, engine: Engine
) -> None:
    def fails(connection: Any) -> None:
        insert_fault(connection)
        raise ValueError("refused")

    with pytest.raises(ValueError, match="refused"), autocommit.connect() as connection:
        driver_transaction(connection, lambda: fails(connection))
    assert faults(engine) == 0
    # The connection went back to the pool outside any transaction: on SQLite a transaction
    # left open would hold the write lock, and this write would wait out its timeout and fail.
    run_autocommit(autocommit, lambda c: driver_transaction(c, lambda: insert_fault(c)))
    with engine.begin() as connection:
        connection.execute(
            Fault.__table__.insert().values(tracker="pause", drop=False, created_at=func.now())
        )
    assert faults(engine) == 2


def test_a_commit_whose_answer_was_lost_is_not_run_again(
    autocommit: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = shared.db.engine._transaction_statements

    class LostCommit:
        def count(self, connection: Any) -> int:
            raise DBAPIError(
                "COMMIT",
                None,
                Exception("server closed the connection"),
                connection_invalidated=True,
            )

    def statements(dialect: Any) -> Any:
        return real(dialect)._replace(commit=LostCommit())

    monkeypatch.setattr("shared.db.engine._transaction_statements", statements)
    calls: list[int] = []

    def work(connection: Any) -> None:
        calls.append(1)

    with pytest.raises(DBAPIError) as raised:
        run_autocommit(autocommit, lambda c: driver_transaction(c, lambda: work(c)))
    assert calls == [1]  # a disconnect anywhere else is tried once more on a new connection
    assert raised.value.connection_invalidated is False
