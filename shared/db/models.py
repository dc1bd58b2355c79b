"""The tables both processes share, as typed SQLAlchemy 2 models."""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    BigInteger,
    DateTime,
    Dialect,
    Enum,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    and_,
    column,
    false,
    literal_column,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from shared.domain.codes import JobType, OrderStatus


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no zone of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where an aware UTC datetime is needed")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# Big on PostgreSQL; on SQLite only INTEGER PRIMARY KEY is the fast rowid alias.
_BigId = BigInteger().with_variant(Integer(), "sqlite")


def _code_column(enum_class: type[enum.Enum], name: str) -> Enum:
    return Enum(
        enum_class,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=1,
        values_callable=lambda members: [m.value for m in members],
    )


# An active order: not completed, not cancelled. Literals, not parameters, so that SQLite can see
# that a query with this condition may use the partial index that has it.
_ACTIVE = and_(column("status") != literal_column("'C'"), column("deleted") == false())


class Base(DeclarativeBase):
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime()}


class Order(Base):
    """An order (a job), identified by its order number."""

    __tablename__ = "orders"

    order_number: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=False)
    tray_number: Mapped[str | None] = mapped_column(String(5))
    po_number: Mapped[str | None] = mapped_column(String(21))
    job_type: Mapped[JobType] = mapped_column(_code_column(JobType, "job_type"))
    status: Mapped[OrderStatus] = mapped_column(_code_column(OrderStatus, "status"))
    on_hold: Mapped[bool] = mapped_column(default=False)
    deleted: Mapped[bool] = mapped_column(default=False)
    unvalid_message: Mapped[str | None] = mapped_column(String(255))
    rt_calculated: Mapped[bool] = mapped_column(default=True)
    lt_calculated: Mapped[bool] = mapped_column(default=True)
    date_ordered: Mapped[date]
    date_completed: Mapped[date | None]
    # The completion flag: set by the API, cleared by the Job Tracker when it completes or rejects.
    completion_requested_at: Mapped[datetime | None]
    completion_error_code: Mapped[str | None] = mapped_column(String(2))
    completion_error_message: Mapped[str | None] = mapped_column(String(255))
    # The tracker's last rejection of the order, when and with which code: set by its batch writes
    # and never cleared (the error above is cleared by the next completion request), so the board
    # can count rejections by the time they happened.
    last_rejected_at: Mapped[datetime | None]
    last_rejection_code: Mapped[str | None] = mapped_column(String(2))
    # What an order submitted through POST /api/v2/orders brought (None for the simulator's own):
    # the customer, the dates the import set, and every other submitted field as JSON.
    customer_number: Mapped[str | None] = mapped_column(String(8))
    customer_job_id: Mapped[str | None] = mapped_column(String(21))
    date_received: Mapped[date | None]
    date_wanted: Mapped[date | None]
    # When the import validated it (`dateTimeValid`); None for the simulator's own orders.
    valid_at: Mapped[datetime | None]
    submitted: Mapped[str | None] = mapped_column(Text)
    # A stock order (not a prescription job) has no work ticket.
    stock: Mapped[bool] = mapped_column(default=False, server_default=false())
    # Pick verification: the codes the order expects (None where it has no such item), and the
    # items picked.
    rt_opc: Mapped[str | None] = mapped_column(String(20))
    lt_opc: Mapped[str | None] = mapped_column(String(20))
    frame_upc: Mapped[str | None] = mapped_column(String(20))
    frame_sku: Mapped[str | None] = mapped_column(String(20))
    frame_part_sku: Mapped[str | None] = mapped_column(String(20))
    frame_side_shield_sku: Mapped[str | None] = mapped_column(String(20))
    misc1_sku: Mapped[str | None] = mapped_column(String(20))
    misc2_sku: Mapped[str | None] = mapped_column(String(20))
    rt_lens_picked: Mapped[bool] = mapped_column(default=False, server_default=false())
    lt_lens_picked: Mapped[bool] = mapped_column(default=False, server_default=false())
    frame_picked: Mapped[bool] = mapped_column(default=False, server_default=false())
    frame_part_picked: Mapped[bool] = mapped_column(default=False, server_default=false())
    frame_side_shield_picked: Mapped[bool] = mapped_column(default=False, server_default=false())
    misc1_picked: Mapped[bool] = mapped_column(default=False, server_default=false())
    misc2_picked: Mapped[bool] = mapped_column(default=False, server_default=false())

    addons: Mapped[list[OrderAddon]] = relationship(
        back_populates="order", cascade="all, delete-orphan", passive_deletes=True
    )
    checkins: Mapped[list[CheckIn]] = relationship(
        back_populates="order", cascade="all, delete-orphan", passive_deletes=True
    )

    __table_args__ = (
        # The tracker's queue: only flagged orders are in it, oldest first, so a poll costs the
        # same whether the table holds a thousand orders or a million.
        Index(
            "ix_orders_completion_queue",
            "completion_requested_at",
            "order_number",
            sqlite_where=column("completion_requested_at").is_not(None),
            postgresql_where=column("completion_requested_at").is_not(None),
        ),
        # Tray lookups (v2 identifiers): a tray names an active order only, and trays are reused,
        # so only active orders are indexed (shared.orders.active_orders is the same condition).
        Index(
            "ix_orders_active_tray",
            "tray_number",
            sqlite_where=_ACTIVE,
            postgresql_where=_ACTIVE,
        ),
        # PO lookups (v2 identifiers).
        Index("ix_orders_po_number", "po_number"),
        # The board's work in process (shared.sim.board): active orders only, so its cost follows
        # the orders in the lab, not the completed ones behind them.
        Index(
            "ix_orders_active",
            "order_number",
            "on_hold",
            sqlite_where=_ACTIVE,
            postgresql_where=_ACTIVE,
        ),
        # The board's recent rejections: a range by time, rejected orders only.
        Index(
            "ix_orders_last_rejected",
            "last_rejected_at",
            "last_rejection_code",
            sqlite_where=column("last_rejected_at").is_not(None),
            postgresql_where=column("last_rejected_at").is_not(None),
        ),
    )


