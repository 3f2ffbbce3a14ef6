"""Post-market monitoring (EU AI Act Art. 72): each window of production requests is judged against the certified
baseline with the spec's thresholds; a breach or an expired certificate withdraws the certificate and starts
re-certification.

On a breach, in this order: the window and an alert are recorded together (ledger event `monitoring_alert` and a log
line; the DAG adds the notifiers), the certificate is suspended in the ledger, the registry's `certified` alias is
removed and the version tagged, and a `model_certification` run with the same spec is requested. Every step is keyed
so that replaying a window (a retry, a re-run, a backfill) does nothing twice: a window is judged once per
certificate, and a certificate is suspended, expired and re-certified at most once each.

The baseline is the certified evaluation set as the certified model scores it, snapshotted at certification with its
SHA-256 in the ledger; counts cover every row of a window, only Evidently's test sees a sample (its size is recorded).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import pickle
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from certification import responsibilities, tracking, watchlist
from certification.errors import CertificationError, InputError, NotAuthorised
from certification.jsonutil import iso, utcnow
from certification.ledger import Duplicate, Ledger, decode
from certification.spec import MonitoringPolicy, Spec

if TYPE_CHECKING:
    from certification.monitoring import Profile
    from certification.pipeline import Pipeline

log = logging.getLogger("certification.monitoring")
CERTIFICATION_DAG = "model_certification"
WITHDRAWN = ("suspended", "expired", "revoked")
RECERTIFY = "recertification_requested"
GROUP_METRICS = ("selection_rate", "tpr", "fpr", "accuracy")
MODEL_OVERRIDES = ("model_uri", "model_path", "model_sha256")
BASELINE, BASELINE_EVENT = "monitoring-baseline.pkl", "monitoring_baseline"


@dataclass(frozen=True)
class Certified:
    """A certificate, the run that earned it, and the spec (with its monitoring policy) the run was bound to."""

    certificate: dict[str, Any]
    run: dict[str, Any]
    spec: Spec

    @property
    def policy(self) -> MonitoringPolicy:
        assert self.spec.monitoring is not None, "only specs with a monitoring section are monitored"
        return self.spec.monitoring

    @property
    def certificate_id(self) -> str:
        return str(self.certificate["certificate_id"])

    @property
    def run_id(self) -> str:
        return str(self.run["run_id"])

    @property
    def name(self) -> str:
        return model_name(self.run, self.spec)

    @property
    def registry(self) -> tuple[str, str] | None:
        reference = str(self.run["model_reference"] or "")
        if not reference.startswith("models:/"):
            return None
        name, version, _ = tracking.parse_uri(reference)
        return name, str(version)


def model_name(run: dict[str, Any], spec: Spec) -> str:
    """The model's name in the inference log: the spec's choice, else its registry name, else the use case."""
    if spec.monitoring is not None and spec.monitoring.model_name:
        return spec.monitoring.model_name
    reference = str(run["model_reference"] or "")
    return tracking.parse_uri(reference)[0] if reference.startswith("models:/") else spec.use_case


def certificates(ledger: Ledger, name: str | None = None) -> list[Certified]:
    """Certificates whose spec has a monitoring section (of one model, if named), newest first."""
    found = []
    for row in ledger.query("SELECT * FROM {s}.certificates ORDER BY issued_at DESC"):
        run = ledger.run(row["run_id"])
        assert run is not None  # the schema's foreign key
        spec = Spec.model_validate(run["spec_json"])
        if spec.monitoring is not None and (name is None or model_name(run, spec) == name):
            found.append(Certified(decode(row), run, spec))
    return found


def actions(ledger: Ledger, certificate_id: str) -> dict[str, dict[str, Any]]:
    rows = ledger.query(
        "SELECT * FROM {s}.certificate_actions WHERE certificate_id = :c ORDER BY recorded_at",
        c=certificate_id,
    )
    return {r["action"]: decode(r) for r in rows}


def withdrawn(ledger: Ledger, certificate_id: str) -> str | None:
    """The action that withdrew a certificate (suspended, expired, revoked), or None while it stands."""
    return next((a for a in actions(ledger, certificate_id) if a in WITHDRAWN), None)


def watch(pipeline: Pipeline, run_id: str) -> None:
    """Snapshot the monitoring baseline and put the model on the watch list (the monitoring DAG file turns each
    entry into a DAG)."""
    certified = next((c for c in certificates(pipeline.ledger) if c.run_id == run_id), None)
    if certified is None:
        return
    try:  # now, while the data files are certainly the certified bytes; the first monitoring run retries
        baseline(pipeline, certified)
    except CertificationError as exc:
        log.error("%s: no monitoring baseline yet: %s", run_id, exc)
    entry = watchlist.Entry(certified.name, certified.policy.schedule, certified.certificate_id, run_id)
    watchlist.register(pipeline.settings.home, entry)


# -- judging a window ------------------------------------------------------------------------------------------
def monitor(
    pipeline: Pipeline,
    name: str,
    window_end: datetime,
    *,
    airflow_run: str | None = None,
    now: str | None = None,
) -> dict[str, Any]:
    """Judge the window of `name` ending at `window_end` under its newest certificate while it stands (once per
    certificate: a replay returns what was recorded) and say what has to happen to the certificate. Nothing is
    withdrawn here: see `withdraw` and `request_recertification`."""
    ledger = pipeline.ledger
    found = certificates(ledger, name)
    if not found:
        raise CertificationError(f"no certificate with a monitoring policy for model {name!r}")
    start = window_end - timedelta(hours=found[0].policy.window_hours)
    span = f"{iso(start)}/{iso(window_end)}"
    # the newest certificate speaks for the model: once it is withdrawn, an older one does not come back into force
    newest = found[0]
    window_id = f"{newest.certificate_id}/{span}"
    # once withdrawn, a replay still finishes what the window started (e.g. after a crash before the alias)
    recorded = ledger.query("SELECT * FROM {s}.monitoring_windows WHERE window_id = :w", w=window_id)
    if recorded:
        window = decode(recorded[0])
    elif withdrawn(ledger, newest.certificate_id) is not None:
        return {"model_name": name, "window_id": f"{name}/{span}", "status": "no_active_certificate"}
    else:
        window = _record(pipeline, newest, window_id, start, window_end, airflow_run)
    return {**_outcome(newest, window, now or utcnow()), "replayed": bool(recorded)}


def _record(
    pipeline: Pipeline,
    certified: Certified,
    window_id: str,
    start: datetime,
    end: datetime,
    airflow_run: str | None,
) -> dict[str, Any]:
    try:
        judged = judge_window(pipeline, certified, start, end)
    except CertificationError as exc:  # the window stays unjudged, so a later run can still judge it
        pipeline.ledger.log(certified.run_id, "monitoring_error", {"window_id": window_id, "error": str(exc)})
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
        with pipeline.ledger.write() as writer:
            writer.insert("monitoring_windows", row)
            if row["status"] == "breach":
                alert = {k: row[k] for k in ("window_id", "certificate_id", "model_name", "breaches_json")}
                writer.event(certified.run_id, "monitoring_alert", alert)
    except Duplicate:  # a concurrent run of the same window won; its judgement stands
        found = pipeline.ledger.query(
            "SELECT * FROM {s}.monitoring_windows WHERE window_id = :w", w=window_id
        )
        return decode(found[0])
    level = logging.WARNING if row["status"] == "breach" else logging.INFO
    log.log(
        level, "%s %s: %s; %s", window_id, row["status"], row["breaches_json"], row["summary_json"]["text"]
    )
    return row


def baseline(pipeline: Pipeline, certified: Certified) -> tuple[Profile, list[str], list[str]]:
    """The certified evaluation set as the certified model scored it, with the model's inputs (all, then the
    numeric ones). Snapshotted once, with its SHA-256 in the ledger, so monitoring outlives the rotation of the data
    files the run read; a snapshot that changed since is refused."""
    folder = pipeline.settings.run_dir(certified.run_id)
    recorded = [e for e in pipeline.ledger.events(certified.run_id) if e["event_type"] == BASELINE_EVENT]
    if recorded:
        data = (folder / BASELINE).read_bytes() if (folder / BASELINE).exists() else b""
        if hashlib.sha256(data).hexdigest() != json.loads(recorded[-1]["payload"])["sha256"]:
            raise CertificationError(f"the monitoring baseline {folder / BASELINE} is missing or changed")
        return pickle.loads(data)  # noqa: S301 - our own file, pinned by the ledger like a model file
    snapshot = _score_baseline(pipeline, certified)
    data = pickle.dumps(snapshot)
    (folder / BASELINE).write_bytes(data)
    pipeline.ledger.log(
        certified.run_id,
        BASELINE_EVENT,
        {"file": BASELINE, "sha256": hashlib.sha256(data).hexdigest(), "rows": snapshot[0].rows},
    )
    return snapshot


def _score_baseline(pipeline: Pipeline, certified: Certified) -> tuple[Profile, list[str], list[str]]:
    import pandas as pd
    from pandas.api.types import is_numeric_dtype

    from certification import monitoring

    ctx = pipeline.open_context(certified.run_id)  # refuses inputs that changed since certification
    features, protected = ctx.features, certified.spec.protected_attributes
    scores = ctx.score_eval
    frame = ctx.evaluation[list(dict.fromkeys([*features, *protected]))].assign(
        prediction=ctx.pred_eval, score=scores if scores is not None else float("nan"), label=ctx.y_eval
    )
    bins = monitoring.bins_for(ctx.evaluation, features)
    profile = monitoring.Profile(bins, protected, sample_size=certified.policy.sample_size)
    numeric = [c for c in features if is_numeric_dtype(ctx.evaluation[c])]
    return profile.update(pd.DataFrame(frame)), features, numeric


def judge_window(pipeline: Pipeline, certified: Certified, start: datetime, end: datetime) -> dict[str, Any]:
    """Read the window in chunks, compare it with the baseline and apply the policy's thresholds."""
    from certification import inference_log, monitoring

    policy = certified.policy
    source = policy.source or os.environ.get("CERTIFICATION_INFERENCE_LOG")
    if not source:
        raise InputError(
            "monitoring.source", "no inference log: set it in the spec or in $CERTIFICATION_INFERENCE_LOG"
        )
    reference, features, numeric = baseline(pipeline, certified)
    protected = certified.spec.protected_attributes
    try:
        chunks = inference_log.read_window(source, certified.name, start, end, features, protected, numeric)
        window = monitoring.Profile(reference.bins, protected, sample_size=policy.sample_size).read(chunks)
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
    comparison = monitoring.compare(reference, window)
    drift = monitoring.evidently_drift(reference, window, features) if features else None
    breaches = judge(comparison, drift, policy)
    evidence = pipeline.settings.run_dir(certified.run_id) / "monitoring"
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


