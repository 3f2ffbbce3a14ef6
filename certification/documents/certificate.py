"""The certificate: the canonical JSON document (model, data and spec digests, every check's summary, approvers,
validity period) whose SHA-256 the ledger records and whose bytes are signed."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from certification.checks.base import CheckResult
from certification.documents._render import scalar_keys
from certification.jsonutil import canonical_json, iso

SUMMARY_SKIPS = {"traceback", "dtypes", "schema"}


def document_sha256(document: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(document).encode()).hexdigest()


def _summary(measured: dict[str, Any]) -> dict[str, Any]:
    """Keep certificates readable: small values and interval estimates; full detail stays in the ledger and report."""
    keep = set(scalar_keys(measured)) - SUMMARY_SKIPS
    return {k: v for k, v in measured.items() if k in keep or k == "estimates"}


def certificate_document(
    run: dict[str, Any], results: list[CheckResult], signoffs: list[dict[str, Any]], validity_days: int
) -> dict[str, Any]:
    issued = datetime.now(UTC)
    return {
        "certificate_id": f"CERT-{uuid.uuid4().hex[:12].upper()}",
        "run_id": run["run_id"],
        "verdict": "certified",
        "use_case": run["use_case"],
        "risk_tier": run["risk_tier"],
        "issued_at": iso(issued),
        "expires_at": iso(issued + timedelta(days=validity_days)),
        "submitted_by": run["submitted_by"],
        "model": {"reference": run["model_reference"], "sha256": run["model_sha256"]},
        "datasets": run["datasets_json"],
        "spec_sha256": run["spec_sha256"],
        "mlflow_run_id": run["mlflow_run_id"],
        "results": [
            {
                "check_id": r.check_id,
                "stage": r.stage,
                "status": r.status.value,
                "measured": _summary(r.measured),
                "threshold": r.threshold,
                "message": r.message,
                "requirements": r.requirements,
            }
            for r in results
        ],
        "results_sha256": hashlib.sha256(canonical_json([r.to_dict() for r in results]).encode()).hexdigest(),
        "approvers": [
            {k: s[k] for k in ("role", "approver", "decision", "comment", "channel", "signed_at")}
            for s in signoffs
        ],
    }