class OrderAddon(Base):
    """An addon (treatment) an order carries."""

    __tablename__ = "order_addons"

    order_number: Mapped[int] = mapped_column(
        ForeignKey("orders.order_number", ondelete="CASCADE"), primary_key=True
    )
    addon_code: Mapped[str] = mapped_column(String(20), primary_key=True)

    order: Mapped[Order] = relationship(back_populates="addons")


class CheckIn(Base):
    """An order's arrival at a station; the latest one is the order's current station."""

    __tablename__ = "checkins"

    id: Mapped[int] = mapped_column(_BigId, primary_key=True)
    order_number: Mapped[int] = mapped_column(ForeignKey("orders.order_number", ondelete="CASCADE"))
    station: Mapped[str] = mapped_column(String(20))
    operator: Mapped[str | None] = mapped_column(String(20))
    checked_in_at: Mapped[datetime]

    order: Mapped[Order] = relationship(back_populates="checkins")

    __table_args__ = (
        Index(None, "order_number", "checked_in_at", "id"),
        # The board's recent completions and latest events (shared.sim.board): a range by time.
        Index(None, "checked_in_at", "station"),
    )


class OrderCount(Base):
    """How many orders the table holds, in its one row, kept by triggers on `orders` (see
    migration 0004), so an order list can give its total at the same cost at a million orders."""

    __tablename__ = "order_count"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    orders: Mapped[int] = mapped_column(BigInteger)


class TrackerHeartbeat(Base):
    """The last sign of life of one Job Tracker process."""

    __tablename__ = "tracker_heartbeats"

    tracker_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    last_heartbeat: Mapped[datetime]
    interval_seconds: Mapped[float]
    stopped_at: Mapped[datetime | None]


