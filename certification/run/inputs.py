"""A run's datasets, read and bound by their bytes: path, source, format, SHA-256, shape and schema snapshot."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pandas as pd

from certification.errors import InputError
from certification.hashing import file_sha256
from certification.jsonutil import canonical_json
from certification.spec import DatasetRef


def read_dataset(ref: DatasetRef, name: str) -> tuple[pd.DataFrame, dict[str, Any]]:
    path = Path(ref.path)
    if not path.is_file():
        raise InputError(str(path), "dataset file not found", field=f"datasets.{name}.path")
    try:
        frame = pd.read_parquet(path) if ref.resolved_format == "parquet" else pd.read_csv(path)
    except Exception as exc:
        raise InputError(
            str(path), f"cannot read {ref.resolved_format}: {exc}", field=f"datasets.{name}"
        ) from exc
    if frame.empty:
        raise InputError(str(path), "dataset has no rows", field=f"datasets.{name}")
    info = {
        "path": str(path),
        "source": ref.source,
        "format": ref.resolved_format,
        "sha256": file_sha256(path),
        "rows": len(frame),
        "columns": len(frame.columns),
        "schema": {str(c): str(t) for c, t in frame.dtypes.items()},
    }
    return frame, info


def data_digest(datasets: dict[str, Any]) -> str:
    """One digest of every dataset a run read (name -> its SHA-256), as sign-offs are bound to it."""
    return hashlib.sha256(canonical_json({k: v["sha256"] for k, v in datasets.items()}).encode()).hexdigest()
