"""Completion: the API's flag (`flag`), the tracker's batch (`batch`), and what both read
(`facts`: an order's facts in one statement; `checks_sql`: the rules as one SQL condition)."""
