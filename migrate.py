"""Create or upgrade the database at DATABASE_URL to this release's schema.

`python migrate.py` upgrades; `python migrate.py --check` only says whether an upgrade is due;
`python migrate.py --revision "message"` writes a new migration (for developers, after a model
change, on an up-to-date database).
"""

from __future__ import annotations

import argparse
import sys

from sqlalchemy.exc import OperationalError

from config.settings import Settings, SettingsError
from shared.db import schema
from shared.db.engine import make_engine


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--check", action="store_true", help="exit 1 if an upgrade is due")
    action.add_argument("--revision", metavar="MESSAGE", help="write a new migration")
    args = parser.parse_args(argv)
    try:
        settings = Settings.load()
    except SettingsError as error:
        print(f"migrate: {error}", file=sys.stderr)
        return 2
    engine = make_engine(settings.database_url, timeout=settings.database_timeout)
    try:
        current, head = schema.current_revision(engine), schema.head_revision()
        if args.revision:
            schema.new_revision(engine, args.revision)
        elif args.check:
            print(f"database at {current or 'no revision'}, release at {head}")
            return 0 if current == head else 1
        elif current == head:
            print(f"The database is up to date (revision {head}).")
        else:
            schema.upgrade(engine)
            print(f"Upgraded the database from {current or 'nothing'} to revision {head}.")
    except OperationalError as error:
        print(f"migrate: cannot reach the database: {error.orig}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
