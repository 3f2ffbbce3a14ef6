"""Evaluation: metrics with bootstrap intervals, calibration, cross-validation, slices, out-of-distribution rows,
latency under load (latency.py) and a paired comparison with the certified champion (checks.py)."""