def group_rates(comparison: dict[str, Any], min_rows: int) -> list[dict[str, Any]]:
    """Each group metric known on both sides for groups with at least `min_rows` labelled rows on both sides."""
    return [
        {
            "attribute": attribute,
            "group": group,
            "metric": metric,
            "baseline": g["baseline"][metric]["value"],
            "window": g["window"][metric]["value"],
        }
        for attribute, groups in comparison["groups"].items()
        for group, g in groups.items()
        if min(g["baseline"]["rows"], g["window"]["rows"]) >= min_rows
        for metric in GROUP_METRICS
        if all(math.isfinite(g[side][metric]["value"]) for side in ("baseline", "window"))
    ]


def fairness_gaps(comparison: dict[str, Any], min_rows: int) -> list[dict[str, Any]]:
    """Per protected attribute and group metric: the spread between comparable groups, certified against live."""
    rates = group_rates(comparison, min_rows)
    gaps = []
    for attribute in comparison["groups"]:
        for metric in GROUP_METRICS:
            pairs = {
                r["group"]: (r["baseline"], r["window"])
                for r in rates
                if (r["attribute"], r["metric"]) == (attribute, metric)
            }
            if len(pairs) < 2:
                continue
            before, after = ([v[i] for v in pairs.values()] for i in (0, 1))
            gaps.append(
                {
                    "attribute": attribute,
                    "metric": metric,
                    "baseline_gap": max(before) - min(before),
                    "window_gap": max(after) - min(after),
                    "increase": (max(after) - min(after)) - (max(before) - min(before)),
                    "most_changed": max(pairs, key=lambda g: abs(pairs[g][1] - pairs[g][0])),
                }
            )
    return gaps


