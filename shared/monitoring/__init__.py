"""What the service reports about itself: tracker heartbeats, health, the database's metrics."""
