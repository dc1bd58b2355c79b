"""The board's reads: active orders, recent rejections (when the tracker last rejected an order,
with which code) and check-ins by time.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

active = sa.and_(
    sa.column("status") != sa.literal_column("'C'"), sa.column("deleted") == sa.false()
)
rejected = sa.column("last_rejected_at").is_not(None)


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("last_rejected_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("last_rejection_code", sa.String(2), nullable=True))
        batch.create_index(
            "ix_orders_active",
            ["order_number", "on_hold"],
            sqlite_where=active,
            postgresql_where=active,
        )
        batch.create_index(
            "ix_orders_last_rejected",
            ["last_rejected_at", "last_rejection_code"],
            sqlite_where=rejected,
            postgresql_where=rejected,
        )
    op.create_index("ix_checkins_checked_in_at_station", "checkins", ["checked_in_at", "station"])


def downgrade() -> None:
    op.drop_index("ix_checkins_checked_in_at_station", table_name="checkins")
    with op.batch_alter_table("orders") as batch:
        batch.drop_index("ix_orders_last_rejected")
        batch.drop_index("ix_orders_active")
        batch.drop_column("last_rejection_code")
        batch.drop_column("last_rejected_at")