def judge(comparison: dict[str, Any], drift: dict[str, Any] | None, policy: MonitoringPolicy) -> list[str]:
    """Every threshold of the policy the window breaks, as sentences naming the measure and the limit."""
    breaches = [
        f"data drift: {column} PSI {f['psi']:.3f} > {policy.max_feature_psi}"
        for column, f in comparison["features"].items()
        if f["psi"] > policy.max_feature_psi
    ]
    if drift is not None and (drift["drifted_share"] or 0.0) > policy.max_drift_share:
        breaches.append(
            f"data drift: Evidently finds {len(drift['drifted_columns'])} inputs drifted "
            f"({drift['drifted_share']:.0%} > {policy.max_drift_share:.0%}; {drift['sampled_rows']} sampled rows)"
        )
    score_psi = comparison["prediction"]["score_psi"]
    if score_psi > policy.max_score_psi:
        breaches.append(f"prediction drift: score PSI {score_psi:.3f} > {policy.max_score_psi}")
    live, certified = comparison["performance"], comparison["baseline_performance"]
    if live["rows"] >= policy.min_labelled_rows:
        drop = certified["accuracy"]["value"] - live["accuracy"]["value"]
        if drop > policy.max_accuracy_drop:
            breaches.append(
                f"performance: accuracy {live['accuracy']['value']:.3f} "
                f"[{live['accuracy']['ci_lower']:.3f}, {live['accuracy']['ci_upper']:.3f}] on {live['rows']} "
                f"labelled rows vs {certified['accuracy']['value']:.3f} certified "
                f"(drop {drop:.3f} > {policy.max_accuracy_drop})"
            )
    breaches += [
        f"fairness: {g['attribute']} {g['metric']} gap {g['window_gap']:.3f} vs {g['baseline_gap']:.3f} certified "
        f"(+{g['increase']:.3f} > {policy.max_fairness_gap_increase}; most changed: {g['most_changed']})"
        for g in fairness_gaps(comparison, policy.min_group_rows)
        if g["increase"] > policy.max_fairness_gap_increase
    ]
    return breaches


