"""Hooks: the ledger connection, and served models' credentials from Airflow Connections."""

from certification_airflow.hooks.ledger import LedgerHook, ledger_url, pipeline

__all__ = ["LedgerHook", "ledger_url", "pipeline"]
