"""Work tickets and pick verification: the tickets workstation 00's printers printed, stock
orders (which have none), and each order's expected pick codes and picked items.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

big_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
CODES = (
    "rt_opc",
    "lt_opc",
    "frame_upc",
    "frame_sku",
    "frame_part_sku",
    "frame_side_shield_sku",
    "misc1_sku",
    "misc2_sku",
)
PICKED = (
    "rt_lens_picked",
    "lt_lens_picked",
    "frame_picked",
    "frame_part_picked",
    "frame_side_shield_picked",
    "misc1_picked",
    "misc2_picked",
)


def upgrade() -> None:
    # Plain ADD COLUMN, not a batch: on SQLite a batch may copy the table into a new one, and
    # the copy has none of the order count's triggers (0004).
    op.add_column(
        "orders", sa.Column("stock", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    for name in CODES:
        op.add_column("orders", sa.Column(name, sa.String(20), nullable=True))
    for name in PICKED:
        op.add_column(
            "orders", sa.Column(name, sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.create_table(
        "work_tickets",
        sa.Column("id", big_id, nullable=False),
        sa.Column("order_number", sa.BigInteger(), nullable=False),
        sa.Column("port", sa.String(4), nullable=False),
        sa.Column("printer", sa.String(60), nullable=False),
        sa.Column("printed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_work_tickets")),
    )
    op.create_index("ix_work_tickets_port", "work_tickets", ["port", "id"])
    op.create_index("ix_work_tickets_printed_at", "work_tickets", ["printed_at"])


def downgrade() -> None:
    op.drop_index("ix_work_tickets_printed_at", table_name="work_tickets")
    op.drop_index("ix_work_tickets_port", table_name="work_tickets")
    op.drop_table("work_tickets")
    for name in (*PICKED, *CODES, "stock"):
        op.drop_column("orders", name)
