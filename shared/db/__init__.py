"""The database plumbing: engines, sessions and transactions, the raw-cursor driver, the schema."""