def root_cause(
    comparison: dict[str, Any], drift: dict[str, Any] | None, policy: MonitoringPolicy
) -> dict[str, Any]:
    """Which inputs moved most, which groups degraded most, and whether the label/score relationship changed."""
    drifted = set(drift["drifted_columns"]) if drift else set()
    features = [
        {"feature": c, "psi": comparison["features"][c]["psi"], "evidently_drifted": c in drifted}
        for c in comparison["most_drifted"][:3]
    ]
    changes = group_rates(comparison, policy.min_group_rows)
    groups = sorted(changes, key=lambda c: -abs(c["window"] - c["baseline"]))[:3]
    shift = comparison["label_score"]["shift"]
    relationship = {
        **comparison["label_score"],
        "changed": None if shift is None else shift > policy.max_calibration_shift,
    }
    prediction = comparison["prediction"]
    accuracy = comparison["performance"]["accuracy"]["value"]
    gaps = fairness_gaps(comparison, policy.min_group_rows)
    text = [
        "Inputs that moved most: "
        + ", ".join(
            f"{f['feature']} (PSI {f['psi']:.3f}{', Evidently: drifted' if f['evidently_drifted'] else ''})"
            for f in features
        )
        + ".",
        f"Scores: PSI {prediction['score_psi']:.3f}; positive rate {prediction['positive_rate']['value']:.3f} "
        f"vs {prediction['baseline_positive_rate']:.3f} certified.",
    ]
    if math.isfinite(accuracy):
        text.append(
            f"Accuracy on {comparison['labelled_rows']} labelled rows {accuracy:.3f} vs "
            f"{comparison['baseline_performance']['accuracy']['value']:.3f} certified."
        )
    if groups:
        text.append(
            "Groups that changed most: "
            + "; ".join(
                f"{c['attribute']}={c['group']} {c['metric']} {c['baseline']:.3f} → {c['window']:.3f}"
                for c in groups
            )
            + "."
        )
    text.append(
        "Label/score relationship: "
        + (
            "not measured (too few labelled rows per score bin)"
            if shift is None
            else f"{'changed' if relationship['changed'] else 'unchanged'} (label rate at equal scores moved by "
            f"{shift:.3f} on average)."
        )
    )
    return {
        "text": " ".join(text),
        "drifted_features": features,
        "feature_psi": {c: f["psi"] for c, f in comparison["features"].items()},
        "score_psi": prediction["score_psi"],
        "evidently": None
        if drift is None
        else {k: drift[k] for k in ("drifted_columns", "drifted_share", "sampled_rows", "window_rows")},
        "accuracy": accuracy if math.isfinite(accuracy) else None,
        "baseline_accuracy": comparison["baseline_performance"]["accuracy"]["value"],
        "max_gap_increase": max((g["increase"] for g in gaps), default=None),
        "degraded_groups": groups,
        "label_score": relationship,
    }


