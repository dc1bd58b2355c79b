"""Alembic's environment: migrations run on the connection `shared.db.schema` hands over."""

from alembic import context

from shared.db.models import Base
from shared.db.schema import MIGRATION_LOCK

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=True,  # SQLite alters a table by copying it; batch mode does that for us
    compare_type=True,
)
with context.begin_transaction():
    if connection.dialect.name == "postgresql":
        # Two processes starting on a new database at once: one migrates, the other waits.
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
    context.run_migrations()
