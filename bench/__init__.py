"""The benchmark suite: every figure beside a baseline measured in the same run, as a ratio."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# scripts/live.py is the process launcher the demo and the end-to-end tests share; the suite
# starts the API and the tracker exactly as they do, so it imports the same module.
if str(ROOT / "scripts") not in sys.path:
    sys.path.insert(0, str(ROOT / "scripts"))
