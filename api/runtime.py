"""What a request needs from its app (settings, lab, sessions), and its one transaction."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Concatenate, ParamSpec, TypeVar

from flask import current_app
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from config.settings import Settings
from shared.db.engine import run_autocommit, transaction
from shared.domain.clock import utcnow
from shared.domain.errors import TrackerNotRunning
from shared.domain.lab import Lab
from shared.heartbeats import any_tracker_running

EXTENSION = "rx_jobtracker"
P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    lab: Lab
    engine: Engine
    session_factory: sessionmaker[Session]
    # For the completion call, whose statements each commit alone (shared.completion.flag says why).
    autocommit_engine: Engine


def runtime() -> Runtime:
    """The running app's settings, lab and session factory."""
    return current_app.extensions[EXTENSION]  # type: ignore[no-any-return]


def require_tracker(engine: Engine) -> None:
    """Refuse (TrackerNotRunning) unless a tracker's heartbeat is fresh: one small query."""
    now = utcnow()
    if not run_autocommit(engine, lambda connection: any_tracker_running(connection, now)):
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
