"""The lab's job-flow data as plain values: processes, the stations that perform them, addons."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Process:
    """A step an order may need (backside coating, AR coating, final QA...)."""

    key: str
    name: str
    missing_message: str
    not_needed_message: str


@dataclass(frozen=True, slots=True)
class Station:
    """A place an order is scanned into; it performs at most one process."""

    code: str
    description: str
    customer_description: str
    process: str | None = None
    is_operator: bool = False


@dataclass(frozen=True, slots=True)
class Addon:
    """A treatment an order carries, and the processes it makes the order need."""

    code: str
    description: str
    processes: frozenset[str] = frozenset()


@dataclass(frozen=True, eq=False)
class Lab:
    """Everything job-flow verification needs to know about one lab.

    Hashed by identity: a process loads its lab once, and what is built from it (the SQL of its
    checks) is cached per lab.
    """

    processes: tuple[Process, ...]
    stations: Mapping[str, Station]
    addons: Mapping[str, Addon]
    completion_station: str
    station_verify: bool = True
    force_qa_on_addon_jobs: bool = True
    final_qa_process: str = "final_qa"
    _process_index: Mapping[str, Process] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_process_index", {p.key: p for p in self.processes})

    def process(self, key: str) -> Process:
        """The process named `key`."""
        return self._process_index[key]
