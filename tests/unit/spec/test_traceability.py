"""Requirement traceability: a check's declared ids cover the requirement they refine, failures and gaps are told
apart, process evidence depends on the spec, and a blocking requirement without evidence stops certification."""

from __future__ import annotations

from typing import Any

from certification.spec import Spec
from certification.spec import requirements as traceability
from tests.helpers import spec_dict


def _spec(adult_files: Any, **compliance: Any) -> Spec:
    raw = spec_dict(adult_files)
    raw["checks"]["compliance"].update(compliance)
    return Spec.model_validate(raw)


def _result(check_id: str, status: str, *requirements: str) -> dict[str, Any]:
    return {"check_id": check_id, "status": status, "requirements": list(requirements)}


def test_coverage_failure_gaps_and_process_evidence(adult_files: Any) -> None:
    spec = _spec(adult_files, frameworks=["eu-ai-act", "gdpr"], blocking_requirements=["EU-AI-Act:Art13"])
    results = [
        _result("data.schema", "pass", "EU-AI-Act:Art10(2f)"),
        _result("compliance.protected_inputs", "fail", "EU-AI-Act:Art10(5)", "GDPR:Art9"),
        _result("evaluation.latency", "not_applicable", "EU-AI-Act:Art15"),
    ]
    rows = {r["id"]: r for r in traceability.matrix(spec, results)}
    assert set(rows) == {e["id"] for f in ("eu-ai-act", "gdpr") for e in traceability.catalogue()[f]}
    art10 = rows["EU-AI-Act:Art10"]
    assert art10["checks"] == ["data.schema", "compliance.protected_inputs"] and art10["status"] == "failed"
    assert rows["EU-AI-Act:Art15"]["status"] == "no_evidence"  # not applicable is no evidence
    assert rows["EU-AI-Act:Art12"]["status"] == "met"  # the ledger, on every run
    assert rows["EU-AI-Act:Art72"]["status"] == "met"  # the spec has a monitoring section
    assert rows["GDPR:Art9"]["status"] == "failed" and rows["GDPR:Art6"]["status"] == "no_evidence"
    [gap] = traceability.blocking_gaps(spec, list(rows.values()))
    assert gap.startswith("EU-AI-Act:Art13 (Transparency")

    unmonitored = Spec.model_validate({**spec.model_dump(), "monitoring": None})
    assert {r["id"]: r for r in traceability.matrix(unmonitored, results)}["EU-AI-Act:Art72"]["status"] == (
        "no_evidence"
    )
    typo = _spec(adult_files, frameworks=["gdpr"], blocking_requirements=["GDPR:Art99"])
    assert traceability.blocking_gaps(typo, traceability.matrix(typo, results)) == [
        "GDPR:Art99: blocking, but not a requirement of ['gdpr']"
    ]
