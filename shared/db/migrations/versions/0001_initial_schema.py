"""Initial schema: orders, their addons and check-ins, tracker heartbeats.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

big_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
flagged = sa.text("completion_requested_at IS NOT NULL")


def code_enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=op.f(name), native_enum=False, create_constraint=True, length=1)


def upgrade() -> None:
    op.create_table(
        "orders",
        sa.Column("order_number", big_id, autoincrement=False, nullable=False),
        sa.Column("tray_number", sa.String(5), nullable=True),
        sa.Column("po_number", sa.String(21), nullable=True),
        sa.Column("job_type", code_enum("ck_orders_job_type", "F", "U", "A", "E"), nullable=False),
        sa.Column("status", code_enum("ck_orders_status", "U", "V", "P", "C"), nullable=False),
        sa.Column("on_hold", sa.Boolean(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("unvalid_message", sa.String(255), nullable=True),
        sa.Column("rt_calculated", sa.Boolean(), nullable=False),
        sa.Column("lt_calculated", sa.Boolean(), nullable=False),
        sa.Column("date_ordered", sa.Date(), nullable=False),
        sa.Column("date_completed", sa.Date(), nullable=True),
        sa.Column("completion_requested_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completion_error_code", sa.String(2), nullable=True),
        sa.Column("completion_error_message", sa.String(255), nullable=True),
        sa.PrimaryKeyConstraint("order_number", name=op.f("pk_orders")),
    )
    op.create_index(
        "ix_orders_completion_queue",
        "orders",
        ["completion_requested_at", "order_number"],
        sqlite_where=flagged,
        postgresql_where=flagged,
    )
    op.create_table(
        "tracker_heartbeats",
        sa.Column("tracker_id", sa.String(100), nullable=False),
        sa.Column("last_heartbeat", sa.DateTime(timezone=True), nullable=False),
        sa.Column("interval_seconds", sa.Double(), nullable=False),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("tracker_id", name=op.f("pk_tracker_heartbeats")),
    )
    op.create_table(
        "checkins",
        sa.Column("id", big_id, nullable=False),
        sa.Column("order_number", big_id, nullable=False),
        sa.Column("station", sa.String(20), nullable=False),
        sa.Column("operator", sa.String(20), nullable=True),
        sa.Column("checked_in_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_number"],
            ["orders.order_number"],
            name=op.f("fk_checkins_order_number_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkins")),
    )
    op.create_index(
        op.f("ix_checkins_order_number_checked_in_at_id"),
        "checkins",
        ["order_number", "checked_in_at", "id"],
    )
    op.create_table(
        "order_addons",
        sa.Column("order_number", big_id, nullable=False),
        sa.Column("addon_code", sa.String(20), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_number"],
            ["orders.order_number"],
            name=op.f("fk_order_addons_order_number_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("order_number", "addon_code", name=op.f("pk_order_addons")),
    )


def downgrade() -> None:
    op.drop_table("order_addons")
    op.drop_table("checkins")
    op.drop_table("tracker_heartbeats")
    op.drop_table("orders")
