"""Fairness: one audit of per-group rates with bootstrap intervals and significance tests (audit.py) behind every
disparity check, group sizes, representation and mitigation (checks.py)."""
