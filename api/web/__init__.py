"""The pages for people and monitors: landing, docs, board, health, metrics."""

TAG = "Documentation (ours)"
