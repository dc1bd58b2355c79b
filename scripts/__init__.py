"""Developer scripts; `live` starts the real processes for the demo, tests and bench."""
