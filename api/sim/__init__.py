"""The simulator's own controls under `/api/sim` (ours, not Rx-Universe's): orders, the board's
data, scenarios and snapshots, the request journal, faults."""

from __future__ import annotations

from api.http.errors import OURS

TAG = "Simulator controls (ours)"
SIM = OURS + "a simulator control, not part of Rx-Universe. "
