"""Order submission: the Remote Order Processor's queue, its pause switch, and what a submitted
order brought (its customer, its dates, its other submitted fields).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

big_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
waiting = sa.column("imported_at").is_(None)
imported = sa.column("imported_at").is_not(None)


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("customer_number", sa.String(8), nullable=True))
        batch.add_column(sa.Column("customer_job_id", sa.String(21), nullable=True))
        batch.add_column(sa.Column("date_received", sa.Date(), nullable=True))
        batch.add_column(sa.Column("date_wanted", sa.Date(), nullable=True))
        batch.add_column(sa.Column("valid_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("submitted", sa.Text(), nullable=True))
    op.create_table(
        "submissions",
        sa.Column("id", big_id, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("order_number", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_submissions")),
    )
    op.create_index(
        "ix_submissions_queue",
        "submissions",
        ["id"],
        sqlite_where=waiting,
        postgresql_where=waiting,
    )
    op.create_index(
        "ix_submissions_imported",
        "submissions",
        ["imported_at"],
        sqlite_where=imported,
        postgresql_where=imported,
    )
    op.create_table(
        "processor_switch",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_processor_switch")),
    )
    switch = sa.table("processor_switch", sa.column("id"), sa.column("paused"))
    op.bulk_insert(switch, [{"id": 1, "paused": False}])


def downgrade() -> None:
    op.drop_table("processor_switch")
    op.drop_index("ix_submissions_imported", table_name="submissions")
    op.drop_index("ix_submissions_queue", table_name="submissions")
    op.drop_table("submissions")
    with op.batch_alter_table("orders") as batch:
        for name in (
            "submitted",
            "valid_at",
            "date_wanted",
            "date_received",
            "customer_job_id",
            "customer_number",
        ):
            batch.drop_column(name)
