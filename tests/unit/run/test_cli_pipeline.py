"""The in-process path (`certify`): a real certification of a real Adult model, sign-off rules, rejection,
audit verification, and bad input recorded as `error` runs."""

from __future__ import annotations

import hashlib
import json
import subprocess
import zipfile
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import pytest

from certification import Pipeline
from certification.cli import ERROR, NOT_CERTIFIED, OK, main


def certify(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict]:
    code = main(["--json", *args])
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip().startswith("{") else {}


def _signoff(capsys, decision: str, run_id: str, role: str, who: str) -> tuple[int, dict]:
    return certify(
        capsys, "signoff", decision, run_id, "--role", role, "--approver", who, "--comment", "reviewed"
    )


def test_full_certification_with_signoff_rules(home: Path, write_spec, capsys, tmp_path: Path) -> None:
    junit = tmp_path / "checks.xml"
    code, status = certify(capsys, "run", str(write_spec()), "--submitted-by", "dana", "--junit", str(junit))
    assert code == OK and status["status"] == "awaiting_signoff", status.get("gate")
    run_id = status["run"]["run_id"]
    suites = ElementTree.parse(junit).getroot()  # a CI system reads the same numbers as the ledger holds
    cases = {case.get("name"): case for case in suites.iter("testcase")}
    assert set(cases) == {r["check_id"] for r in status["results"]} and suites.get("tests") == str(len(cases))
    for result in status["results"]:
        kind = {"fail": "failure", "error": "error", "not_applicable": "skipped"}.get(result["status"])
        assert [child.tag for child in cases[result["check_id"]]] == [kind or "system-out"]
    assert {s.get("name") for s in suites.iter("testsuite")} == {r["stage"] for r in status["results"]}
    assert {r["check_id"] for r in status["results"]} == {
        "data.provenance",
        "data.schema",
        "data.quality",
        "data.label_sanity",
        "data.leakage_shared_rows",
        "data.leakage_single_feature",
        "data.identifier_features",
        "data.distribution_shift",
        "evaluation.performance",
        "evaluation.calibration",
        "evaluation.cross_validation",
        "evaluation.slices",
        "evaluation.out_of_distribution",
        "evaluation.latency",
        "evaluation.champion_challenger",
        "robustness.evasion",
        "robustness.membership_inference",
        "robustness.attribute_inference",
        "robustness.stress",
        "robustness.confidence_fallback",
        "robustness.edge_cases",
        "fairness.demographic_parity",
        "fairness.equalized_odds",
        "fairness.equal_opportunity",
        "fairness.predictive_parity",
        "fairness.calibration_gap",
        "fairness.group_sizes",
        "fairness.representation",
        "fairness.mitigation",
        "compliance.protected_inputs",
        "compliance.personal_data",
        "compliance.data_minimisation",
        "compliance.consent_retention",
        "compliance.documentation",
    }

    assert _signoff(capsys, "approve", run_id, "risk", "dana")[0] == NOT_CERTIFIED  # own run
    assert _signoff(capsys, "approve", run_id, "auditing", "erin")[0] == NOT_CERTIFIED  # not a required role
    code, status = _signoff(capsys, "approve", run_id, "risk", "alice")
    assert code == OK and status["status"] == "awaiting_signoff"
    assert _signoff(capsys, "approve", run_id, "compliance", "alice")[0] == NOT_CERTIFIED  # second role
    assert _signoff(capsys, "approve", run_id, "risk", "bob")[0] == NOT_CERTIFIED  # role already signed
    code, status = _signoff(capsys, "approve", run_id, "compliance", "bob")
    assert code == OK and status["status"] == "certified"

    # the signed certificate verifies; an altered copy does not (signature and ledger both disagree)
    certificate = Path(status["documents"]["certificate.json"])
    assert main(["certificate", "verify", str(certificate)]) == OK
    altered = json.loads(certificate.read_text())
    altered["expires_at"] = "2099-01-01T00:00:00.000000Z"
    (tmp_path / "certificate.json").write_text(json.dumps(altered))
    signature = str(certificate.with_name("certificate.sig.json"))
    assert (
        main(["certificate", "verify", str(tmp_path / "certificate.json"), "--signature", signature])
        == NOT_CERTIFIED
    )
    assert "altered or forged" in capsys.readouterr().out
    # the evidence bundle: every file with its digest, the archive's own digest in the ledger
    archive = Path(status["run_dir"]) / "evidence-bundle.zip"
    [recorded] = [e for e in Pipeline().ledger.events(run_id) if e["event_type"] == "evidence_bundle"]
    assert json.loads(recorded["payload"])["sha256"] == hashlib.sha256(archive.read_bytes()).hexdigest()
    with zipfile.ZipFile(archive) as bundle:
        manifest = json.loads(bundle.read("MANIFEST.json"))
        names = {entry["path"] for entry in manifest["files"]}
        assert {"certificate.json", "certificate.html", "report.html", "evaluation.json"} <= names
        for entry in manifest["files"]:
            assert hashlib.sha256(bundle.read(entry["path"])).hexdigest() == entry["sha256"]
    _check_documents(status, manifest)
    run = status["run"]
    for signoff in status["signoffs"]:  # bound to the exact inputs
        assert (signoff["model_sha256"], signoff["spec_sha256"]) == (run["model_sha256"], run["spec_sha256"])
    certificate = json.loads(Path(status["documents"]["certificate.json"]).read_text())
    assert certificate["model"]["sha256"] == run["model_sha256"]
    assert {a["approver"] for a in certificate["approvers"]} == {"alice", "bob"}
    assert Path(status["documents"]["certificate.html"]).exists()
    refused = [e for e in Pipeline().ledger.events(run_id) if e["event_type"] == "signoff_refused"]
    assert len(refused) == 4
    assert certify(capsys, "audit", "verify") == (OK, certify(capsys, "audit", "verify")[1])


