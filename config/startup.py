"""What both run scripts do first: settings, the lab, logging, and a clean exit if they fail."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from sqlalchemy.exc import OperationalError

from config.lab_file import LabFileError, load_lab
from config.logs import configure_logging
from config.settings import Settings, SettingsError
from shared.db.engine import database_place
from shared.db.schema import SchemaOutOfDate
from shared.domain.lab_setup import Lab


def start(program: str, overrides: Mapping[str, str] | None = None) -> tuple[Settings, Lab]:
    """Settings (the environment's, with `overrides` from the command line on top) and lab for
    `program`, with logging set up; exit 2 with the reason if invalid."""
    try:
        settings = Settings.load(overrides=overrides)
        lab = load_lab(settings.lab_file)
    except (SettingsError, LabFileError) as error:
        print(f"{program}: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    configure_logging(program, level=settings.log_level, log_format=settings.log_format)
    return settings, lab


@contextmanager
def exit_if_database_unusable(program: str, database_url: str) -> Iterator[None]:
    """Exit 1 with one line, not a traceback, when the database is unreachable or outdated: the
    line names where it was looked for (host and port, or the file) and the driver's reason."""
    try:
        yield
    except OperationalError as error:
        reason = " ".join(str(error.orig).split()) or type(error.orig).__name__
        print(
            f"{program}: cannot reach the database at {database_place(database_url)}: {reason}",
            file=sys.stderr,
        )
        raise SystemExit(1) from None
    except SchemaOutOfDate as error:
        print(f"{program}: {error}", file=sys.stderr)
        raise SystemExit(1) from None
