"""The hash chain: the ledger's tables and their keys, and how an event's SHA-256 is computed from its fields and its
predecessor's hash. `event_hash` is the definition; `event_digest` its fast path, used by the verifier."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from certification.jsonutil import canonical_json, quote

SCHEMA = "certification_audit"
GENESIS = "0" * 64
TABLE_KEYS = {
    "runs": ("run_id",),
    "check_results": ("run_id", "check_id"),
    "decisions": ("run_id", "kind"),
    "signoffs": ("run_id", "role"),
    "certificates": ("certificate_id",),
    "monitoring_windows": ("window_id",),
    "certificate_actions": ("certificate_id", "action"),
}
ROW_EVENT = "row_recorded"


def event_hash(
    seq: int, run_id: str | None, event_type: str, payload: str, recorded_at: str, prev: str
) -> str:
    body = canonical_json(
        {
            "seq": seq,
            "run_id": run_id,
            "event_type": event_type,
            "payload": payload,
            "recorded_at": recorded_at,
            "prev_hash": prev,
        }
    )
    return hashlib.sha256(body.encode()).hexdigest()


def event_digest(
    seq: Any, run_id: Any, event_type: Any, payload: Any, recorded_at: Any, prev_hash: Any
) -> str:
    """event_hash, with the canonical JSON written out directly when every value is of the usual type."""
    if (
        type(seq) is int
        and type(event_type) is str
        and type(payload) is str
        and type(recorded_at) is str
        and type(prev_hash) is str
        and (run_id is None or type(run_id) is str)
    ):
        rid = "null" if run_id is None else quote(run_id)
        body = (
            f'{{"event_type":{quote(event_type)},"payload":{quote(payload)},"prev_hash":{quote(prev_hash)},'
            f'"recorded_at":{quote(recorded_at)},"run_id":{rid},"seq":{seq}}}'
        )
        return hashlib.sha256(body.encode()).hexdigest()
    return event_hash(seq, run_id, event_type, payload, recorded_at, prev_hash)


def decode(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (json.loads(v) if k.endswith("_json") and v is not None else v) for k, v in row.items()}
