"""The monitoring chain through Airflow with the ledger and the inference log on real PostgreSQL: a certified model,
a production stream from the generator (a stable day, then a sudden shift), and the generated monitor_<model> DAG
run with `airflow dags test` for each day. The stable day raises nothing; the shifted day alerts, suspends the
certificate, removes the registry alias and triggers model_certification with the same spec; replaying it changes
nothing; the triggered run then starts from that conf."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from certification import Pipeline, tracking
from certification.ledger import certificates
from certification.monitoring import inference_log
from tests.helpers import airflow, certification_runs, certify, demo_spec

START = datetime(2027, 5, 1, tzinfo=UTC)
DAY = timedelta(days=1)
NAME = "adult-income-classifier"
DAG_ID = f"monitor_{NAME}"


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[Any]]]:
    """A local endpoint standing in for the alert webhook; it keeps what it receives."""
    received: list[Any] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/alerts", received
    server.shutdown()


def test_drift_suspends_withdraws_and_recertifies_through_airflow(
    airflow_home: dict[str, str],
    home: Path,
    postgres_database: str,
    monkeypatch: pytest.MonkeyPatch,
    webhook: tuple[str, list[Any]],
    tmp_path: Path,
) -> None:
    url, received = webhook
    monkeypatch.setenv("CERTIFICATION_LEDGER_URL", postgres_database)
    monkeypatch.setenv("CERTIFICATION_INFERENCE_LOG", postgres_database)
    from certification import demo

    spec_path = demo_spec(notify={"webhook": url})
    pipeline = Pipeline()
    run_id = certify(pipeline, spec_path)
    certificate_id = pipeline.ledger.rows("certificates", run_id)[0]["certificate_id"]
    version = tracking.certified_version(pipeline.settings, NAME)
    assert version is not None

    inference_log.init_schema(postgres_database)
    ctx = pipeline.open_context(run_id)
    for frame in demo.production_days(pipeline, run_id, "sudden", START):
        inference_log.write_postgres(frame, postgres_database, ctx.features, ctx.spec.protected_attributes)

    airflow(airflow_home, "dags", "reserialize", log=tmp_path / "reserialize.log")
    earlier = frozenset(r["run_id"] for r in certification_runs(airflow_home, tmp_path / "runs.log"))

    def monitor_day(day: int) -> str:
        # the daily run at midnight judges the 24 hours before it
        moment = (START + day * DAY).isoformat()
        return airflow(airflow_home, "dags", "test", DAG_ID, moment, log=tmp_path / f"day{day}.log")

    def events() -> list[str]:
        return [
            e["event_type"] for e in pipeline.ledger.query("SELECT event_type FROM {s}.events ORDER BY seq")
        ]

    before = events()
    monitor_day(1)
    [stable] = pipeline.ledger.query("SELECT * FROM {s}.monitoring_windows")
    assert (stable["status"], stable["rows_seen"]) == ("ok", 5000)
    assert (stable["window_start"], stable["window_end"]) == (
        "2027-05-01T00:00:00.000000Z",
        "2027-05-02T00:00:00.000000Z",
    )
    assert events() == [*before, "row_recorded"]  # the judged window, and nothing else
    assert received == [] and certification_runs(airflow_home, tmp_path / "runs.log", earlier) == []
    assert tracking.certified_version(pipeline.settings, NAME) == version

    monitor_day(2)
    shifted = pipeline.ledger.query("SELECT * FROM {s}.monitoring_windows WHERE status = 'breach'")
    assert len(shifted) == 1 and "data drift: age PSI" in shifted[0]["breaches_json"]
    assert certificates.withdrawn(pipeline.ledger, certificate_id) == "suspended"
    assert tracking.certified_version(pipeline.settings, NAME) is None
    tags = tracking.client(pipeline.settings).get_model_version(NAME, version).tags
    assert tags["certification.status"] == "suspended"
    [alert] = received
    assert (
        alert["certificate_id"] == certificate_id
        and alert["status"] == "breach"
        and "age" in alert["alerts"][0]
    )
    new = events()[len(before) + 1 :]
    # in order: the window with its alert, the suspension, the alias, the re-certification request
    assert new == [
        "row_recorded",
        "monitoring_alert",
        "row_recorded",
        "registry_alias_removed",
        "row_recorded",
    ]
    [triggered] = certification_runs(airflow_home, tmp_path / "runs.log", earlier)
    assert triggered["run_id"] == f"recertify__{certificate_id}" and triggered["state"] == "queued"
    assert triggered["conf"] == {
        "spec_path": str(spec_path),
        "recertifies": certificate_id,
        "reason": "; ".join(json.loads(shifted[0]["breaches_json"]))[:2000],
    }

    recorded = events()
    monitor_day(2)  # a replay of the same window
    assert events() == recorded and len(received) == 1
    assert len(certification_runs(airflow_home, tmp_path / "runs.log", earlier)) == 1

    # the triggered run starts from that conf: its first task binds a new ledger run to the same spec (`tasks test`
    # first validates the form's defaults, so the default spec names a file that does not exist)
    unused_default = {**airflow_home, "CERTIFICATION_DEFAULT_SPEC": str(tmp_path / "missing.yaml")}
    airflow(unused_default, "tasks", "test", "model_certification", "validate_spec", triggered["run_id"],
            log=tmp_path / "validate.log")  # fmt: skip
    [successor] = pipeline.ledger.query(
        "SELECT run_id, spec_source, submitted_by FROM {s}.runs WHERE airflow_run = :a", a=triggered["run_id"]
    )
    assert (successor["spec_source"], successor["submitted_by"]) == (str(spec_path), "monitoring")
    assert certificates.predecessor(pipeline.ledger, successor["run_id"]) == run_id
    history = pipeline.status(run_id)["monitoring"]
    assert history["state"] == "suspended" and history["successor"]["run_id"] == successor["run_id"]
    page = (pipeline.settings.run_dir(run_id) / "certificate.html").read_text()
    assert "Post-market monitoring" in page and "age PSI" in page
    assert pipeline.ledger.verify().ok
