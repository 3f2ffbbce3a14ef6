"""Independent review: findings recorded in the ledger block approval while open and high, until resolved or waived
by an authorised person with a waiver that expires."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from certification import Pipeline
from certification.cli import ERROR, NOT_CERTIFIED, OK, main
from certification.governance import findings
from tests.helpers import REPO

MATRIX = REPO / "config" / "responsibilities.yaml"


def certify(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, Any]:
    code = main(["--json", *args])
    captured = capsys.readouterr()
    out = captured.out.strip()
    return code, (json.loads(out) if out[:1] in "[{" and out else captured.err)


def test_findings_block_until_waived(home: Path, write_spec, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CERTIFICATION_RESPONSIBILITIES", str(MATRIX))  # only rita may waive
    code, status = certify(capsys, "run", str(write_spec()), "--submitted-by", "dana")
    assert code == OK, status
    run_id = status["run"]["run_id"]

    def finding(*args: str) -> tuple[int, Any]:
        return certify(capsys, "finding", *args)

    code, listed = finding(
        "add", run_id, "--severity", "high", "--title", "Evasion below budget", "--by", "erin"
    )
    assert code == NOT_CERTIFIED
    [high] = listed
    assert (high["severity"], high["state"], high["blocking"], high["raised_by"]) == (
        "high",
        "open",
        True,
        "erin",
    )
    code, listed = finding(
        "add", run_id, "--severity", "low", "--title", "Typo in the model card", "--by", "erin"
    )
    low = next(f for f in listed if f["severity"] == "low")
    assert code == NOT_CERTIFIED and not low["blocking"]

    approve = ["signoff", "approve", run_id, "--comment", "reviewed"]
    code, said = certify(capsys, *approve, "--role", "risk", "--approver", "alice")
    assert code == NOT_CERTIFIED and "Evasion below budget" in str(said)
    # the model owner cannot settle findings against their own run; only rita may waive, for at most a year
    assert (
        finding("resolve", run_id, low["finding_id"], "--by", "dana", "--comment", "fixed")[0]
        == NOT_CERTIFIED
    )
    waive = ["waive", run_id, high["finding_id"], "--reason", "accepted until the retrain in Q1"]
    assert finding(*waive, "--by", "bob", "--days", "30")[0] == NOT_CERTIFIED
    assert finding(*waive, "--by", "rita", "--days", "400")[0] == 2
    code, listed = finding(*waive, "--by", "rita", "--days", "30")
    waived = next(f for f in listed if f["finding_id"] == high["finding_id"])
    assert code == OK and (waived["state"], waived["blocking"], waived["waiver"]["by"]) == (
        "waived",
        False,
        "rita",
    )
    assert finding(*waive, "--by", "rita", "--days", "30")[0] == NOT_CERTIFIED  # settled once only

    assert certify(capsys, *approve, "--role", "risk", "--approver", "alice")[0] == OK
    code, status = certify(capsys, *approve, "--role", "compliance", "--approver", "bob")
    assert code == OK and status["status"] == "certified"
    assert {f["state"] for f in status["findings"]} == {"waived", "open"}
    report = Path(status["documents"]["report.html"]).read_text()
    assert "Evasion below budget" in report and "accepted until the retrain in Q1" in report
    code, said = finding("add", run_id, "--severity", "critical", "--title", "Too late", "--by", "erin")
    assert code == NOT_CERTIFIED and "already decided" in str(said)

    # a flaw found after issue: an administrator revokes the certificate and it no longer verifies
    certificate_id = status["certificate"]["certificate_id"]
    revoke = ["certificate", "revoke", certificate_id, "--reason", "evasion found after issue"]
    assert (
        certify(capsys, *revoke, "--by", "dana")[0] == ERROR
    )  # not an administrator, as an unlisted submitter
    assert certify(capsys, *revoke, "--by", "admin") == (
        OK,
        {"certificate_id": certificate_id, "done": ["revoked"]},
    )
    assert certify(capsys, *revoke, "--by", "admin")[1]["done"] == []
    code, verified = certify(capsys, "certificate", "verify", status["documents"]["certificate.json"])
    assert code == NOT_CERTIFIED and verified["problems"] == ["the certificate is revoked"]

    kinds = [
        e["event_type"] for e in Pipeline().ledger.events(run_id) if e["event_type"].startswith("finding")
    ]
    assert kinds == ["finding_added", "finding_added", "finding_waived"]
    assert main(["audit", "verify"]) == OK


def _event(kind: str, **payload: str) -> dict[str, str]:
    return {"run_id": "r", "event_type": kind, "payload": json.dumps(payload)}


def test_a_waiver_expires_and_the_finding_blocks_again() -> None:
    raised = {"title": "t", "detail": "", "raised_by": "e", "raised_at": "a"}
    events = [
        *(
            _event(findings.ADDED, finding_id=f"F-{i}", severity=severity, **raised)
            for i, severity in ((1, "critical"), (2, "medium"), (3, "high"))
        ),
        _event(
            findings.WAIVED,
            finding_id="F-1",
            by="rita",
            at="b",
            reason="r",
            expires_at="2027-01-01T00:00:00Z",
        ),
        _event(findings.RESOLVED, finding_id="F-3", by="x"),
    ]
    one, medium, fixed = findings.from_events(events)
    assert (one.state("2026-12-31"), one.blocks("2026-12-31")) == ("waived", False)
    assert (one.state("2027-01-02"), one.blocks("2027-01-02")) == ("waiver_expired", True)
    assert medium.state("2027-01-02") == "open" and not medium.blocks("2027-01-02")
    assert fixed.state("2030") == "resolved" and not fixed.blocks("2030")
