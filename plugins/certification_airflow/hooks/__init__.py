"""Hooks: the ledger connection."""

from certification_airflow.hooks.ledger import LedgerHook, ledger_url, pipeline

__all__ = ["LedgerHook", "ledger_url", "pipeline"]
