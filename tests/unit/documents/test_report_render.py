"""The HTML report and certificate show every key fact of a hand-built status; error runs render too."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from certification import documents
from certification.checks import CheckResult, Status

SHA = {name: (name * 64)[:64] for name in ("a", "b", "c", "d")}
GROUPS = {
    "sex": {
        "Female": {"count": 5421.0, "selection_rate": 0.0712, "tpr": 0.5512, "fpr": 0.0121},
        "Male": {"count": 10860.0, "selection_rate": 0.2503, "tpr": 0.6391, "fpr": 0.0854},
    }
}


def _results() -> list[CheckResult]:
    rationale = "Must beat the majority-class baseline by a clear margin."
    return [
        CheckResult(
            "data.schema",
            "data_validation",
            Status.PASS,
            {"columns": 15, "dtypes": {"age": "int64"}, "mismatched_dtypes": {}},
            {"mismatched_dtypes": 0},
            rationale,
            "15 columns agree",
        ),
        CheckResult(
            "evaluation.accuracy",
            "evaluation",
            Status.PASS,
            {"accuracy": 0.85123456, "rows": 16281},
            {"min_accuracy": 0.84},
            rationale,
            "within thresholds",
            ["mlflow:metrics/accuracy"],
            ["EU-AI-Act:Art15"],
        ),
        CheckResult(
            "fairness.demographic_parity",
            "fairness",
            Status.PASS,
            {
                "max_demographic_parity_difference": 0.1791,
                "worst_attribute": "sex",
                "by_attribute": {"sex": 0.1791},
                "groups": GROUPS,
            },
            {"max_max_demographic_parity_difference": 0.2},
            rationale,
            "within thresholds",
            requirements=["EU-AI-Act:Art10(2f)"],
        ),
        CheckResult(
            "compliance.protected_inputs",
            "compliance",
            Status.WARN,
            {"protected_inputs": ["age"], "unjustified": []},
            {"max_unjustified_protected_inputs": 0},
            rationale,
            "justified protected inputs: ['age'] <script>",
        ),
    ]


def _run(**changes: Any) -> dict[str, Any]:
    run = {
        "run_id": "run-20250101-abc123",
        "created_at": "2025-01-01T09:00:00.000000Z",
        "origin": "cli",
        "submitted_by": "dana.dev",
        "spec_source": "specs/adult.yaml",
        "use_case": "adult-income-prescreening",
        "risk_tier": "high",
        "spec_sha256": SHA["c"],
        "model_reference": "models:/adult@candidate",
        "model_sha256": SHA["a"],
        "required_roles_json": ["risk", "compliance"],
        "mlflow_run_id": "f00d",
        "datasets_json": {
            "train": {"path": "train.csv", "sha256": SHA["b"], "rows": 32561, "columns": 15},
            "evaluation": {"path": "evaluation.csv", "sha256": SHA["d"], "rows": 16281, "columns": 15},
        },
    }
    return {**run, **changes}


def _certified_status() -> dict[str, Any]:
    signoffs = [
        {
            "run_id": "run-20250101-abc123",
            "role": role,
            "approver": name,
            "decision": "approve",
            "comment": "reviewed",
            "channel": "cli",
            "signed_at": "2025-01-02T10:00:00.000000Z",
        }
        for role, name in (("risk", "Rita Risk"), ("compliance", "Carl Compliance"))
    ]
    results = _results()
    document = documents.certificate_document(_run(), results, signoffs, validity_days=365)
    decided = "2025-01-02T10:00:00.000000Z"
    state = {
        "required": ["risk", "compliance"],
        "rejected": {},
        "deadline": None,
        "expired": False,
        "approved": {"risk": "Rita Risk", "compliance": "Carl Compliance"},
    }
    return {
        "run": _run(),
        "status": "certified",
        "gate": {"verdict": "passed", "reasons_json": ["no blocking result"], "decided_at": decided},
        "final": {"verdict": "certified", "reasons_json": ["all roles approved"], "decided_at": decided},
        "results": [r.to_dict() for r in results],
        "signoffs": signoffs,
        "signoff_state": state,
        "certificate": {
            "certificate_id": document["certificate_id"],
            "issued_at": document["issued_at"],
            "expires_at": document["expires_at"],
            "sha256": documents.document_sha256(document),
            "document_json": document,
        },
    }


def _text(path: Path) -> str:
    html = path.read_text()
    assert "<link" not in html and "src=" not in html and "@import" not in html  # self-contained
    return html.replace("<wbr>", "")  # identifiers and paths carry line-break hints


def test_certified_run_renders_report_and_certificate(tmp_path: Path) -> None:
    status = _certified_status()
    paths = documents.write_documents(tmp_path, status)
    assert {p.name for p in paths} == set(documents.DOCUMENTS) and all(p.exists() for p in paths)
    cert, page = _text(tmp_path / "certificate.html"), _text(tmp_path / "report.html")
    certificate = status["certificate"]
    for html in (cert, page):
        assert certificate["certificate_id"] in html and certificate["sha256"] in html
        assert "certified" in html and "Rita Risk" in html and "Carl Compliance" in html
        assert all(r["check_id"] in html for r in status["results"])
        assert SHA["a"] in html and SHA["b"] in html and SHA["c"] in html
        assert "<script>" not in html  # autoescaped message
    assert "Model Certificate" in cert and "certify audit verify" in cert and "0.8512" in cert
    assert "@media print" in cert and "size: A4" in cert
    assert "Per-group rates" in page and "Female" in page and "0.2503" in page
    assert "Must beat the majority-class baseline" in page


def test_error_run_renders_without_gate_or_run_fields(tmp_path: Path) -> None:
    run = _run(
        use_case=None,
        risk_tier=None,
        spec_sha256=None,
        model_reference=None,
        model_sha256=None,
        datasets_json=None,
        required_roles_json=None,
        mlflow_run_id=None,
    )
    crash = CheckResult(
        "data.schema",
        "data_validation",
        Status.ERROR,
        {"traceback": "Traceback (most recent call last):\nKeyError: 'income'"},
        message="KeyError: 'income'",
    )
    status = {
        "run": run,
        "status": "error",
        "gate": None,
        "final": {"verdict": "error", "reasons_json": ["dataset file not found"], "decided_at": None},
        "results": [crash.to_dict()],
        "signoffs": [],
        "signoff_state": None,
        "certificate": None,
    }
    paths = documents.write_documents(tmp_path, status)
    assert [p.name for p in paths] == ["report.html"] and not (tmp_path / "certificate.html").exists()
    page = _text(paths[0])
    assert "dataset file not found" in page and "data.schema" in page and run["run_id"] in page
    assert re.search(r"<details[^>]*>\s*<summary>Traceback</summary>\s*<pre>Traceback", page)
    assert "None" not in re.sub(r"<[^>]+>", "", page)


def test_documents_for_readers_and_a_pdf_only_with_a_browser(tmp_path: Path, monkeypatch, caplog) -> None:
    status = _certified_status()
    documents.write_documents(tmp_path, status)
    card = (tmp_path / "model-card.md").read_text()
    assert card.startswith("# Model card: adult-income-prescreening") and SHA["a"] in card
    assert all(f"| {r['check_id']} | {r['status'].replace('_', ' ')} |" in card for r in status["results"])
    assert "accuracy 0.8512 ≥ 0.84" in card  # the bound as the check judged it
    html = _text(tmp_path / "model-card.html")
    assert "<table>" in html and "<h2>Performance</h2>" in html and "<script>" not in html
    assert "Rita Risk" in (tmp_path / "incident-response.md").read_text()
    assert "none**: no other standing certificate" in (tmp_path / "rollback.md").read_text()

    monkeypatch.setenv("CERTIFICATION_CHROMIUM", str(tmp_path / "no-such-browser"))
    again = tmp_path / "without-browser"
    again.mkdir()
    paths = documents.write_documents(again, status)
    assert {p.name for p in paths} == set(documents.DOCUMENTS) - {"certificate.pdf"}
    assert "certificate.pdf not written" in caplog.text


class _Certificates:
    """A ledger holding three certificates (newest first) and one withdrawal, for the rollback target."""

    rows = [
        {
            "certificate_id": "C4",
            "run_id": "r4",
            "expires_at": "2099-01-01",
            "model_reference": "models:/adult/4",
        },
        {
            "certificate_id": "C3",
            "run_id": "r3",
            "expires_at": "2099-01-01",
            "model_reference": "models:/other/3",
        },
        {
            "certificate_id": "C2",
            "run_id": "r2",
            "expires_at": "2099-01-01",
            "model_reference": "models:/adult/2",
        },
        {
            "certificate_id": "C1",
            "run_id": "r1",
            "expires_at": "2025-01-01",
            "model_reference": "models:/adult/1",
        },
        {
            "certificate_id": "C0",
            "run_id": "r0",
            "expires_at": "2099-01-01",
            "model_reference": "models:/adult/0",
        },
    ]

    def query(self, sql: str, **params: Any) -> list[dict[str, Any]]:
        if "certificate_actions" in sql:  # C2 was suspended
            return [{"action": "suspended"}] if params["c"] == "C2" else []
        return [r for r in self.rows if r["model_reference"] != params["ref"]]


def test_rollback_goes_to_the_newest_standing_unexpired_certificate_of_the_same_model() -> None:
    from certification.ledger.certificates import rollback_target as previous_certificate

    target = previous_certificate(_Certificates(), {"run_id": "r5", "model_reference": "models:/adult/5"})
    assert target is not None and target["certificate_id"] == "C4"
    target = previous_certificate(_Certificates(), {"run_id": "r4", "model_reference": "models:/adult/4"})
    assert target is not None and target["certificate_id"] == "C0"  # not another model, suspended or expired
    assert (
        previous_certificate(_Certificates(), {"run_id": "r9", "model_reference": "/models/m.joblib"}) is None
    )
