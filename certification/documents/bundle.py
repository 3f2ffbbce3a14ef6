"""The evidence bundle: one ZIP of everything a run produced, with a manifest of SHA-256 digests. Its own digest goes
to the ledger and the archive to MLflow, so an auditor can check that a bundle handed over is the one recorded."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

from certification.hashing import file_sha256

BUNDLE, MANIFEST = "evidence-bundle.zip", "MANIFEST.json"
# the monitoring baseline is an internal snapshot (pinned in the ledger on its own); bundles are not re-bundled
SKIPPED = {BUNDLE, "monitoring-baseline.pkl"}


def write(folder: Path, run_id: str) -> tuple[Path, dict[str, Any]]:
    """Archive every file of the run folder (fixed timestamps, sorted: the same files give the same bytes)."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name not in SKIPPED)
    manifest: dict[str, Any] = {
        "run_id": run_id,
        "files": [
            {"path": p.relative_to(folder).as_posix(), "bytes": p.stat().st_size, "sha256": file_sha256(p)}
            for p in files
        ],
    }
    path = folder / BUNDLE
    partial = path.with_suffix(".zip.partial")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for entry, file in zip(manifest["files"], files, strict=True):
            archive.writestr(zipfile.ZipInfo(entry["path"], (1980, 1, 1, 0, 0, 0)), file.read_bytes())
        archive.writestr(zipfile.ZipInfo(MANIFEST, (1980, 1, 1, 0, 0, 0)), json.dumps(manifest, indent=1))
    partial.replace(path)
    return path, {"file": BUNDLE, "sha256": file_sha256(path), "files": len(files)}