def _check_documents(status: dict, manifest: dict) -> None:
    """Every document of a certified run, in the bundle, with the numbers of the ledger in them."""
    documents = {name: Path(path) for name, path in status["documents"].items()}
    expected = {
        "certificate.pdf",
        "model-card.md",
        "model-card.html",
        "data-dictionary.html",
        "risk-summary.html",
    }
    expected |= {"incident-response.md", "rollback.md"}
    assert expected <= set(documents) and expected <= {entry["path"] for entry in manifest["files"]}
    card = documents["model-card.md"].read_text()
    estimates = next(r for r in status["results"] if r["check_id"] == "evaluation.performance")["measured"]
    accuracy = estimates["estimates"]["accuracy"]
    assert (
        f"| accuracy | {accuracy['value']:.4f} | {accuracy['ci_lower']:.4f} | {accuracy['ci_upper']:.4f} |"
        in card
    )
    spec = status["run"]["spec_json"]
    assert spec["documentation"]["intended_use"].split()[0] in card and status["run"]["model_sha256"] in card
    dictionary = documents["data-dictionary.html"].read_text()
    assert all(
        f'"col">{column}<' in dictionary
        for column in (*spec["protected_attributes"], spec["label"]["column"])
    )
    certificate_id = status["certificate"]["certificate_id"]
    assert f"certify certificate revoke {certificate_id}" in documents["incident-response.md"].read_text()
    summary = documents["risk-summary.html"].read_text()
    passed = sum(r["status"] == "pass" for r in status["results"])
    assert f"{passed} / {len(status['results'])}" in summary
    assert f"until {status['certificate']['document_json']['expires_at'][:10]}" in summary
    # the PDF is the certificate: its text names the certificate and the model hash, and its pages are not blank
    pdf = documents["certificate.pdf"]
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert certificate_id in text and "Model Certificate" in text
    subprocess.run(
        ["pdftoppm", "-r", "40", "-png", "-f", "1", "-l", "1", str(pdf), str(pdf.with_suffix(""))], check=True
    )
    from PIL import Image

    first = np.asarray(Image.open(next(pdf.parent.glob("certificate-*1.png"))).convert("L"))
    assert (first < 128).sum() > 2000  # ink: text, frame and tables


def test_rejection_issues_no_certificate(home: Path, write_spec, capsys) -> None:
    run_id = certify(capsys, "run", str(write_spec()), "--submitted-by", "dana")[1]["run"]["run_id"]
    code, status = _signoff(capsys, "reject", run_id, "compliance", "carol")
    assert code == NOT_CERTIFIED and status["status"] == "rejected"
    assert status["certificate"] is None and "certificate.json" not in status["documents"]
    assert {"model-card.md", "risk-summary.html"} <= set(status["documents"])  # documents of every verdict
    assert not {"certificate.pdf", "rollback.md"} & set(status["documents"])
    assert _signoff(capsys, "approve", run_id, "risk", "alice")[0] == NOT_CERTIFIED  # already decided


