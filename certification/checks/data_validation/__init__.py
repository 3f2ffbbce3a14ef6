"""Data validation: provenance, schema, quality (Evidently profiles), label sanity, leakage and train/evaluation
shift (checks.py), with the profiling and leakage engines."""
