"""The simulator's own state: its orders, faults, the request journal, scenarios and snapshots, the
board."""
