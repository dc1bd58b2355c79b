"""The checks as SQL, the facts read in one statement, and the completion call under change."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from helpers import assert_body, close_app, completion_error
from sqlalchemy import Engine, false, insert, select, text, update
from sqlalchemy.exc import DBAPIError

import shared.orders.flag
from api.app import create_app
from config.settings import Settings
from shared.db.driver import DriverStatement
from shared.db.engine import make_engine
from shared.db.models import CheckIn, Order, OrderAddon
from shared.domain.codes import JobType, OrderStatus
from shared.domain.completion import check_completable
from shared.domain.errors import CompletionRejected
from shared.domain.lab_setup import Addon, Lab, Process
from shared.orders.completion_sql import completable
from shared.orders.facts import FACT_COLUMNS, to_facts
from shared.orders.flag import _completion_statements

CASES = 400


def _random_orders(lab: Lab, seed: int) -> Iterator[dict[str, Any]]:
    """Orders of every kind: each status, hold, deletion, job type, and random addons and
    stations, known to the lab or not."""
    chooser = random.Random(seed)
    addons = [*lab.addons, "ZZZ"]
    stations = [*lab.stations, "NOPE"]
    for number in range(1, CASES + 1):
        yield _order(
            number,
            status=chooser.choice(list(OrderStatus)),
            on_hold=chooser.random() < 0.1,
            deleted=chooser.random() < 0.1,
            job_type=chooser.choice(list(JobType)),
            addons=chooser.sample(addons, chooser.randint(0, 3)),
            stations=chooser.sample(stations, chooser.randint(0, len(stations))),
        )


def _order(number: int, **changes: Any) -> dict[str, Any]:
    """A ready order, as `_store` takes it, with `changes`."""
    return {
        "order_number": number,
        "status": OrderStatus.PROCESS,
        "on_hold": False,
        "deleted": False,
        "job_type": JobType.FULL,
        "addons": [],
        "stations": [],
        **changes,
    }


def _store(engine: Engine, orders: list[dict[str, Any]]) -> None:
    now = datetime.now(UTC)
    with engine.begin() as connection:
        for order in orders:
            own = {k: v for k, v in order.items() if k not in ("addons", "stations")}
            connection.execute(insert(Order).values(**own, date_ordered=date(2026, 11, 27)))
            for code in order["addons"]:
                connection.execute(
                    insert(OrderAddon).values(order_number=order["order_number"], addon_code=code)
                )
            for code in order["stations"]:
                connection.execute(
                    insert(CheckIn).values(
                        order_number=order["order_number"], station=code, checked_in_at=now
                    )
                )


def _passes(lab: Lab, row: Any) -> bool:
    try:
        check_completable(to_facts(row), lab)
    except CompletionRejected:
        return False
    return True


def _edge_orders(lab: Lab, first: int) -> Iterator[dict[str, Any]]:
    """For each addon alone, on each job type: an order that has passed every station, and one
    for each process the addon needs that has passed every station but those performing it. They
    reach every branch of the job-flow SQL, whatever the random orders happen to be."""
    number = first
    everywhere = sorted(lab.stations)
    for code, addon in sorted(lab.addons.items()):
        for job_type in (JobType.FULL, JobType.ADDON):
            for skipped in [None, *sorted(addon.processes)]:
                stations = [
                    c for c in everywhere if skipped is None or lab.stations[c].process != skipped
                ]
                yield _order(number, job_type=job_type, addons=[code], stations=stations)
                number += 1


def _odd_addons(lab: Lab) -> Lab:
    """The default lab plus what it lacks: an addon needing two processes, an addon needing
    none, and one needing a process that no station performs."""
    orphan = Process("orphan", "Orphan", "Needs Orphan!", "Orphan not needed")
    return dataclasses.replace(
        lab,
        processes=(*lab.processes, orphan),
        addons={
            **lab.addons,
            "DUO": Addon("DUO", "Two processes", frozenset({"backside", "ar"})),
            "NIL": Addon("NIL", "No process"),
            "ORP": Addon("ORP", "A process no station performs", frozenset({"orphan"})),
        },
    )


def _odd_addons_and_no_final_qa_station(lab: Lab) -> Lab:
    """The odd addons, and final QA (forced on addon jobs) performed by no station."""
    lab = _odd_addons(lab)
    fqa = dataclasses.replace(lab.stations["FQA"], process=None)
    return dataclasses.replace(lab, stations={**lab.stations, "FQA": fqa})


# Each lab with a random seed of its own, named in the test's id (and in any failure message), so a
# failure can be run again exactly.
LAB_VARIANTS = {
    "default-lab": (101, lambda lab: lab),
    "no-station-verify": (202, lambda lab: dataclasses.replace(lab, station_verify=False)),
    "no-forced-qa": (303, lambda lab: dataclasses.replace(lab, force_qa_on_addon_jobs=False)),
    "odd-addons": (404, _odd_addons),
    "odd-addons-no-final-qa-station": (505, _odd_addons_and_no_final_qa_station),
    "odd-addons-no-forced-qa": (
        606,
        lambda lab: dataclasses.replace(_odd_addons(lab), force_qa_on_addon_jobs=False),
    ),
}


@pytest.mark.parametrize(
    ("variant", "seed"),
    [(name, seed) for name, (seed, _) in LAB_VARIANTS.items()],
    ids=[f"{name}-seed-{seed}" for name, (seed, _) in LAB_VARIANTS.items()],
)
def test_the_sql_checks_give_the_python_checks_answer_on_every_kind_of_order(
    engine: Engine, settings: Settings, lab: Lab, variant: str, seed: int
) -> None:
    lab = LAB_VARIANTS[variant][1](lab)
    orders = [*_random_orders(lab, seed=seed), *_edge_orders(lab, first=CASES + 1)]
    _store(engine, orders)
    with engine.connect() as connection:
        rows = connection.execute(select(*FACT_COLUMNS, completable(lab).label("sql"))).all()
    python = {row.order_number: _passes(lab, row) for row in rows}
    disagreements = [row.order_number for row in rows if row.sql != python[row.order_number]]
    assert len(rows) == len(orders)
    assert disagreements == [], f"{variant}, seed {seed}"
    # The random orders reach both answers, and the job-flow rule is what decides many of them.
    answers = [python[number] for number in range(1, CASES + 1)]
    assert 20 < answers.count(True) < CASES - 20, f"{variant}, seed {seed}"

    # The statement the API runs (the flag UPDATE, compiled for the driver) flags exactly the
    # orders the Python check passes: run it on each order, as a completion call would. It is
    # built by the call's own function, not rebuilt here, so it is the statement the API runs.
    flag = _completion_statements(engine.dialect, lab).flag_if_completable
    now = datetime.now(UTC)
    autocommit = make_engine(settings.database_url, autocommit=True)
    try:
        with autocommit.connect() as connection:
            flagged = {n for n in python if flag.count(connection, number=n, now=now)}
    finally:
        autocommit.dispose()
    wrongly_flagged = sorted(flagged - {n for n, passes in python.items() if passes})
    wrongly_left = sorted({n for n, passes in python.items() if passes} - flagged)
    assert (wrongly_flagged, wrongly_left) == ([], []), f"{variant}, seed {seed}"
    with engine.connect() as connection:
        stored = connection.execute(
            select(Order.order_number).where(Order.completion_requested_at.is_not(None))
        )
        assert set(stored.scalars()) == flagged


def test_the_facts_keep_codes_with_any_characters_whole(engine: Engine, lab: Lab) -> None:
    odd = ["a,b", 'q"uote', "ünï", "x\x1fy", "[]"]
    _store(engine, [_order(7, addons=odd, stations=[*odd, "BSC"])])
    with engine.connect() as connection:
        (row,) = connection.execute(select(*FACT_COLUMNS)).all()
    facts = to_facts(row)
    assert (facts.addons, facts.stations) == (frozenset(odd), frozenset([*odd, "BSC"]))


def test_a_driver_statement_reads_values_through_the_column_types(engine: Engine) -> None:
    flagged_at = datetime(2026, 11, 27, 10, 30, 15, 123456, tzinfo=UTC)
    _store(engine, [_order(9, status=OrderStatus.VALID, on_hold=True, job_type=JobType.ADDON)])
    with engine.begin() as connection:
        connection.execute(update(Order).values(completion_requested_at=flagged_at))
    read = DriverStatement.compile(select(*FACT_COLUMNS), engine.dialect)
    with engine.connect() as connection:
        (row,) = read.fetch(connection)
    # Identity and exact types, not ==: 'V' == OrderStatus.VALID and 1 == True hold even when
    # nothing was converted, while the rules compare with `is`.
    assert row.status is OrderStatus.VALID
    assert row.job_type is JobType.ADDON
    assert type(row.on_hold) is bool and row.on_hold is True
    assert type(row.deleted) is bool and row.deleted is False
    assert type(row.order_number) is int and row.order_number == 9
    assert type(row.completion_requested_at) is datetime
    assert row.completion_requested_at.utcoffset() == timedelta(0)
    assert row.completion_requested_at == flagged_at
    assert (row.addons, row.stations) == ("[]", "[]")


def test_a_driver_error_is_raised_as_sqlalchemy_raises_it(engine: Engine) -> None:
    broken = DriverStatement.compile(select(text("no_such_column")), engine.dialect)
    with engine.connect() as connection, pytest.raises(DBAPIError) as raised:
        broken.fetch(connection)
    assert "no_such_column" in str(raised.value.orig)


# ---- the completion call when the order changes under it -------------------------------------


@pytest.fixture
def slow_path_app(settings: Settings, lab: Lab, monkeypatch: pytest.MonkeyPatch) -> Iterator[Flask]:
    """The API with the one-statement flag turned off, so every call reads, checks and then
    writes: the path a call takes when the order changed since the SQL checks looked."""
    monkeypatch.setattr(shared.orders.flag, "completable", lambda lab: false())
    # A lab object of its own: the statements are cached per lab.
    app = create_app(settings, lab=dataclasses.replace(lab))
    yield app
    close_app(app)


def _change_after_each_read(
    monkeypatch: pytest.MonkeyPatch, engine: Engine, number: int, change: Any
) -> list[int]:
    """Run `change(read_count)` on the order after each time the call reads its facts, as a lab
    user would between the call's check and its write; answer the list of reads."""
    reads: list[int] = []
    real = shared.orders.flag.to_facts

    def read_then_change(row: Any) -> Any:
        reads.append(row.order_number)
        with engine.begin() as connection:
            connection.execute(
                update(Order).where(Order.order_number == number).values(**change(len(reads)))
            )
        return real(row)

    monkeypatch.setattr(shared.orders.flag, "to_facts", read_then_change)
    return reads


