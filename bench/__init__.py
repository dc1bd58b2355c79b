"""The benchmark suite: every figure beside a baseline measured in the same run, as a ratio."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
