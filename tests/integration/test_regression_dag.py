"""A wage regressor (the CPS1988 example) through Airflow with the ledger and the inference log on real PostgreSQL:
model_certification certifies it after two sign-offs, each stage task loading it from the registry in its own
process; then its generated monitor DAG judges two days of production from the drifting-stream generator. The
stable day raises nothing; on the next, African American workers' wages fall below what the model predicts for
them: the window breaches the group-error threshold, the certificate is suspended, the registry alias removed and
model_certification triggered again with the same spec."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from certification import Pipeline, tracking
from certification.cli import OK, main
from certification.config import settings
from certification.demo.inputs import CPS_MODEL, prepare_cps, production_days
from certification.ledger import certificates
from certification.monitoring import inference_log
from tests.helpers import airflow, certification_runs, quick_example, run_dag

START = datetime(2027, 6, 1, tzinfo=UTC)
DAY = timedelta(days=1)


def test_a_regressor_is_certified_by_the_dag_and_suspended_by_its_monitor(
    airflow_home: dict[str, str],
    home: Path,
    postgres_database: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("CERTIFICATION_LEDGER_URL", postgres_database)
    monkeypatch.setenv("CERTIFICATION_INFERENCE_LOG", postgres_database)
    spec = prepare_cps(settings(), tmp_path / "cps")
    quick_example(spec)

    def approve(run_id: str) -> None:
        for role, who in (("risk", "alice"), ("compliance", "bob")):
            assert (
                main(["signoff", "approve", run_id, "--role", role, "--approver", who, "--comment", "ok"])
                == OK
            )

    status = run_dag(airflow_home, spec, approve)
    assert status["status"] == "certified", status["final"]
    assert status["run"]["origin"] == "airflow" and status["run"]["spec_json"]["task"] == "regression"
    results = {r["check_id"]: r for r in status["results"]}
    assert [c for c, r in results.items() if r["status"] == "error"] == [], results
    assert "fairness.bounded_group_loss" in results and "fairness.demographic_parity" not in results
    run_id, certificate_id = status["run"]["run_id"], status["certificate"]["certificate_id"]
    version = tracking.certified_version(settings(), CPS_MODEL)
    assert version == "1"

    pipeline = Pipeline()
    inference_log.init_schema(postgres_database)
    ctx = pipeline.open_context(run_id)
    days = production_days(
        pipeline, run_id, "fairness_regression", START, drift_columns=[], group=("ethnicity", "afam"),
        flip_share=0.4,
    )  # fmt: skip
    for frame in days:
        inference_log.write_postgres(frame, postgres_database, ctx.features, ctx.spec.protected_attributes)
    airflow(airflow_home, "dags", "reserialize", log=tmp_path / "reserialize.log")
    earlier = frozenset(r["run_id"] for r in certification_runs(airflow_home, tmp_path / "runs.log"))

    def monitor_day(day: int) -> None:
        moment = (START + day * DAY).isoformat()
        airflow(airflow_home, "dags", "test", f"monitor_{CPS_MODEL}", moment, log=tmp_path / f"day{day}.log")

    monitor_day(1)
    [stable] = pipeline.ledger.query("SELECT * FROM {s}.monitoring_windows")
    assert (stable["status"], stable["rows_seen"]) == ("ok", 5000), stable["breaches_json"]
    assert tracking.certified_version(settings(), CPS_MODEL) == version

    monitor_day(2)
    [window] = pipeline.ledger.query("SELECT * FROM {s}.monitoring_windows WHERE status = 'breach'")
    breaches = json.loads(window["breaches_json"])
    assert any(b.startswith("fairness: ethnicity mae gap") for b in breaches), breaches
    assert not any(b.startswith("data drift") for b in breaches), breaches  # who applies did not change
    assert certificates.withdrawn(pipeline.ledger, certificate_id) == "suspended"
    assert tracking.certified_version(settings(), CPS_MODEL) is None
    [triggered] = certification_runs(airflow_home, tmp_path / "runs.log", earlier)
    assert triggered["run_id"] == f"recertify__{certificate_id}"
    assert triggered["conf"]["spec_path"] == str(spec) and triggered["conf"]["recertifies"] == certificate_id
    cause = json.loads(window["summary_json"])
    assert cause["degraded_groups"][0]["group"] == "afam" and "MAE on" in cause["text"]
    assert pipeline.ledger.verify().ok
