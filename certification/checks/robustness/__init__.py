"""Robustness: privacy attacks, stress and safety checks, and evasion attacks (checks.py), with their engines:
privacy.py, stress.py, evasion.py and the feature space every perturbation keeps to (perturbation.py)."""