def test_failed_gate_rejects_without_asking_humans(home: Path, write_spec, capsys) -> None:
    spec = write_spec(lambda s: s["checks"]["evaluation"]["thresholds"].update(accuracy={"min": 0.99}))
    code, status = certify(capsys, "run", str(spec), "--submitted-by", "dana")
    assert code == NOT_CERTIFIED and status["status"] == "rejected"
    assert any("evaluation.performance" in r and "accuracy" in r for r in status["final"]["reasons_json"])
    assert _signoff(capsys, "approve", status["run"]["run_id"], "risk", "alice")[0] == NOT_CERTIFIED


def _error_runs() -> list[dict]:
    ledger = Pipeline().ledger
    return ledger.query(
        "SELECT r.run_id, d.reasons_json FROM {s}.runs r JOIN {s}.decisions d "
        "ON d.run_id = r.run_id WHERE d.verdict = 'error'"
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s["checks"].pop("fairness"), "checks.fairness"),
        (lambda s: s["datasets"]["train"].update(path="/nonexistent/train.csv"), "dataset file not found"),
        (lambda s: s["label"].update(column="salary"), "missing columns ['salary']"),
    ],
)
def test_bad_input_is_a_recorded_error_run(home: Path, write_spec, capsys, change, message) -> None:
    code = main(["run", str(write_spec(change)), "--submitted-by", "dana"])
    assert code == ERROR
    assert message in capsys.readouterr().err
    errors = _error_runs()
    assert len(errors) == 1 and message in errors[0]["reasons_json"]


def test_model_that_fails_to_load_is_a_recorded_error_run(
    home: Path, write_spec, tmp_path: Path, capsys
) -> None:
    from certification.hashing import file_sha256

    garbage = tmp_path / "model.joblib"
    garbage.write_bytes(b"this is not a model")
    spec = write_spec(lambda s: s.update(model={"path": str(garbage), "sha256": file_sha256(garbage)}))
    assert main(["run", str(spec)]) == ERROR
    assert "cannot load model" in capsys.readouterr().err
    assert len(_error_runs()) == 1


def test_model_hash_mismatch_is_refused(home: Path, write_spec, capsys) -> None:
    spec = write_spec(lambda s: s["model"].update(sha256="0" * 64))
    assert main(["run", str(spec)]) == ERROR
    assert "the spec pins" in capsys.readouterr().err


def test_audit_verify_detects_tampering(home: Path, write_spec, capsys) -> None:
    certify(
        capsys,
        "run",
        str(write_spec(lambda s: s["checks"]["evaluation"]["thresholds"].update(f1={"min": 0.99}))),
    )
    assert main(["audit", "verify"]) == OK
    ledger = Pipeline().ledger
    with ledger.engine.begin() as conn:
        conn.exec_driver_sql("DROP TRIGGER certification_audit.decisions_append_only")
        conn.exec_driver_sql(
            "UPDATE certification_audit.decisions SET verdict = 'passed' WHERE kind = 'gate'"
        )
    capsys.readouterr()
    assert main(["audit", "verify"]) == NOT_CERTIFIED
    assert "decisions row" in capsys.readouterr().out


def test_an_uncovered_blocking_requirement_prevents_certification(home: Path, write_spec, capsys) -> None:
    def unmonitored(spec: dict) -> None:  # nothing then gives evidence of post-market monitoring
        del spec["monitoring"]
        spec["checks"]["compliance"]["blocking_requirements"] = ["EU-AI-Act:Art72"]

    code, status = certify(capsys, "run", str(write_spec(unmonitored)), "--submitted-by", "dana")
    assert code == NOT_CERTIFIED and status["status"] == "rejected"
    [reason] = status["gate"]["reasons_json"]
    assert reason.startswith("EU-AI-Act:Art72 (Post-market monitoring): no evidence")
    [row] = [r for r in status["traceability"] if r["id"] == "EU-AI-Act:Art72"]
    assert row["blocking"] and row["status"] == "no_evidence"
