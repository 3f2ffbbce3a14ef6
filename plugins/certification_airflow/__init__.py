"""Airflow glue for the certification library: connection lookup, the sign-off operator and its trigger.

Business logic lives in the `certification` package; nothing here decides a verdict.
"""
