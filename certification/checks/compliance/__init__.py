"""Compliance: protected inputs, personal data (personal_data.py), data minimisation, consent and retention, and
documentation (checks.py)."""