# -- acting on it ----------------------------------------------------------------------------------------------
def _outcome(certified: Certified, window: dict[str, Any], now: str) -> dict[str, Any]:
    policy, expires = certified.policy, str(certified.certificate["expires_at"])
    renew_from = iso(datetime.fromisoformat(expires) - timedelta(days=policy.recertify_before_days))
    withdraw = None
    if window["status"] == "breach":
        withdraw = {"action": "suspended", "reason": "; ".join(window["breaches_json"])}
    elif expires <= now:
        withdraw = {"action": "expired", "reason": f"the certificate expired at {expires}"}
    reason = withdraw["reason"] if withdraw else None
    if reason is None and renew_from <= now:
        reason = f"the certificate expires at {expires}"
    recertify = None
    if reason is not None:
        overrides = certified.run["overrides_json"] or {}
        recertify = {
            "reason": reason,
            "dag_id": CERTIFICATION_DAG,
            "dag_run_id": f"recertify__{certified.certificate_id}",
            "conf": {
                "spec_path": certified.run["spec_source"],
                **{k: overrides[k] for k in MODEL_OVERRIDES if overrides.get(k)},
                "recertifies": certified.certificate_id,
                "reason": reason[:2000],
            },
        }
    return {
        "model_name": certified.name,
        "certificate_id": certified.certificate_id,
        "run_id": certified.run_id,
        "window_id": window["window_id"],
        "window_start": window["window_start"],
        "window_end": window["window_end"],
        "status": window["status"],
        "rows": window["rows_seen"],
        "labelled_rows": window["labelled_rows"],
        "breaches": window["breaches_json"],
        "summary": window["summary_json"]["text"],
        "withdraw": withdraw,
        "recertify": recertify,
        "notify": policy.notify.model_dump(),
    }


def _act(
    pipeline: Pipeline,
    outcome: dict[str, Any],
    action: str,
    reason: str,
    detail: dict[str, Any],
    decided_by: str = "monitoring",
) -> bool:
    """Record an action on the certificate once; False if it was recorded before."""
    try:
        pipeline.ledger.record(
            "certificate_actions",
            {
                "run_id": outcome["run_id"],
                "certificate_id": outcome["certificate_id"],
                "action": action,
                "reason": reason,
                "window_id": outcome.get("window_id"),
                "detail_json": detail,
                "decided_by": decided_by,
                "recorded_at": utcnow(),
            },
        )
    except Duplicate:
        return False
    return True


def alerts(pipeline: Pipeline, outcome: dict[str, Any]) -> list[str]:
    """What the notifiers should say about this outcome that nobody was told before: a breach in a newly judged
    window, and an expiry or coming expiry not yet acted on."""
    if "certificate_id" not in outcome:
        return []
    done = actions(pipeline.ledger, outcome["certificate_id"])
    found = []
    if outcome["status"] == "breach" and not outcome["replayed"]:
        found.append(
            f"{outcome['model_name']}: window ending {outcome['window_end']} breached: {outcome['summary']}"
        )
    withdrawal = outcome.get("withdraw") or {}
    if withdrawal.get("action") == "expired" and "expired" not in done:
        found.append(f"{outcome['model_name']}: certificate {outcome['certificate_id']} expired")
    elif outcome.get("recertify") and not withdrawal and RECERTIFY not in done:
        found.append(f"{outcome['model_name']}: {outcome['recertify']['reason']}; re-certification starts")
    return found


