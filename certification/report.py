"""Certificate and run report documents: canonical JSON (hashed) and HTML for people."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from certification import documents
from certification.checks import CheckResult
from certification.jsonutil import canonical_json, iso

SUMMARY_SKIPS = {"traceback", "dtypes", "schema"}
# Plots a certificate reader should see; every other plot is in the report.
CERTIFICATE_FIGURES = ("evaluation.performance", "evaluation.calibration", "fairness.")
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
_env = Environment(loader=PackageLoader("certification", "templates"), autoescape=select_autoescape())


def _data_uri(path: str) -> str | None:
    """Embed a PNG so the report stays one self-contained file wherever it is copied (MLflow, bundles)."""
    file = Path(path)
    if file.suffix != ".png" or not file.is_file():
        return None
    return "data:image/png;base64," + base64.b64encode(file.read_bytes()).decode()


def _scalar_keys(measured: dict[str, Any]) -> list[str]:
    """Measures small enough for the summary table; the rest go into a collapsible detail block."""

    def small(v: Any) -> bool:
        if isinstance(v, dict):
            return len(v) <= 6 and all(not isinstance(x, dict | list) for x in v.values())
        if isinstance(v, list):
            return len(v) <= 12 and all(not isinstance(x, dict | list) for x in v)
        return True

    return [k for k, v in measured.items() if small(v)]


_env.filters["data_uri"] = _data_uri
_env.globals["scalar_keys"] = _scalar_keys
_env.globals["limits"] = documents.limits
_env.globals["subset"] = lambda mapping, keys: {k: mapping[k] for k in keys}


def document_sha256(document: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(document).encode()).hexdigest()


def _summary(measured: dict[str, Any]) -> dict[str, Any]:
    """Keep certificates readable: small values and interval estimates; full detail stays in the ledger and report."""
    keep = set(_scalar_keys(measured)) - SUMMARY_SKIPS
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


def render(template: str, **values: Any) -> str:
    return _env.get_template(template).render(**values)


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
        figures = [
            path
            for result in status["results"]
            if result["check_id"].startswith(CERTIFICATE_FIGURES)
            for path in result["evidence"]
            if path.endswith(".png")
        ]
        (folder / "certificate.html").write_text(
            _env.get_template("certificate.html").render(
                c=document, sha256=certificate["sha256"], figures=figures, monitoring=status.get("monitoring")
            )
        )
        paths += [folder / "certificate.json", folder / "certificate.html"]
    paths += documents.write(folder, status, _env, previous)
    (folder / "report.html").write_text(
        _env.get_template("report.html").render(s=status, title="Certification report")
    )
    return [*paths, folder / "report.html"]


def junit_xml(status: dict[str, Any]) -> str:
    """The run's checks as JUnit XML, so a deployment pipeline can block on them: one test suite per stage, one
    test case per check; fail is a failure, error an error, not_applicable skipped, warn a pass with its message."""
    from xml.etree import ElementTree as ET

    run = status["run"]
    root = ET.Element("testsuites", name=f"certification {run['run_id']}")
    stages: dict[str, ET.Element] = {}
    for result in status["results"]:
        suite = stages.get(result["stage"])
        if suite is None:
            suite = stages[result["stage"]] = ET.SubElement(root, "testsuite", name=result["stage"])
        case = ET.SubElement(
            suite, "testcase", classname=f"{run['use_case']}.{result['stage']}", name=result["check_id"]
        )
        kind = {"fail": "failure", "error": "error", "not_applicable": "skipped"}.get(result["status"])
        if kind:
            ET.SubElement(case, kind, message=result["message"][:1000]).text = result["message"]
        else:
            ET.SubElement(case, "system-out").text = f"{result['status']}: {result['message']}"
    for element in (root, *stages.values()):
        cases = element.iter("testcase")
        counts = {k: 0 for k in ("tests", "failures", "errors", "skipped")}
        for case in cases:
            counts["tests"] += 1
            for kind, key in (("failure", "failures"), ("error", "errors"), ("skipped", "skipped")):
                counts[key] += case.find(kind) is not None
        element.attrib.update({k: str(v) for k, v in counts.items()})
    for suite in stages.values():  # where JUnit readers look for run-level facts
        facts = ET.SubElement(suite, "properties")
        for name, value in (
            ("run_id", run["run_id"]),
            ("verdict", status["status"]),
            ("spec_sha256", run["spec_sha256"]),
        ):
            ET.SubElement(facts, "property", name=name, value=str(value))
    return ET.tostring(root, encoding="unicode", xml_declaration=True)
