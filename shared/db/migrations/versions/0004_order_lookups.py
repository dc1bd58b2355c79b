"""Order lookups by tray number (active orders only) and by PO number, for v2 identifiers; the
order count, kept by triggers, for the order list's total.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

active = sa.and_(
    sa.column("status") != sa.literal_column("'C'"), sa.column("deleted") == sa.false()
)


# SQLite has only row triggers; PostgreSQL counts a whole statement's rows at once (a bulk load
# or a reset costs one update of the count, not one per order).
SQLITE_TRIGGERS = (
    "CREATE TRIGGER orders_counted_in AFTER INSERT ON orders "
    "BEGIN UPDATE order_count SET orders = orders + 1; END",
    "CREATE TRIGGER orders_counted_out AFTER DELETE ON orders "
    "BEGIN UPDATE order_count SET orders = orders - 1; END",
)
POSTGRESQL_TRIGGERS = (
    """CREATE FUNCTION count_orders_in() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN UPDATE order_count SET orders = orders + (SELECT count(*) FROM added); RETURN NULL; END
    $$""",
    """CREATE FUNCTION count_orders_out() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN UPDATE order_count SET orders = orders - (SELECT count(*) FROM removed); RETURN NULL; END
    $$""",
    "CREATE TRIGGER orders_counted_in AFTER INSERT ON orders REFERENCING NEW TABLE AS added "
    "FOR EACH STATEMENT EXECUTE FUNCTION count_orders_in()",
    "CREATE TRIGGER orders_counted_out AFTER DELETE ON orders REFERENCING OLD TABLE AS removed "
    "FOR EACH STATEMENT EXECUTE FUNCTION count_orders_out()",
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
    count = op.create_table(
        "order_count",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("orders", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_count")),
    )
    op.execute(
        count.insert().from_select(
            ["id", "orders"], sa.select(1, sa.func.count()).select_from(sa.table("orders"))
        )
    )
    postgresql = op.get_bind().dialect.name == "postgresql"
    for statement in POSTGRESQL_TRIGGERS if postgresql else SQLITE_TRIGGERS:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER orders_counted_in ON orders")
        op.execute("DROP TRIGGER orders_counted_out ON orders")
        op.execute("DROP FUNCTION count_orders_in()")
        op.execute("DROP FUNCTION count_orders_out()")
    else:
        op.execute("DROP TRIGGER orders_counted_in")
        op.execute("DROP TRIGGER orders_counted_out")
    op.drop_table("order_count")
    with op.batch_alter_table("orders") as batch:
        batch.drop_index("ix_orders_po_number")
        batch.drop_index("ix_orders_active_tray")
