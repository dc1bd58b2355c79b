"""What a request needs from its app (settings, lab, sessions), and its one transaction."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Concatenate, ParamSpec, TypeVar

from flask import current_app
from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from config.settings import Settings
from shared.db.engine import run_autocommit, transaction
from shared.domain.clock import utcnow
from shared.domain.errors import TrackerNotRunning
from shared.domain.lab_setup import Lab
from shared.monitoring.heartbeats import any_tracker_running

EXTENSION = "rx_jobtracker"
P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    lab: Lab
    engine: Engine
    session_factory: sessionmaker[Session]
    # For the completion call, whose statements each commit alone (shared.orders.flag says why).
    autocommit_engine: Engine
    # Called with its connection once a flag is committed on it: wakes the trackers
    # (shared.wakeup: a NOTIFY on PostgreSQL, a doorbell on a SQLite file).
    announce_flag: Callable[[Connection], None]


def runtime() -> Runtime:
    """The running app's settings, lab and session factory."""
    found: Runtime = current_app.extensions[EXTENSION]
    return found


def require_tracker(connection: Connection) -> None:
    """Refuse (TrackerNotRunning) unless a tracker's heartbeat is fresh: one small query."""
    if not any_tracker_running(connection, utcnow()):
        raise TrackerNotRunning


def transactional(
    *, write: bool
) -> Callable[[Callable[Concatenate[Session, P], R]], Callable[P, R]]:
    """Run the view in one transaction, committed before the response leaves; pass its session."""

    def decorate(view: Callable[Concatenate[Session, P], R]) -> Callable[P, R]:
        @functools.wraps(view)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            with transaction(runtime().session_factory, write=write) as session:
                return view(session, *args, **kwargs)

        return wrapper

    return decorate


def autocommitting(view: Callable[Concatenate[Connection, P], R]) -> Callable[P, R]:
    """Run the view on a connection whose statements each commit alone (the completion call:
    `shared.orders.flag` says why); pass the connection. Should the pooled connection turn
    out dead, the view runs once more on a new one, so it must be safe to repeat."""

    @functools.wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        return run_autocommit(
            runtime().autocommit_engine, lambda connection: view(connection, *args, **kwargs)
        )

    return wrapper