class JournalEntry(Base):
    """One `/api/v2` request and its answer, as the request journal keeps it
    (shared.sim.journal)."""

    __tablename__ = "request_journal"

    # Ever increasing, so newest first is the primary key read backwards, and dropping the
    # oldest is one range delete on it.
    id: Mapped[int] = mapped_column(_BigId, primary_key=True)
    recorded_at: Mapped[datetime]
    method: Mapped[str] = mapped_column(String(16))
    path: Mapped[str] = mapped_column(Text)
    query: Mapped[str] = mapped_column(Text)
    headers: Mapped[str] = mapped_column(Text)  # a JSON object, keys masked
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[int]
    response_body: Mapped[str] = mapped_column(Text)
    duration_ms: Mapped[float]
    # The fault (POST /api/sim/faults) that shaped the answer, if one did.
    fault: Mapped[str | None] = mapped_column(String(255))


class Fault(Base):
    """A misbehaviour asked for through POST /api/sim/faults (shared.sim.faults): an HTTP fault that
    the API workers apply to matching requests, or a tracker fault every tracker obeys."""

    __tablename__ = "faults"

    id: Mapped[int] = mapped_column(_BigId, primary_key=True)
    created_at: Mapped[datetime]
    # HTTP: which requests (a method or `*`, a path glob) and what they get instead.
    method: Mapped[str | None] = mapped_column(String(16))
    path: Mapped[str | None] = mapped_column(String(2048))
    status: Mapped[int | None]
    body: Mapped[str | None] = mapped_column(Text)  # JSON
    delay_ms: Mapped[int | None]
    drop: Mapped[bool] = mapped_column(default=False)
    # How often: for the next `times_left` matching requests, or each with `probability`.
    times_left: Mapped[int | None]
    probability: Mapped[float | None]
    # Tracker: `pause` or `reject` (with `code` and `message`).
    tracker: Mapped[str | None] = mapped_column(String(16))
    code: Mapped[str | None] = mapped_column(String(2))
    message: Mapped[str | None] = mapped_column(String(255))


class Submission(Base):
    """An order submitted through POST /api/v2/orders, queued for the Remote Order Processor
    (shared.orders.submissions): imported once, into the order it names from then on."""

    __tablename__ = "submissions"

    id: Mapped[int] = mapped_column(_BigId, primary_key=True)
    received_at: Mapped[datetime]
    # The submitted fields, as checked (JSON, the API's own names).
    payload: Mapped[str] = mapped_column(Text)
    # Set together, in the transaction that creates the order: a submission is imported once.
    imported_at: Mapped[datetime | None]
    order_number: Mapped[int | None] = mapped_column(BigInteger)

    __table_args__ = (
        # The import queue: only waiting submissions are in it, oldest first.
        Index(
            "ix_submissions_queue",
            "id",
            sqlite_where=column("imported_at").is_(None),
            postgresql_where=column("imported_at").is_(None),
        ),
        # The board's imports of the last minutes: a range by time, imported submissions only.
        Index(
            "ix_submissions_imported",
            "imported_at",
            sqlite_where=column("imported_at").is_not(None),
            postgresql_where=column("imported_at").is_not(None),
        ),
    )


class WorkTicket(Base):
    """A work ticket printed by one of workstation 00's printers (the simulated printer's
    output: kept for GET /api/sim/printers and the board)."""

    __tablename__ = "work_tickets"

    id: Mapped[int] = mapped_column(_BigId, primary_key=True)
    order_number: Mapped[int] = mapped_column(BigInteger)
    port: Mapped[str] = mapped_column(String(4))
    printer: Mapped[str] = mapped_column(String(60))
    printed_at: Mapped[datetime]

    __table_args__ = (
        # A port's latest tickets (GET /api/sim/printers).
        Index("ix_work_tickets_port", "port", "id"),
        # The board's tickets of its window: a range by time.
        Index("ix_work_tickets_printed_at", "printed_at"),
    )


class ProcessorSwitch(Base):
    """Whether the Remote Order Processor is paused (POST /api/sim/processor): one row, id 1,
    made by the migration, so that two first pauses at once update it rather than race to
    insert it."""

    __tablename__ = "processor_switch"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    paused: Mapped[bool]
    changed_at: Mapped[datetime | None]