def withdraw(pipeline: Pipeline, outcome: dict[str, Any]) -> list[str]:
    """Suspend (or expire) the certificate in the ledger, then take the registry's `certified` alias off the version
    and tag it. Returns what this call did (nothing on a replay)."""
    if not outcome.get("withdraw"):
        return []
    action, reason = outcome["withdraw"]["action"], outcome["withdraw"]["reason"]
    done = [action] if _act(pipeline, outcome, action, reason, {"breaches": outcome["breaches"]}) else []
    certified = next(
        c for c in certificates(pipeline.ledger) if c.certificate_id == outcome["certificate_id"]
    )
    done += _take_alias(pipeline, certified, action, reason)
    log.warning("%s: certificate %s %s: %s", outcome["model_name"], outcome["certificate_id"], done, reason)
    return done


def revoke(pipeline: Pipeline, certificate_id: str, *, reason: str, by: str) -> list[str]:
    """Withdraw a certificate by hand (an incident, a flaw found after issue): recorded as revoked, then the
    registry alias comes off as for a suspension. Administrators of the responsibility matrix only."""
    matrix = responsibilities.load()
    if matrix is not None and not matrix.may_administer(by):
        raise NotAuthorised(
            f"{by} may not revoke certificates under the responsibility matrix ({matrix.source})"
        )
    if not reason.strip():
        raise InputError("reason", "a revocation needs a reason")
    rows = pipeline.ledger.query("SELECT * FROM {s}.certificates WHERE certificate_id = :c", c=certificate_id)
    if not rows:
        raise InputError(certificate_id, "no such certificate in the ledger")
    run = pipeline.ledger.run(rows[0]["run_id"])
    assert run is not None  # the schema's foreign key
    certified = Certified(decode(rows[0]), run, Spec.model_validate(run["spec_json"]))
    outcome = {"run_id": certified.run_id, "certificate_id": certificate_id}
    done = ["revoked"] if _act(pipeline, outcome, "revoked", reason, {}, decided_by=by) else []
    done += _take_alias(pipeline, certified, "revoked", reason)
    publish(pipeline, certified.run_id)  # the certificate's page shows the revocation
    return done


def _take_alias(pipeline: Pipeline, certified: Certified, action: str, reason: str) -> list[str]:
    """Take the `certified` alias off the certificate's registry version (if it still points there) and tag the
    version with what happened."""
    done = []
    if certified.registry is not None:
        name, version = certified.registry
        tags = {"certification.status": action, "certification.status_reason": reason[:4000]}
        if tracking.withdraw(pipeline.settings, name, version, tags):
            pipeline.ledger.log(
                certified.run_id,
                "registry_alias_removed",
                {"model": name, "version": version, "alias": tracking.CERTIFIED_ALIAS, "because": action},
            )
            done.append("alias_removed")
    return done


def request_recertification(pipeline: Pipeline, outcome: dict[str, Any]) -> dict[str, Any] | None:
    """Record that the certificate is to be replaced and return the DAG run to trigger (its id is fixed per
    certificate, so a replay triggers nothing new)."""
    recertify = outcome.get("recertify")
    if not recertify:
        return None
    detail = {k: recertify[k] for k in ("dag_id", "dag_run_id", "conf")}
    _act(pipeline, outcome, RECERTIFY, recertify["reason"], detail)
    return dict(recertify)


# -- history ---------------------------------------------------------------------------------------------------
def timeline(ledger: Ledger, run_id: str) -> dict[str, Any] | None:
    """A certificate's life after issue: its judged windows, what was done to it, and the run that replaces it."""
    issued = ledger.rows("certificates", run_id)
    if not issued:
        return None
    certificate = issued[0]
    windows = [
        decode(w)
        for w in ledger.query(
            "SELECT * FROM {s}.monitoring_windows WHERE certificate_id = :c ORDER BY window_end",
            c=certificate["certificate_id"],
        )
    ]
    done = actions(ledger, certificate["certificate_id"])
    successor = None
    if RECERTIFY in done:
        runs = ledger.query(
            "SELECT run_id, created_at, submitted_by FROM {s}.runs WHERE airflow_run = :a",
            a=done[RECERTIFY]["detail_json"]["dag_run_id"],
        )
        if runs:
            final = [d for d in ledger.rows("decisions", runs[0]["run_id"]) if d["kind"] == "final"]
            successor = {**runs[0], "verdict": final[0]["verdict"] if final else "running"}
    events = [(certificate["issued_at"], "issued", f"certificate {certificate['certificate_id']} issued")]
    events += [
        (w["recorded_at"], "breach", f"window ending {w['window_end']}: " + "; ".join(w["breaches_json"]))
        for w in windows
        if w["status"] == "breach"
    ]
    breached = {w["window_id"]: w["window_end"] for w in windows if w["status"] == "breach"}
    for name, a in done.items():
        reason = a["reason"]
        if a["window_id"] in breached:  # the breach is listed above: name it rather than repeat it
            reason = f"because of the breach in the window ending {breached[a['window_id']]}"
        if name == RECERTIFY:
            reason = f"{CERTIFICATION_DAG} run {a['detail_json']['dag_run_id']} triggered, {reason}"
        events.append((a["recorded_at"], name, reason))
    if successor:
        text = f"run {successor['run_id']} started (submitted by {successor['submitted_by']}): {successor['verdict']}"
        events.append((successor["created_at"], "recertification", text))
    return {
        "certificate_id": certificate["certificate_id"],
        "state": next((a for a in done if a in WITHDRAWN), None)
        or ("expired" if certificate["expires_at"] <= utcnow() else "valid"),
        "windows": windows,
        "actions": done,
        "successor": successor,
        "events": [{"at": at, "kind": kind, "text": text} for at, kind, text in sorted(events)],
    }


