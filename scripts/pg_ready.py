"""Exit 0 when the PostgreSQL server at the SQLAlchemy URL given answers, 1 otherwise."""

import sys

from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from shared.db.engine import make_engine

engine = make_engine(sys.argv[1], timeout=2)
try:
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
except OperationalError as error:
    print(f"PostgreSQL unreachable: {error.orig}", file=sys.stderr)
    sys.exit(1)
finally:
    engine.dispose()
