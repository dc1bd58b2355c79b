"""Faults on demand: HTTP faults for the API workers, tracker faults for the trackers.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

big_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "faults",
        sa.Column("id", big_id, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("method", sa.String(16), nullable=True),
        sa.Column("path", sa.String(2048), nullable=True),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("delay_ms", sa.Integer(), nullable=True),
        sa.Column("drop", sa.Boolean(), nullable=False),
        sa.Column("times_left", sa.Integer(), nullable=True),
        sa.Column("probability", sa.Double(), nullable=True),
        sa.Column("tracker", sa.String(16), nullable=True),
        sa.Column("code", sa.String(2), nullable=True),
        sa.Column("message", sa.String(255), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_faults")),
    )


def downgrade() -> None:
    op.drop_table("faults")
