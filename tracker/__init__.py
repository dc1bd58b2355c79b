"""The Job Tracker: a daemon that completes the orders the API has flagged."""