def _ready_order(client: FlaskClient) -> int:
    response = client.post("/api/sim/orders", json={"addons": ["BSC"], "stations": ["BSC"]})
    assert response.status_code == 201, response.get_data(as_text=True)
    return int(response.get_json()["orderNumber"])


def _flagged(engine: Engine, number: int) -> bool:
    with engine.connect() as connection:
        flag = connection.execute(
            select(Order.completion_requested_at).where(Order.order_number == number)
        ).scalar_one()
    return flag is not None


def test_an_order_put_on_hold_between_the_check_and_the_write_is_refused_not_flagged(
    slow_path_app: Flask, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = slow_path_app.test_client()
    number = _ready_order(client)
    reads = _change_after_each_read(monkeypatch, engine, number, lambda _: {"on_hold": True})
    response = client.post(f"/api/v2/orders/{number}/complete")
    assert_body(response, 400, completion_error("05", "Order on hold"))
    assert reads == [number, number]  # the write missed, and the second check saw the hold
    assert not _flagged(engine, number)


def test_an_order_that_keeps_changing_answers_503_and_stays_unflagged(
    slow_path_app: Flask, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = slow_path_app.test_client()
    number = _ready_order(client)
    statuses = [OrderStatus.PROCESS, OrderStatus.VALID]  # the order is P: each read flips it
    reads = _change_after_each_read(
        monkeypatch, engine, number, lambda count: {"status": statuses[count % 2]}
    )
    response = client.post(f"/api/v2/orders/{number}/complete")
    assert_body(
        response,
        503,
        {"error": "Service unavailable", "details": ["The order is changing too often; try again"]},
    )
    assert len(reads) == shared.orders.flag.FLAG_ATTEMPTS
    assert not _flagged(engine, number)


def test_the_slow_path_flags_a_ready_order_and_answers_a_repeat(
    slow_path_app: Flask, engine: Engine
) -> None:
    client = slow_path_app.test_client()
    number = _ready_order(client)
    accepted = {"orderNumber": str(number), "message": "Successful"}
    assert_body(client.post(f"/api/v2/orders/{number}/complete"), 201, accepted)
    assert _flagged(engine, number)
    assert_body(client.post(f"/api/v2/orders/{number}/complete"), 201, accepted)


def test_a_pooled_connection_the_server_dropped_costs_the_client_nothing(
    app: Flask, client: FlaskClient, engine: Engine
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("a SQLite connection cannot be dropped by a server")
    first, second = _ready_order(client), _ready_order(client)
    assert client.post(f"/api/v2/orders/{first}/complete").status_code == 201
    pooled = app.extensions["rx_jobtracker"].autocommit_engine.raw_connection()
    backend = pooled.driver_connection.info.backend_pid
    pooled.close()  # back to the pool, where the next call will find it
    with engine.connect() as connection:
        connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend})
    response = client.post(f"/api/v2/orders/{second}/complete")
    assert_body(response, 201, {"orderNumber": str(second), "message": "Successful"})
    assert _flagged(engine, second)
