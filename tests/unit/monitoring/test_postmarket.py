"""Post-market monitoring through the library on a really certified model: a stable day raises nothing, a sudden
shift suspends the certificate, takes the registry alias off and asks for re-certification, a replay changes
nothing, and a fairness regression is named where the generator put it. The Airflow chain is in test_monitoring_dag.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from certification import Pipeline, demo, monitoring, tracking
from certification.cli import NOT_CERTIFIED, main
from certification.documents import TREND
from certification.errors import CertificationError
from certification.governance import registry as governance
from certification.jsonutil import iso
from certification.ledger import certificates
from certification.monitoring import inference_log, watchlist
from certification.monitoring.snapshot import BASELINE, BASELINE_EVENT
from tests.helpers import certify, demo_spec

START = datetime(2027, 3, 1, tzinfo=UTC)
DAY = timedelta(days=1)


@pytest.fixture(scope="module")
def certified(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One certification of the demo model (SQLite ledger, MLflow registry) and its production log in Parquet."""
    state = tmp_path_factory.mktemp("postmarket")
    patch = pytest.MonkeyPatch()
    patch.setenv("CERTIFICATION_HOME", str(state / "home"))
    patch.delenv("CERTIFICATION_LEDGER_URL", raising=False)
    patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{state / 'mlflow.db'}")
    patch.setenv("CERTIFICATION_INFERENCE_LOG", str(state / "log"))
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{state / 'mlflow.db'}")
    spec_path = demo_spec()
    pipeline = Pipeline()
    run_id = certify(pipeline, spec_path)
    for scenario in ("sudden", "fairness_regression"):
        frames = demo.production_days(
            pipeline, run_id, scenario, START, group=("sex", "Female"), flip_share=0.4
        )
        for day, frame in enumerate(frames):
            inference_log.write_parquet(frame, state / "log" / scenario, f"day{day}")
    yield {"pipeline": pipeline, "run_id": run_id, "log": state / "log", "spec": spec_path}
    patch.undo()


def _events(pipeline: Pipeline) -> int:
    return len(pipeline.ledger.query("SELECT seq FROM {s}.events"))


def test_certification_puts_the_model_on_the_watch_list(certified: dict[str, Any]) -> None:
    pipeline, run_id = certified["pipeline"], certified["run_id"]
    [entry] = watchlist.entries(pipeline.settings.home)
    assert (entry.model_name, entry.schedule, entry.run_id) == ("adult-income-classifier", "@daily", run_id)
    assert entry.dag_id == "monitor_adult-income-classifier"
    [snapshot] = [e for e in pipeline.ledger.events(run_id) if e["event_type"] == BASELINE_EVENT]
    assert '"rows":16281' in snapshot["payload"]  # every row of the certified evaluation set


