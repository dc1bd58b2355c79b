"""The pages for people and monitors: landing, docs, board, health, metrics."""

# The document's tags for these pages (the board's is the simulator controls', api.sim.TAG).
DOCS_TAG = "Documentation (ours)"
WATCH_TAG = "Watching it (ours)"
