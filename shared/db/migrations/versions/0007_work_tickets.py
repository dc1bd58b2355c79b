"""Work tickets: the tickets workstation 00's printers printed, and stock orders (which have
none).

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


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(
            sa.Column("stock", sa.Boolean(), nullable=False, server_default=sa.false())
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


def downgrade() -> None:
    op.drop_index("ix_work_tickets_port", table_name="work_tickets")
    op.drop_table("work_tickets")
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("stock")