def predecessor(ledger: Ledger, run_id: str) -> str | None:
    """The run whose certificate this run was started to replace (by its fixed Airflow run id), if any."""
    run = ledger.run(run_id)
    if not run or not run["airflow_run"]:
        return None
    for row in ledger.query(
        "SELECT run_id, detail_json FROM {s}.certificate_actions WHERE action = :a", a=RECERTIFY
    ):
        if json.loads(row["detail_json"]).get("dag_run_id") == run["airflow_run"]:
            return str(row["run_id"])
    return None


TREND = "monitoring-trend.png"


def trend(pipeline: Pipeline, run_id: str) -> Path | None:
    """Plot every judged window of the run's certificate: each measure as a share of its threshold."""
    from certification import plots

    history = timeline(pipeline.ledger, run_id)
    judged = [w for w in (history or {}).get("windows", []) if w["status"] != "insufficient_data"]
    if not history or not judged:
        return None
    policy = Spec.model_validate(pipeline._run_row(run_id)["spec_json"]).monitoring
    assert policy is not None

    def share(measure: Any, limit: float) -> list[tuple[str, float | None]]:
        points = []
        for w in judged:
            value = measure(w["summary_json"])
            points.append((w["window_end"], None if value is None else value / limit))
        return points

    def accuracy_drop(s: dict[str, Any]) -> float | None:
        return None if s["accuracy"] is None else s["baseline_accuracy"] - s["accuracy"]

    series = {
        "largest input PSI": share(
            lambda s: max(s["feature_psi"].values(), default=0.0), policy.max_feature_psi
        ),
        "Evidently drifted share": share(
            lambda s: s["evidently"] and s["evidently"]["drifted_share"], policy.max_drift_share
        ),
        "score PSI": share(lambda s: s["score_psi"], policy.max_score_psi),
        "accuracy drop": share(accuracy_drop, policy.max_accuracy_drop),
        "largest group-gap growth": share(lambda s: s["max_gap_increase"], policy.max_fairness_gap_increase),
    }
    breached = [w["window_end"] for w in judged if w["status"] == "breach"]
    path = pipeline.settings.run_dir(run_id) / TREND
    return plots.monitoring_trend(series, breached, path, title=f"Monitoring of {history['certificate_id']}")


def publish(pipeline: Pipeline, run_id: str) -> list[Path]:
    """Redraw the trend and rewrite the run's documents, so the certificate's page shows its monitoring timeline;
    log them with each window's comparison to the certification's MLflow run."""
    plot = trend(pipeline, run_id)
    folder = pipeline.settings.run_dir(run_id)
    paths = pipeline.write_documents(pipeline.status(run_id))
    mlflow_run_id = (pipeline.ledger.run(run_id) or {}).get("mlflow_run_id")
    if mlflow_run_id:  # the evidence next to the certification's own, in its MLflow run
        evidence = [*paths, *([plot] if plot else []), *sorted((folder / "monitoring").glob("*.json"))]
        tracking.log_artifacts(pipeline.settings, mlflow_run_id, evidence, "monitoring")
    return paths
