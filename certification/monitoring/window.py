"""Judging one window of production requests against the certified baseline with the spec's thresholds (EU AI Act
Art. 72), once per certificate: a replay returns what was recorded. Counts cover every row of the window; only
Evidently's test sees a sample, and its size is recorded. The outcome says what has to happen to the certificate
(actions.py does it)."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from typing import Any

from certification.config import settings
from certification.errors import CertificationError, InputError
from certification.jsonutil import iso, utcnow
from certification.ledger import Duplicate, certificates
from certification.monitoring import inference_log
from certification.monitoring.actions import outcome_of
from certification.monitoring.certified import Certified, monitored
from certification.monitoring.judgement import judge, root_cause
from certification.monitoring.profile import compare, evidently_drift
from certification.monitoring.snapshot import baseline
from certification.run.records import Runs

log = logging.getLogger("certification.monitoring")


def monitor(
    runs: Runs,
    name: str,
    window_end: datetime,
    *,
    airflow_run: str | None = None,
    now: str | None = None,
) -> dict[str, Any]:
    """Judge the window of `name` ending at `window_end` under its newest certificate while it stands (once per
    certificate: a replay returns what was recorded) and say what has to happen to the certificate. Nothing is
    withdrawn here: see `withdraw` and `request_recertification`."""
    ledger = runs.ledger
    found = monitored(ledger, name)
    if not found:
        raise CertificationError(f"no certificate with a monitoring policy for model {name!r}")
    start = window_end - timedelta(hours=found[0].policy.window_hours)
    span = f"{iso(start)}/{iso(window_end)}"
    # the newest certificate speaks for the model: once it is withdrawn, an older one does not come back into force
    newest = found[0]
    window_id = f"{newest.certificate_id}/{span}"
    # once withdrawn, a replay still finishes what the window started (e.g. after a crash before the alias)
    recorded = certificates.window(ledger, window_id)
    if recorded:
        window = recorded
    elif certificates.withdrawn(ledger, newest.certificate_id) is not None:
        return {"model_name": name, "window_id": f"{name}/{span}", "status": "no_active_certificate"}
    else:
        window = _record(runs, newest, window_id, start, window_end, airflow_run)
    return {**outcome_of(newest, window, now or utcnow()), "replayed": bool(recorded)}


def _record(
    runs: Runs,
    certified: Certified,
    window_id: str,
    start: datetime,
    end: datetime,
    airflow_run: str | None,
) -> dict[str, Any]:
    try:
        judged = judge_window(runs, certified, start, end)
    except CertificationError as exc:  # the window stays unjudged, so a later run can still judge it
        runs.ledger.log(certified.run_id, "monitoring_error", {"window_id": window_id, "error": str(exc)})
        raise
    row = {
        "window_id": window_id,
        "run_id": certified.run_id,
        "model_name": certified.name,
        "certificate_id": certified.certificate_id,
        "window_start": iso(start),
        "window_end": iso(end),
        "airflow_run": airflow_run,
        "recorded_at": utcnow(),
        **judged,
    }
    try:
        with runs.ledger.write() as writer:
            writer.insert("monitoring_windows", row)
            if row["status"] == "breach":
                alert = {k: row[k] for k in ("window_id", "certificate_id", "model_name", "breaches_json")}
                writer.event(certified.run_id, "monitoring_alert", alert)
    except Duplicate:  # a concurrent run of the same window won; its judgement stands
        found = certificates.window(runs.ledger, window_id)
        assert found is not None
        return found
    level = logging.WARNING if row["status"] == "breach" else logging.INFO
    log.log(
        level, "%s %s: %s; %s", window_id, row["status"], row["breaches_json"], row["summary_json"]["text"]
    )
    return row


def judge_window(runs: Runs, certified: Certified, start: datetime, end: datetime) -> dict[str, Any]:
    """Read the window in chunks, compare it with the baseline and apply the policy's thresholds."""
    policy = certified.policy
    source = policy.source or settings().inference_log
    if not source:
        raise InputError(
            "monitoring.source", "no inference log: set it in the spec or in $CERTIFICATION_INFERENCE_LOG"
        )
    reference, features, numeric = baseline(runs, certified)
    protected = certified.spec.protected_attributes
    try:
        chunks = inference_log.read_window(source, certified.name, start, end, features, protected, numeric)
        window = reference.fresh(policy.sample_size).read(chunks)
    except Exception as exc:  # an unreachable or malformed log is an error, never a quiet window
        raise CertificationError(f"cannot read the inference log {_safe(source)}: {exc}") from exc
    if window.rows < policy.min_rows:  # too few to judge either way: recorded as such, never as a pass
        text = f"{window.rows} requests logged in the window, fewer than the {policy.min_rows} needed: not judged."
        return {
            "rows_seen": window.rows,
            "labelled_rows": window.labelled,
            "status": "insufficient_data",
            "breaches_json": [],
            "summary_json": {"text": text},
        }
    comparison = compare(reference, window)
    drift = evidently_drift(reference, window, features) if features else None
    breaches = judge(comparison, drift, policy)
    evidence = runs.settings.run_dir(certified.run_id) / "monitoring"
    evidence.mkdir(exist_ok=True)
    path = evidence / f"{iso(end).replace(':', '')}.json"
    path.write_text(json.dumps({"comparison": comparison, "evidently": drift}, indent=1, default=str))
    return {
        "rows_seen": window.rows,
        "labelled_rows": window.labelled,
        "status": "breach" if breaches else "ok",
        "breaches_json": breaches,
        "summary_json": {**root_cause(comparison, drift, policy), "evidence": str(path)},
    }


def _safe(source: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(source).render_as_string(hide_password=True) if "://" in source else source
