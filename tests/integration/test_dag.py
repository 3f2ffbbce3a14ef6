"""The model_certification DAG end to end with `airflow dags test` (dag.test()), the ledger on real PostgreSQL,
a model from the MLflow registry, and sign-offs given through the approvers' CLI path while the DAG waits."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import joblib
import pytest
import yaml

from certification import Pipeline, tracking
from certification.cli import NOT_CERTIFIED, OK, main
from certification.config import settings
from certification.demo.inputs import prepare_hmda
from certification.demo.serving import ModelServer
from tests.helpers import REPO, demo_spec, run_dag


@pytest.fixture
def registered(home: Path, postgres_database: str, monkeypatch: pytest.MonkeyPatch, adult_files) -> Path:
    """The demo spec with a freshly registered model (see `demo_spec`) and the ledger on PostgreSQL."""
    monkeypatch.setenv("CERTIFICATION_LEDGER_URL", postgres_database)
    return demo_spec()


def _signoff(decision: str, run_id: str, role: str, who: str) -> int:
    return main(["signoff", decision, run_id, "--role", role, "--approver", who, "--comment", "reviewed"])


def test_dag_certifies_after_both_roles_approve(airflow_home, registered: Path) -> None:
    def approve(run_id: str) -> None:
        assert (
            _signoff("approve", run_id, "risk", "dag_test") == NOT_CERTIFIED
        )  # the submitter's own approval
        assert _signoff("approve", run_id, "risk", "alice") == OK
        assert _signoff("approve", run_id, "compliance", "bob") == OK

    status = run_dag(airflow_home, registered, approve)
    assert status["status"] == "certified", status["final"]
    assert status["run"]["origin"] == "airflow" and status["run"]["submitted_by"] == "dag_test"
    name, version, _ = tracking.parse_uri(status["run"]["model_reference"])
    assert tracking.certified_version(settings(), name) == version
    tags = tracking.client(settings()).get_model_version(name, version).tags
    assert tags["certification.certificate_id"] == status["certificate"]["certificate_id"]
    assert Path(status["documents"]["certificate.json"]).exists()
    assert Pipeline().ledger.verify().ok


def test_dag_rejection_gives_no_certificate_and_no_alias(airflow_home, registered: Path) -> None:
    status = run_dag(
        airflow_home, registered, lambda run_id: _signoff("reject", run_id, "compliance", "carol")
    )
    assert status["status"] == "rejected"
    assert status["certificate"] is None
    assert tracking.certified_version(settings(), "adult-income-classifier") is None


def test_dag_failed_gate_asks_nobody(airflow_home, registered: Path) -> None:
    spec = yaml.safe_load(registered.read_text())
    spec["checks"]["fairness"]["max_demographic_parity_difference"] = 0.05
    registered.write_text(yaml.safe_dump(spec))
    asked: list[str] = []
    status = run_dag(airflow_home, registered, asked.append)
    assert status["status"] == "rejected" and not asked
    assert any("fairness.demographic_parity" in r for r in status["final"]["reasons_json"])
    assert not [
        e for e in Pipeline().ledger.events(status["run"]["run_id"]) if e["event_type"] == "signoff_requested"
    ]
    assert tracking.certified_version(settings(), "adult-income-classifier") is None


def test_stages_time_out_but_sign_off_waits(airflow_home: dict[str, str]) -> None:
    """A hung model cannot hold a run forever; approvers, who may take days, are not timed out."""
    script = (
        "import json, runpy\n"
        "dag = runpy.run_path('dags/model_certification.py')['dag']\n"
        "print(json.dumps({t.task_id: t.execution_timeout and t.execution_timeout.total_seconds()"
        " for t in dag.tasks}))"
    )
    env = {**os.environ, **airflow_home, "PYTHONPATH": os.pathsep.join([str(REPO / "plugins"), str(REPO)])}
    found = subprocess.run([sys.executable, "-c", script], env=env, cwd=REPO, capture_output=True, text=True)
    timeouts = json.loads(found.stdout.strip().splitlines()[-1])
    for stage in ("data_validation", "evaluation", "robustness", "fairness", "compliance"):
        assert timeouts[stage] == 7200, stage
    assert timeouts["signoff"] is None


def test_dag_certifies_a_model_logged_with_its_own_flavour(
    airflow_home: dict[str, str], home: Path, postgres_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The XGBoost HMDA example through the DAG: each stage's task loads the booster with MLflow's xgboost flavour
    in its own process and re-hashes it; the verdict is the policy's, with no check in error."""
    monkeypatch.setenv("CERTIFICATION_LEDGER_URL", postgres_database)
    spec = prepare_hmda(settings(), "xgboost")
    asked: list[str] = []
    status = run_dag(airflow_home, spec, asked.append)
    assert (
        status["run"]["origin"] == "airflow" and status["run"]["model_reference"] == "models:/hmda-xgboost/1"
    )
    results = {r["check_id"]: r for r in status["results"]}
    assert [c for c, r in results.items() if r["status"] == "error"] == [], results
    assert results["evaluation.cross_validation"]["status"] in ("pass", "warn", "fail")
    assert status["status"] == "rejected" and not asked  # the race gap in predicted denials fails the gate
    assert any("fairness.demographic_parity" in r for r in status["final"]["reasons_json"])
    mlflow_run = tracking.client(settings()).get_run(status["run"]["mlflow_run_id"])
    assert mlflow_run.data.tags["certification.model_flavour"] == "xgboost"


def test_dag_certifies_a_served_model_whose_credentials_are_an_airflow_connection(
    airflow_home: dict[str, str],
    home: Path,
    postgres_database: str,
    monkeypatch: pytest.MonkeyPatch,
    adult_files: dict[str, Path],
    write_spec: Callable[..., Path],
) -> None:
    """A model behind a KServe v2 endpoint that wants a bearer token kept in Airflow's metadata database (not in
    the environment): every task reaches it through the Connection, and the run is certified over HTTP."""
    monkeypatch.setenv("CERTIFICATION_LEDGER_URL", postgres_database)
    token = "db-kept-token-5d2c"  # noqa: S105
    subprocess.run(
        ["airflow", "connections", "add", "scoring_api", "--conn-uri", f"http://:{token}@scoring"],
        env={**os.environ, **airflow_home},
        check=True,
        capture_output=True,
    )
    pipeline = joblib.load(adult_files["model"])
    with ModelServer(pipeline, list(pipeline.feature_names_in_), name="adult", token=token) as server:
        endpoint = {
            "url": server.url,
            "protocol": "kserve_v2",
            "model_name": "adult",
            "connection": "scoring_api",
        }
        spec = write_spec(lambda s: s.update(model={"endpoint": endpoint}))

        def approve(run_id: str) -> None:
            assert _signoff("approve", run_id, "risk", "alice") == OK
            assert _signoff("approve", run_id, "compliance", "bob") == OK

        status = run_dag(airflow_home, spec, approve)
    assert status["status"] == "certified", status["final"]
    assert status["run"]["model_reference"] == f"endpoint:{server.url}/v2/models/adult"
    assert server.requests > 10
