"""The responsibility matrix is enforced where decisions enter: who may submit and who may approve each role."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from certification import Pipeline
from certification.cli import ERROR, NOT_CERTIFIED, OK, main
from certification.errors import SpecError
from certification.governance import responsibilities
from tests.helpers import REPO

MATRIX = """
submit: [dana]
approve:
  risk: [alice]
  compliance: [bob, carl]
"""


@pytest.fixture
def matrix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "responsibilities.yaml"
    path.write_text(MATRIX)
    monkeypatch.setenv("CERTIFICATION_RESPONSIBILITIES", str(path))
    return path


def test_a_broken_matrix_is_an_error_not_an_open_door(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("approve: {risk: alice}\nsubmitters: [dana]\n")
    with pytest.raises(SpecError, match="invalid responsibility matrix"):
        responsibilities.load(broken)
    assert responsibilities.load(REPO / "config" / "responsibilities.yaml")


def test_only_listed_people_submit_and_approve(home: Path, matrix: Path, write_spec, capsys) -> None:
    spec = str(write_spec())
    assert main(["run", spec, "--submitted-by", "mallory"]) == ERROR
    assert "mallory may not submit" in capsys.readouterr().err
    refused = Pipeline().ledger.query("SELECT reasons_json FROM {s}.decisions WHERE verdict = 'error'")
    assert len(refused) == 1 and "mallory may not submit" in refused[0]["reasons_json"]

    assert main(["--json", "run", spec, "--submitted-by", "dana"]) == OK
    run_id = json.loads(capsys.readouterr().out)["run"]["run_id"]

    def signoff(role: str, who: str) -> int:
        return main(["signoff", "approve", run_id, "--role", role, "--approver", who, "--comment", "ok"])

    assert signoff("risk", "bob") == NOT_CERTIFIED  # bob approves compliance, not risk
    assert "may not approve for risk" in capsys.readouterr().err
    assert signoff("risk", "alice") == OK
    assert signoff("compliance", "carl") == OK
    assert Pipeline().status(run_id)["status"] == "certified"
    events = [e["event_type"] for e in Pipeline().ledger.events(run_id)]
    assert events.count("signoff_refused") == 1
