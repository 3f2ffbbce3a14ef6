"""The run report (every check with measurements, thresholds, rationale and plots; sign-offs, findings, traceability)
and the set of documents a run folder holds, written together from the run's status."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from certification.documents import cards
from certification.documents._render import ENV

# Plots a certificate reader should see; every other plot is in the report.
CERTIFICATE_FIGURES = ("evaluation.performance", "evaluation.calibration", "fairness.")
TREND = "monitoring-trend.png"  # drawn by monitoring, shown on the certificate's page
DOCUMENTS = (
    "certificate.json",
    "certificate.html",
    "certificate.pdf",
    "model-card.md",
    "model-card.html",
    "data-dictionary.html",
    "risk-summary.html",
    "incident-response.md",
    "incident-response.html",
    "rollback.md",
    "rollback.html",
    "report.html",
)


def existing_documents(folder: Path) -> list[Path]:
    return [folder / name for name in DOCUMENTS if (folder / name).exists()]


def write_documents(
    folder: Path, status: dict[str, Any], previous: dict[str, Any] | None = None
) -> list[Path]:
    """Write the certificate (certified runs) in JSON, HTML and PDF, the model card, data dictionary, risk summary
    and (certified runs) the runbooks, then the run report (every verdict) last, since its presence marks the
    documents as complete. `previous` is the certificate a rollback returns to."""
    paths = []
    certificate = status.get("certificate")
    if certificate:
        document = certificate["document_json"]
        (folder / "certificate.json").write_text(json.dumps(document, indent=2, sort_keys=True))
        figures = list(  # once each: checks share a chart (equalized odds and equal opportunity: the TPR)
            dict.fromkeys(
                path
                for result in status["results"]
                if result["check_id"].startswith(CERTIFICATE_FIGURES)
                for path in result["evidence"]
                if path.endswith(".png")
            )
        )
        (folder / "certificate.html").write_text(
            ENV.get_template("certificate.html").render(
                c=document, sha256=certificate["sha256"], figures=figures, monitoring=status.get("monitoring")
            )
        )
        paths += [folder / "certificate.json", folder / "certificate.html"]
    paths += cards.write(folder, status, previous)
    (folder / "report.html").write_text(
        ENV.get_template("report.html").render(s=status, title="Certification report")
    )
    return [*paths, folder / "report.html"]