def test_stable_day_raises_nothing_then_a_shift_suspends_and_a_replay_changes_nothing(
    certified: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline, run_id = certified["pipeline"], certified["run_id"]
    monkeypatch.setenv("CERTIFICATION_INFERENCE_LOG", str(certified["log"] / "sudden"))
    name = "adult-income-classifier"
    version = tracking.certified_version(pipeline.settings, name)
    assert version is not None

    empty = monitoring.monitor(pipeline, name, START)  # the day before production started
    assert (empty["status"], empty["rows"], empty["withdraw"]) == ("insufficient_data", 0, None)
    assert "not judged" in empty["summary"]
    stable = monitoring.monitor(pipeline, name, START + DAY)
    assert stable["status"] == "ok" and stable["breaches"] == [] and stable["rows"] == 5000
    assert stable["withdraw"] is None and stable["recertify"] is None
    assert 3800 < stable["labelled_rows"] < 4200  # the generator labels 80%
    assert monitoring.alerts(pipeline, stable) == []
    assert (
        monitoring.withdraw(pipeline, stable) == []
        and monitoring.request_recertification(pipeline, stable) is None
    )

    # expiry, judged on the same recorded window: renewal starts 30 days ahead; an expired certificate is withdrawn
    expires = datetime.fromisoformat(pipeline.ledger.rows("certificates", run_id)[0]["expires_at"])
    soon = monitoring.monitor(pipeline, name, START + DAY, now=iso(expires - timedelta(days=10)))
    assert soon["replayed"] and soon["withdraw"] is None and "expires at" in soon["recertify"]["reason"]
    late = monitoring.monitor(pipeline, name, START + DAY, now=iso(expires + DAY))
    assert (
        late["withdraw"]["action"] == "expired" and late["recertify"]["reason"] == late["withdraw"]["reason"]
    )

    events = _events(pipeline)
    shifted = monitoring.monitor(pipeline, name, START + 2 * DAY, airflow_run="manual")
    assert shifted["status"] == "breach" and not shifted["replayed"]
    assert any(b.startswith("data drift: age PSI") for b in shifted["breaches"]), shifted["breaches"]
    assert any(b.startswith("prediction drift") for b in shifted["breaches"]), shifted["breaches"]
    assert "age" in shifted["summary"] and "hours_per_week" in shifted["summary"]
    assert monitoring.alerts(pipeline, shifted)
    alerts = [e for e in pipeline.ledger.events(run_id) if e["event_type"] == "monitoring_alert"]
    assert len(alerts) == 1 and _events(pipeline) == events + 2  # the window row and its alert, together

    assert monitoring.withdraw(pipeline, shifted) == ["suspended", "alias_removed"]
    assert tracking.certified_version(pipeline.settings, name) is None
    tags = tracking.client(pipeline.settings).get_model_version(name, version).tags
    assert tags["certification.status"] == "suspended" and "age PSI" in tags["certification.status_reason"]
    request = monitoring.request_recertification(pipeline, shifted)
    assert request is not None
    certificate_id = shifted["certificate_id"]
    assert request["dag_run_id"] == f"recertify__{certificate_id}"
    run = pipeline.ledger.run(run_id)
    assert request["conf"] == {
        "spec_path": run["spec_source"],
        "recertifies": certificate_id,
        "reason": shifted["withdraw"]["reason"],
    }
    assert certificates.withdrawn(pipeline.ledger, certificate_id) == "suspended"
    assert set(certificates.actions(pipeline.ledger, certificate_id)) == {
        "suspended",
        "recertification_requested",
    }

    events = _events(pipeline)
    again = monitoring.monitor(pipeline, name, START + 2 * DAY)
    assert again["replayed"] and again["breaches"] == shifted["breaches"]
    assert monitoring.alerts(pipeline, again) == [] and monitoring.withdraw(pipeline, again) == []
    assert monitoring.request_recertification(pipeline, again) == request  # the same, fixed DAG run id
    assert _events(pipeline) == events
    assert (
        main(["monitor", name, "--window-end", (START + 2 * DAY).isoformat()]) == NOT_CERTIFIED
    )  # the CLI path
    assert _events(pipeline) == events

    # a suspended certificate is no longer watched, and change control agrees
    assert monitoring.monitor(pipeline, name, START + 3 * DAY)["status"] == "no_active_certificate"
    problem = governance.certificate_problem(pipeline.ledger, name, version, certificate_id, iso(START))
    assert problem == f"certificate {certificate_id} is suspended"

    assert pipeline.ledger.verify().ok
    paths = monitoring.publish(pipeline, run_id)
    page = next(p for p in paths if p.name == "certificate.html").read_text()
    assert "Post-market monitoring" in page and "recertification-requested" in page
    assert "suspended" in page and "age PSI" in page
    assert (pipeline.settings.run_dir(run_id) / TREND).exists()
    mlflow_run_id = pipeline.ledger.run(run_id)["mlflow_run_id"]
    logged = {f.path for f in tracking.client(pipeline.settings).list_artifacts(mlflow_run_id, "monitoring")}
    windows = {
        f"monitoring/{w}" for w in ("2027-03-02T000000.000000Z.json", "2027-03-03T000000.000000Z.json")
    }
    assert logged == {f"monitoring/{p.name}" for p in paths} | {f"monitoring/{TREND}"} | windows
    history = pipeline.status(run_id)["monitoring"]
    statuses = [w["status"] for w in history["windows"]]
    assert history["state"] == "suspended" and statuses == ["insufficient_data", "ok", "breach"]


def test_a_fairness_regression_is_named_in_the_group_it_hit(certified: dict[str, Any]) -> None:
    """Judged without recording: the same baseline and thresholds, the women's labels turned on day two."""
    pipeline, run_id = certified["pipeline"], certified["run_id"]
    found = next(c for c in monitoring.monitored(pipeline.ledger) if c.run_id == run_id)
    baseline, features, numeric = monitoring.baseline(pipeline, found)  # the snapshot taken at certification
    snapshot = pipeline.settings.run_dir(run_id) / BASELINE
    original = snapshot.read_bytes()
    snapshot.write_bytes(original[:-1] + b"!")
    with pytest.raises(CertificationError, match="monitoring baseline .* changed"):
        monitoring.baseline(pipeline, found)
    snapshot.write_bytes(original)
    judged = []
    for day in (0, 1):
        chunks = inference_log.read_window(
            str(certified["log"] / "fairness_regression"), found.name, START + day * DAY, START + (day + 1) * DAY,
            features, found.spec.protected_attributes, numeric,
        )  # fmt: skip
        window = monitoring.Profile(baseline.bins, found.spec.protected_attributes).read(chunks)
        comparison = monitoring.compare(baseline, window)
        judged.append(
            (
                monitoring.judge(comparison, None, found.policy),
                monitoring.root_cause(comparison, None, found.policy),
            )
        )
    (quiet, _), (breaches, cause) = judged
    assert quiet == []
    # women's outcomes turned: the sex gaps grow with women changed most (race gaps move too, by composition)
    sex = [b for b in breaches if b.startswith("fairness: sex")]
    assert sex and all("most changed: Female" in b for b in sex), breaches
    assert cause["degraded_groups"][0]["group"] == "Female"
    assert cause["label_score"]["changed"] is True
    assert max(cause["feature_psi"].values()) < 0.05  # no input moved
