"""The machine a run measured, so a reader can tell whether their numbers should compare."""

from __future__ import annotations

import os
import platform
import shutil
import sqlite3
import subprocess
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

from bench import ROOT


def describe() -> dict[str, str]:
    """What moves the absolute numbers: CPUs, memory, load, and every component's version."""
    wrk = shutil.which("wrk")
    wrk_version = "not installed"
    if wrk:
        run = subprocess.run([wrk, "-v"], capture_output=True, text=True, check=False)
        wrk_version = (run.stdout or run.stderr).splitlines()[0].split(" [")[0]
    return {
        "Measured at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "Code": _revision(),
        "CPUs (nproc)": str(os.cpu_count()),
        "CPU": _cpu_model(),
        "Memory": _memory(),
        "Kernel": f"{platform.system()} {platform.release()}",
        "Python": platform.python_version(),
        "SQLite": sqlite3.sqlite_version,
        "SQLAlchemy": version("SQLAlchemy"),
        "Flask": version("Flask"),
        "gunicorn": version("gunicorn"),
        "psycopg": version("psycopg"),
        "wrk": wrk_version,
    }


def load_average() -> str:
    """The 1, 5 and 15 minute load: above the CPU count, other work shared the machine."""
    return " / ".join(f"{value:.2f}" for value in os.getloadavg())


def _revision() -> str:
    """The commit measured, and whether the working tree differed from it."""
    git = shutil.which("git")
    if git is None:
        return "unknown"
    head = subprocess.run(
        [git, "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    if head.returncode:
        return "unknown"
    status = subprocess.run(
        [git, "status", "--porcelain", "--untracked-files=no"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    dirty = " with uncommitted changes" if status.stdout.strip() else ""
    return f"commit {head.stdout.strip()}{dirty}"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 2**20:.1f} GiB"
    except OSError:
        pass
    return "unknown"
