"""Spec discovery: which specs in a folder are due for certification, judged against real runs in the ledger, and
the certification_sweep DAG that starts them (through `airflow dags test`, runs checked in Airflow's metadata)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from certification import Pipeline
from certification.cli import main
from certification.governance import discovery
from tests.helpers import airflow, certification_runs


def _folder(tmp_path: Path, write_spec: Any, adult_files: dict[str, Path]) -> tuple[Path, Path, Path]:
    """specs/adult.yaml on its own copy of the evaluation data (so the data can change under it), a spec pinning
    other model bytes and a broken specs/broken.yml; returns (folder, spec, evaluation copy)."""
    folder = tmp_path / "specs"
    folder.mkdir()
    evaluation = tmp_path / "evaluation.csv"
    shutil.copy(adult_files["evaluation"], evaluation)

    def own_data(spec: dict[str, Any]) -> None:
        spec["datasets"]["evaluation"]["path"] = str(evaluation)

    spec = write_spec(own_data, name="specs/adult.yaml")
    write_spec(
        lambda s: s["model"].update(sha256="0" * 64), name="specs/pinned.yaml"
    )  # not the model's bytes
    (folder / "broken.yml").write_text("use_case: [unclosed\n")
    (folder / "notes.txt").write_text("not a spec")
    return folder, spec, evaluation


def _by_name(found: list[discovery.Survey]) -> dict[str, discovery.Survey]:
    return {Path(s.spec_path).name: s for s in found}


def test_survey_follows_runs_certificates_and_changes(
    home: Path,
    tmp_path: Path,
    write_spec: Any,
    adult_files: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder, spec, evaluation = _folder(tmp_path, write_spec, adult_files)
    pipeline = Pipeline()

    first = _by_name(discovery.survey(pipeline.ledger, folder))
    assert sorted(first) == ["adult.yaml", "broken.yml", "pinned.yaml"]
    assert first["broken.yml"].action == "invalid" and "broken.yml" in first["broken.yml"].reason
    assert (
        first["pinned.yaml"].action == "invalid"
        and f"the spec pins {'0' * 64}" in first["pinned.yaml"].reason
    )
    assert (first["adult.yaml"].action, first["adult.yaml"].reason) == ("certify", "never certified")
    assert first["adult.yaml"].dag_run_id and first["adult.yaml"].dag_run_id.startswith("sweep-")
    assert discovery.survey(pipeline.ledger, folder) == list(first.values())  # the same run id again
    assert main(["--json", "discover", str(folder)]) == 0  # what the sweep would do, from the CLI
    listed = {Path(s["spec_path"]).name: s for s in json.loads(capsys.readouterr().out)["specs"]}
    assert listed["adult.yaml"]["dag_run_id"] == first["adult.yaml"].dag_run_id

    status = pipeline.run_automated(str(spec), submitted_by="dana")
    run_id = status["run"]["run_id"]
    waiting = _by_name(discovery.survey(pipeline.ledger, folder))["adult.yaml"]
    assert waiting.action == "in_progress" and run_id in waiting.reason
    for role, who in (("risk", "alice"), ("compliance", "bob")):
        pipeline.signoff(run_id, role=role, approver=who, decision="approve", comment="ok", channel="cli")
    assert pipeline.finalize(run_id)["verdict"] == "certified"
    [certificate] = pipeline.ledger.rows("certificates", run_id)

    current = _by_name(discovery.survey(pipeline.ledger, folder))["adult.yaml"]
    assert current.action == "current" and certificate["certificate_id"] in current.reason

    later = _by_name(discovery.survey(pipeline.ledger, folder, now="2100-01-01T00:00:00Z"))["adult.yaml"]
    assert later.action == "certify" and later.reason.startswith(
        f"certificate {certificate['certificate_id']} expired"
    )
    assert later.dag_run_id not in {None, first["adult.yaml"].dag_run_id}  # a renewal is a new run

    frame = pd.read_csv(evaluation)
    frame.iloc[:-100].to_csv(evaluation, index=False)  # the same spec, new evaluation data
    changed = _by_name(discovery.survey(pipeline.ledger, folder))["adult.yaml"]
    assert (changed.action, changed.reason) == ("certify", f"the data changed since run {run_id}")
    assert changed.dag_run_id not in {first["adult.yaml"].dag_run_id, later.dag_run_id}

    rejected = pipeline.run_automated(str(spec), submitted_by="dana")["run"]["run_id"]
    pipeline.signoff(rejected, role="risk", approver="alice", decision="reject", comment="no", channel="cli")
    assert pipeline.finalize(rejected)["verdict"] == "rejected"
    held = _by_name(discovery.survey(pipeline.ledger, folder))["adult.yaml"]
    assert held.action == "held" and f"run {rejected} ended rejected" in held.reason

    write_spec(lambda s: s["datasets"]["evaluation"].update(path=str(evaluation), source="changed"),
               name="specs/adult.yaml")  # fmt: skip
    respecified = _by_name(discovery.survey(pipeline.ledger, folder))["adult.yaml"]
    assert respecified.action == "certify" and respecified.reason == f"the spec changed since run {rejected}"
    assert pipeline.ledger.verify().ok


def test_sweep_dag_starts_each_due_spec_once(
    airflow_home: dict[str, str], home: Path, tmp_path: Path, write_spec: Any, adult_files: dict[str, Path]
) -> None:
    folder, spec, _ = _folder(tmp_path, write_spec, adult_files)
    env = {**airflow_home, "CERTIFICATION_SPECS_DIR": str(folder)}
    airflow(env, "dags", "reserialize", log=tmp_path / "reserialize.log")
    earlier = frozenset(r["run_id"] for r in certification_runs(env, tmp_path / "runs.log"))
    [due] = [s for s in discovery.survey(Pipeline().ledger, folder) if s.action == "certify"]

    log = airflow(
        env, "dags", "test", "certification_sweep", "2027-01-01T00:00:00+00:00", log=tmp_path / "1.log"
    )
    assert "broken.yml: invalid" in log and "pinned.yaml: invalid" in log
    assert "adult.yaml: certify (never certified)" in log
    [started] = certification_runs(env, tmp_path / "runs.log", earlier)
    assert started["run_id"] == due.dag_run_id and started["state"] == "queued"
    assert started["conf"] == {"spec_path": str(spec), "discovered": "never certified"}

    airflow(env, "dags", "test", "certification_sweep", "2027-01-01T01:00:00+00:00", log=tmp_path / "2.log")
    assert len(certification_runs(env, tmp_path / "runs.log", earlier)) == 1  # swept again: nothing new

    # the started run binds a ledger run submitted by the sweep's identity (`tasks test` validates the form's
    # defaults first, so the default spec names a file that does not exist)
    unused_default = {**env, "CERTIFICATION_DEFAULT_SPEC": str(tmp_path / "missing.yaml")}
    airflow(unused_default, "tasks", "test", "model_certification", "validate_spec", started["run_id"],
            log=tmp_path / "validate.log")  # fmt: skip
    [run] = Pipeline().ledger.query(
        "SELECT spec_source, submitted_by FROM {s}.runs WHERE airflow_run = :a", a=started["run_id"]
    )
    assert (run["spec_source"], run["submitted_by"]) == (str(spec), "discovery")
    assert _by_name(discovery.survey(Pipeline().ledger, folder))["adult.yaml"].action == "in_progress"


def test_sweep_dag_is_absent_without_a_spec_folder(airflow_home: dict[str, str], tmp_path: Path) -> None:
    env = {**airflow_home, "CERTIFICATION_SPECS_DIR": ""}
    listed = airflow(env, "dags", "list", "--local", "-o", "plain", log=tmp_path / "list.log")
    assert "model_certification" in listed and "certification_sweep" not in listed
