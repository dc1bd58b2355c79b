"""Server and client on CPUs of their own (`taskset`), and the CPU time processes used (/proc).

A load generator that shares the server's CPUs takes from the server what it spends itself, so
its figure mixes two costs: how fast the server answers, and how much the client burns. Pinned
apart, each has the same CPUs whichever client loads the server, and a client that falls short
of another is short by its own cost alone.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import make_url

# The kernel's unit for utime and stime in /proc/<pid>/stat.
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
LOCAL_HOSTS = frozenset({None, "", "localhost", "127.0.0.1", "::1"})


@dataclass(frozen=True)
class Pinning:
    """The CPUs of the server side (API, tracker, database) and of the client; none: unpinned."""

    server: tuple[int, ...] = ()
    client: tuple[int, ...] = ()
    reason: str = ""  # why unpinned, when it is

    @property
    def pinned(self) -> bool:
        """Whether server and client run on CPUs of their own."""
        return bool(self.server and self.client)

    def server_command(self, command: Sequence[str]) -> list[str]:
        """`command` run on the server's CPUs (as it is when unpinned)."""
        return _taskset(self.server, command)

    def client_command(self, command: Sequence[str]) -> list[str]:
        """`command` run on the client's CPUs (as it is when unpinned)."""
        return _taskset(self.client, command)

    def describe(self) -> str:
        """One phrase for the report."""
        if not self.pinned:
            return f"unpinned ({self.reason})"
        return f"server on CPU {_cpus(self.server)}, client on CPU {_cpus(self.client)}"


def plan() -> Pinning:
    """The first half of this process's CPUs for the server, the rest for the client; unpinned,
    saying why, with fewer than two CPUs or no taskset."""
    if shutil.which("taskset") is None:
        return Pinning(reason="taskset is not installed")
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return Pinning(reason=f"{len(cpus)} CPU available")
    half = len(cpus) // 2
    return Pinning(server=tuple(cpus[:half]), client=tuple(cpus[half:]))


@contextmanager
def database_pinned(database_url: str, pinning: Pinning) -> Iterator[str]:
    """A local PostgreSQL server's processes on the server's CPUs while the block runs, each put
    back on the CPUs it had after (those started meanwhile on the postmaster's); the phrase the
    report says about the database. SQLite runs inside the API's processes, pinned with them."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        yield "the database in the API's processes"
        return
    if not pinning.pinned:
        yield "the database unpinned"
        return
    if url.host not in LOCAL_HOSTS:
        yield f"the database on {url.host}, not pinned"
        return
    before = {pid: os.sched_getaffinity(pid) for pid in _postgres_pids()}
    if not before:
        yield "the database not pinned (no postgres process found)"
        return
    postmaster = before[min(before)]  # the oldest process: its children are forked from it
    try:
        # A backend that ended meanwhile (another client's) is no failure.
        failed = [
            pid
            for pid in before
            if not _set_affinity(pid, pinning.server) and Path(f"/proc/{pid}").exists()
        ]
        if failed:
            yield f"the database not pinned (taskset refused {len(failed)} postgres processes)"
        else:
            yield f"PostgreSQL's {len(before)} processes with the server"
    finally:
        for pid in _postgres_pids():
            _set_affinity(pid, tuple(sorted(before.get(pid, postmaster))))


def _postgres_pids() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip() == "postgres":
                    pids.append(int(entry.name))
    return sorted(pids)


def _set_affinity(pid: int, cpus: Sequence[int]) -> bool:
    """`taskset -a -p -c CPUS PID`: every thread of the process; false if refused (or gone)."""
    run = subprocess.run(
        ["taskset", "-a", "-p", "-c", _cpus(cpus), str(pid)],
        capture_output=True,
        check=False,
    )
    return run.returncode == 0


def _taskset(cpus: Sequence[int], command: Sequence[str]) -> list[str]:
    return ["taskset", "-c", _cpus(cpus), *command] if cpus else list(command)


def _cpus(cpus: Sequence[int]) -> str:
    return ",".join(str(cpu) for cpu in cpus)


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a running process: its own, and that of the children it has
    waited for (a gunicorn worker restarted by its master is counted in the master)."""
    fields = _stat(pid)
    return sum(int(value) for value in fields[11:15]) / CLOCK_TICKS


def tree_cpu_seconds(pid: int) -> float:
    """`cpu_seconds` of a process and of its running children (gunicorn's master and workers)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return cpu_seconds(pid) + sum(_running_cpu_seconds(int(child)) for child in children)


def waited_children_cpu_seconds() -> float:
    """CPU time of this process's children it has waited for, and of theirs: the difference
    across a `subprocess.run` is what the command and the processes it waited for used."""
    fields = _stat(os.getpid())
    return sum(int(value) for value in fields[13:15]) / CLOCK_TICKS


def busy_seconds(cpus: Sequence[int]) -> float:
    """Seconds the given CPUs have been busy since boot, whatever ran on them (/proc/stat: all
    but idle and I/O wait), summed; every CPU's when none is given."""
    total = 0.0
    for line in Path("/proc/stat").read_text().splitlines():
        name, *values = line.split()
        if not name.startswith("cpu") or name == "cpu":
            continue
        if cpus and int(name[3:]) not in cpus:
            continue
        ticks = [int(value) for value in values]
        total += sum(ticks[:3]) + sum(ticks[5:8])  # user nice system, irq softirq steal
    return total / CLOCK_TICKS


def _running_cpu_seconds(pid: int) -> float:
    try:
        return cpu_seconds(pid)
    except FileNotFoundError:
        return 0.0  # exited meanwhile: counted in its parent's once waited for


def _stat(pid: int) -> list[str]:
    """/proc/<pid>/stat's fields after the command name (which may hold spaces): the 3rd field
    on, so utime, stime, cutime and cstime (14th to 17th) are at 11 to 14."""
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2 :].split()
