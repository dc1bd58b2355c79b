"""The domain in plain values: the lab, Rx-Universe's codes, the completion rules, their errors.

Pure: no SQLAlchemy, no Flask, no environment (an import-linter contract holds this).
"""
