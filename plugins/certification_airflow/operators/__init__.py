"""Operators: the human sign-off of one role."""

from certification_airflow.operators.signoff import RoleSignoffOperator

__all__ = ["RoleSignoffOperator"]
