"""v2 identifiers: an order number, an active order's tray number, or a PO that names one order."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, delete, func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from shared.db.engine import transaction
from shared.db.models import Order
from shared.domain.codes import OrderStatus
from shared.domain.errors import RecordNotFound
from shared.domain.lab_setup import Lab
from shared.orders.lookup import Kinds, active_orders, find_order, list_orders
from shared.sim.orders import create_order, reset

NOW = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)


@pytest.fixture
def make(session_factory: sessionmaker[Session], lab: Lab) -> Callable[..., int]:
    def make(**fields: Any) -> int:
        with transaction(session_factory) as session:
            order = create_order(session, lab, now=NOW, today=date(2026, 11, 29), **fields)
            return order.order_number

    return make


def found(
    session_factory: sessionmaker[Session], identifier: str, kinds: Kinds = Kinds.ANY
) -> int | None:
    with transaction(session_factory, write=False) as session:
        try:
            return find_order(session, identifier, kinds=kinds).order_number
        except RecordNotFound as missing:
            assert missing.provided == identifier
            return None


def test_an_order_number_names_its_order_leading_zeros_or_not(
    session_factory: sessionmaker[Session], make: Callable[..., int]
) -> None:
    number = make(order_number=33719)
    assert found(session_factory, "33719") == number
    assert found(session_factory, "0033719") == number
    assert found(session_factory, "33720") is None


def test_a_route_that_takes_order_numbers_only_finds_no_order_by_tray_or_po(
    session_factory: sessionmaker[Session], make: Callable[..., int]
) -> None:
    """The simulator's own paths name an order by its number, never by its tray or PO."""
    number = make(order_number=33719, tray_number="123", po_number="PO-7")
    assert found(session_factory, "123") == found(session_factory, "PO-7") == number
    assert found(session_factory, "123", Kinds.NUMBER) is None
    assert found(session_factory, "PO-7", Kinds.NUMBER) is None
    assert found(session_factory, "033719", Kinds.NUMBER) == number
    assert found(session_factory, "123", Kinds.TRAY) == number
    assert found(session_factory, "123", Kinds.PO) is None


def test_a_tray_names_the_active_order_in_it_only(
    session_factory: sessionmaker[Session], make: Callable[..., int]
) -> None:
    make(tray_number="123", status=OrderStatus.COMPLETE)  # the tray's earlier orders
    make(tray_number="123", deleted=True)
    active = make(tray_number="123", status=OrderStatus.VALID)
    assert found(session_factory, "123") == active
    make(tray_number="456", status=OrderStatus.COMPLETE)
    assert found(session_factory, "456") is None


def test_a_tray_shared_by_two_active_orders_names_neither(
    session_factory: sessionmaker[Session], make: Callable[..., int]
) -> None:
    make(tray_number="77")
    make(tray_number="77", on_hold=True)
    assert found(session_factory, "77") is None


def test_a_po_names_its_order_only_when_it_is_the_only_one(
    session_factory: sessionmaker[Session], make: Callable[..., int]
) -> None:
    one = make(po_number="PO-ONE", status=OrderStatus.COMPLETE)
    make(po_number="PO-TWICE")
    make(po_number="PO-TWICE")
    assert found(session_factory, "PO-ONE") == one
    assert found(session_factory, "PO-TWICE") is None
    assert found(session_factory, "po-one") is None  # case-sensitive, as stored


def test_an_order_number_wins_over_a_tray_and_a_po_that_look_the_same(
    session_factory: sessionmaker[Session], make: Callable[..., int]
) -> None:
    by_number = make(order_number=12)
    make(order_number=90001, tray_number="12")
    make(order_number=90002, po_number="12")
    assert found(session_factory, "12") == by_number
    tray = make(order_number=90003, tray_number="13")
    make(order_number=90004, po_number="13")
    assert found(session_factory, "13") == tray
    po = make(order_number=90005, po_number="123456")  # six digits: too long for a tray
    assert found(session_factory, "123456") == po


@pytest.mark.parametrize(
    "identifier",
    ["", " ", "'; DROP TABLE orders; --", "é" * 30, "\x00", "PO\x00", "\ud800", "9" * 10_000],
)
def test_anything_else_is_not_found(
    session_factory: sessionmaker[Session], make: Callable[..., int], identifier: str
) -> None:
    make(po_number="PO-1", tray_number="1")
    assert found(session_factory, identifier) is None


def explain(engine: Engine, sql: str) -> str:
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            # On a near-empty table PostgreSQL would rightly scan it; forbid that to see
            # whether an index can serve the query at all.
            connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
            rows = connection.exec_driver_sql(f"EXPLAIN {sql}").all()
        else:
            rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}").all()
    return "\n".join(str(row[-1]) for row in rows)


def test_tray_and_po_lookups_are_served_by_their_indexes(engine: Engine) -> None:
    def compiled(query: Any) -> str:
        return str(query.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))

    tray = compiled(select(Order).where(Order.tray_number == "123", active_orders()).limit(2))
    po = compiled(select(Order).where(Order.po_number == "PO-7").limit(2))
    assert "ix_orders_active_tray" in explain(engine, tray)
    assert "ix_orders_po_number" in explain(engine, po)


def test_the_order_lists_total_follows_every_insert_and_delete_however_made(
    session_factory: sessionmaker[Session], make: Callable[..., int], lab: Lab, engine: Engine
) -> None:
    def total() -> int:
        with transaction(session_factory, write=False) as session:
            page = list_orders(session, lab, limit=1)
            assert page.total == session.execute(select(func.count()).select_from(Order)).scalar()
            return page.total

    assert total() == 0
    for _ in range(3):
        make()
    assert total() == 3
    with engine.begin() as connection:  # a bulk load, as the benchmark's seeding does
        connection.execute(
            insert(Order),
            [
                {"order_number": n, "job_type": "F", "status": "V", "date_ordered": date.today()}
                for n in range(500_000, 500_100)
            ],
        )
        connection.execute(delete(Order).where(Order.order_number >= 500_050))
    assert total() == 53
    with transaction(session_factory) as session:
        reset(session)
    assert total() == 0
