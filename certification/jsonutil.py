"""Canonical JSON: the byte form that is hashed, stored and compared, identical on every database."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

import numpy as np


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, datetime):
        return iso(value)
    return value


# canonical_json's encoder; for str/int/None values (all the ledger stores) it is canonical_json itself
ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
quote = json.encoder.encode_basestring  # type: ignore[attr-defined] # a str as ENCODER writes it


def canonical_json(value: Any) -> str:
    return ENCODER.encode(_plain(value))


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def utcnow() -> str:
    return iso(datetime.now(UTC))
