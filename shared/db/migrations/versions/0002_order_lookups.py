"""Order lookups by tray number (active orders only) and by PO number, for v2 identifiers.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

active = sa.and_(
    sa.column("status") != sa.literal_column("'C'"), sa.column("deleted") == sa.false()
)


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.create_index(
            "ix_orders_active_tray",
            ["tray_number"],
            sqlite_where=active,
            postgresql_where=active,
        )
        batch.create_index("ix_orders_po_number", ["po_number"])


def downgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.drop_index("ix_orders_po_number")
        batch.drop_index("ix_orders_active_tray")
