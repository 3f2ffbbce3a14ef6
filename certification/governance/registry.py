"""Change control: every MLflow `certified` alias must point at exactly the bytes a valid certificate covers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from certification import tracking
from certification.documents import document_sha256
from certification.jsonutil import utcnow
from certification.ledger import Ledger, certificates
from certification.models import registered_sha256


@dataclass(frozen=True)
class AliasFinding:
    model: str
    version: str
    certificate_id: str | None
    problem: str


def certificate_problem(
    ledger: Ledger, name: str, version: str, certificate_id: str | None, now: str
) -> str | None:
    """Why the certificate tagged on a registry version does not cover it, or None when it does."""
    if not certificate_id:
        return "no certificate is recorded for this version (certification.certificate_id tag missing)"
    row = certificates.certificate(ledger, certificate_id)
    if row is None:
        return f"certificate {certificate_id} is not in the ledger"
    document = row["document_json"]
    if document_sha256(document) != row["sha256"]:
        return f"certificate {certificate_id} does not match its recorded SHA-256"
    if document["model"]["reference"] != f"models:/{name}/{version}":
        return f"certificate {certificate_id} covers {document['model']['reference']}, not this version"
    standing = certificates.state(row["expires_at"], certificates.actions(ledger, certificate_id), now)
    if standing == "expired":
        return f"certificate {certificate_id} expired at {row['expires_at']}"
    if standing not in certificates.STANDING:
        return f"certificate {certificate_id} is {standing}"
    current = registered_sha256(f"models:/{name}/{version}")
    if current != document["model"]["sha256"]:
        return f"model files changed since certification (sha256 {current}, certified {document['model']['sha256']})"
    return None


def check_aliases(ledger: Ledger, now: str | None = None) -> list[AliasFinding]:
    """Every `certified` alias in the registry whose version lacks a valid, unexpired, unsuspended certificate."""
    findings = []
    for name, version, tags in tracking.certified_aliases():
        certificate_id = tags.get("certification.certificate_id")
        problem = certificate_problem(ledger, name, version, certificate_id, now or utcnow())
        if problem:
            findings.append(AliasFinding(name, version, certificate_id, problem))
    return findings


def as_dicts(findings: list[AliasFinding]) -> list[dict[str, Any]]:
    return [finding.__dict__ for finding in findings]
