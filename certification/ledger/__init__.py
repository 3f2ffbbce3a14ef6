"""The audit ledger: an append-only store whose every row is recorded by a hash-chained event (store and chain), its
verification, and what the ledger says about certificates (certificates.py: whether one stands, its history)."""

from certification.ledger._chain import (
    GENESIS,
    ROW_EVENT,
    SCHEMA,
    TABLE_KEYS,
    decode,
    event_digest,
    event_hash,
)
from certification.ledger._store import Duplicate, Ledger, Writer
from certification.ledger._verify import VerifyReport

__all__ = [
    "GENESIS",
    "ROW_EVENT",
    "SCHEMA",
    "TABLE_KEYS",
    "Duplicate",
    "Ledger",
    "VerifyReport",
    "Writer",
    "decode",
    "event_digest",
    "event_hash",
]
