"""Triggers: waiting for a sign-off in the triggerer."""

from certification_airflow.triggers.signoff import SignoffTrigger

__all__ = ["SignoffTrigger"]
