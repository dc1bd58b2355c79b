"""The order use cases: lookups, completion (the API's flag, the tracker's batch, their SQL twin of
the rules), check-ins, cancel."""
