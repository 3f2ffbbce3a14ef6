"""The requirement catalogue (requirements.yaml: EU AI Act, NIST AI RMF, ISO/IEC 42001, SR 11-7, GDPR) and
traceability: requirement → checks → evidence → status, for the frameworks a spec says apply. A requirement no check
or pipeline process gives evidence for is listed; the spec can make such gaps block certification."""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from typing import Any

import yaml

from certification.spec._policy import Spec

MET, FAILED, NO_EVIDENCE = "met", "failed", "no_evidence"
FAILING = {"fail", "error"}
EVIDENCE = {"pass", "warn", "fail", "error"}  # not_applicable is no evidence either way


@cache
def catalogue() -> dict[str, list[dict[str, str]]]:
    loaded: dict[str, list[dict[str, str]]] = yaml.safe_load(
        (files("certification.spec") / "requirements.yaml").read_text()
    )
    return loaded


def _covers(declared: str, requirement: str) -> bool:
    return declared == requirement or declared.startswith(requirement + "(")


def _process(kind: str, spec: Spec) -> str | None:
    """What the pipeline itself provides for a process requirement, or None when this spec does not provide it."""
    return {
        "ledger": "hash-chained audit ledger of every result, decision and sign-off (certify audit verify)",
        "signoff": f"named human sign-off by each of {spec.approvals.roles}, bound to the run's hashes",
        "spec": "the certification spec: thresholds with a rationale each, bound to the run by its SHA-256",
        "monitoring": None
        if spec.monitoring is None
        else f"post-market monitoring on {spec.monitoring.schedule}",
    }[kind]


def matrix(spec: Spec, results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per requirement of the spec's frameworks: the checks that cover it, their statuses, and a verdict."""
    rows = []
    for framework in spec.checks.compliance.frameworks:
        for requirement in catalogue()[framework]:
            covering = [r for r in results if any(_covers(d, requirement["id"]) for d in r["requirements"])]
            evidence = [f"{r['check_id']}: {r['status']}" for r in covering if r["status"] in EVIDENCE]
            process = _process(requirement["process"], spec) if "process" in requirement else None
            if process:
                evidence.append(process)
            status = (
                FAILED
                if any(r["status"] in FAILING for r in covering)
                else (MET if evidence else NO_EVIDENCE)
            )
            rows.append(
                {
                    **requirement,
                    "framework": framework,
                    "checks": [r["check_id"] for r in covering],
                    "evidence": evidence,
                    "status": status,
                    "blocking": requirement["id"] in spec.checks.compliance.blocking_requirements,
                }
            )
    return rows


def blocking_gaps(spec: Spec, rows: list[dict[str, Any]]) -> list[str]:
    """Blocking requirements with no evidence; an id the selected frameworks do not know is a gap too."""
    known = {r["id"] for r in rows}
    gaps = [f"{r['id']} ({r['title']}): no evidence, and the spec makes it blocking" for r in rows
            if r["blocking"] and r["status"] == NO_EVIDENCE]  # fmt: skip
    unknown = [i for i in spec.checks.compliance.blocking_requirements if i not in known]
    return gaps + [
        f"{i}: blocking, but not a requirement of {spec.checks.compliance.frameworks}" for i in unknown
    ]
