"""What monitoring does to a certificate, each step recorded at most once so that replays change nothing: put the
model on the watch list when it is certified; on a breach or expiry alert, withdraw (ledger, then the registry's
`certified` alias) and request re-certification; revoke by hand."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from certification import tracking
from certification.errors import CertificationError, InputError, NotAuthorised
from certification.governance import responsibilities
from certification.jsonutil import iso, utcnow
from certification.ledger import Duplicate, certificates
from certification.ledger.certificates import CERTIFICATION_DAG, RECERTIFY
from certification.monitoring import watchlist
from certification.monitoring.certificate_page import publish
from certification.monitoring.certified import Certified, load_certified, monitored
from certification.monitoring.snapshot import baseline
from certification.run.records import Runs

log = logging.getLogger("certification.monitoring")
MODEL_OVERRIDES = ("model_uri", "model_path", "model_sha256")


def watch(runs: Runs, run_id: str) -> None:
    """Snapshot the monitoring baseline and put the model on the watch list (the monitoring DAG file turns each
    entry into a DAG)."""
    certified = next((c for c in monitored(runs.ledger) if c.run_id == run_id), None)
    if certified is None:
        return
    try:  # now, while the data files are certainly the certified bytes; the first monitoring run retries
        baseline(runs, certified)
    except CertificationError as exc:
        log.error("%s: no monitoring baseline yet: %s", run_id, exc)
    entry = watchlist.Entry(certified.name, certified.policy.schedule, certified.certificate_id, run_id)
    watchlist.register(runs.settings.home, entry)


def outcome_of(certified: Certified, window: dict[str, Any], now: str) -> dict[str, Any]:
    policy, expires = certified.policy, str(certified.certificate["expires_at"])
    renew_from = iso(datetime.fromisoformat(expires) - timedelta(days=policy.recertify_before_days))
    withdraw = None
    if window["status"] == "breach":
        withdraw = {"action": "suspended", "reason": "; ".join(window["breaches_json"])}
    elif certificates.state(expires, (), now) == "expired":
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
    runs: Runs,
    outcome: dict[str, Any],
    action: str,
    reason: str,
    detail: dict[str, Any],
    decided_by: str = "monitoring",
) -> bool:
    """Record an action on the certificate once; False if it was recorded before."""
    try:
        runs.ledger.record(
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


def alerts(runs: Runs, outcome: dict[str, Any]) -> list[str]:
    """What the notifiers should say about this outcome that nobody was told before: a breach in a newly judged
    window, and an expiry or coming expiry not yet acted on."""
    if "certificate_id" not in outcome:
        return []
    done = certificates.actions(runs.ledger, outcome["certificate_id"])
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


def withdraw(runs: Runs, outcome: dict[str, Any]) -> list[str]:
    """Suspend (or expire) the certificate in the ledger, then take the registry's `certified` alias off the version
    and tag it. Returns what this call did (nothing on a replay)."""
    if not outcome.get("withdraw"):
        return []
    action, reason = outcome["withdraw"]["action"], outcome["withdraw"]["reason"]
    done = [action] if _act(runs, outcome, action, reason, {"breaches": outcome["breaches"]}) else []
    row = certificates.certificate(runs.ledger, outcome["certificate_id"])
    assert row is not None  # the outcome was judged under it
    done += _take_alias(runs, load_certified(runs.ledger, row), action, reason)
    log.warning("%s: certificate %s %s: %s", outcome["model_name"], outcome["certificate_id"], done, reason)
    return done


def revoke(runs: Runs, certificate_id: str, *, reason: str, by: str) -> list[str]:
    """Withdraw a certificate by hand (an incident, a flaw found after issue): recorded as revoked, then the
    registry alias comes off as for a suspension. Administrators of the responsibility matrix only."""
    matrix = responsibilities.load()
    if matrix is not None and not matrix.may_administer(by):
        raise NotAuthorised(
            f"{by} may not revoke certificates under the responsibility matrix ({matrix.source})"
        )
    if not reason.strip():
        raise InputError("reason", "a revocation needs a reason")
    row = certificates.certificate(runs.ledger, certificate_id)
    if row is None:
        raise InputError(certificate_id, "no such certificate in the ledger")
    certified = load_certified(runs.ledger, row)
    outcome = {"run_id": certified.run_id, "certificate_id": certificate_id}
    done = ["revoked"] if _act(runs, outcome, "revoked", reason, {}, decided_by=by) else []
    done += _take_alias(runs, certified, "revoked", reason)
    publish(runs, certified.run_id)  # the certificate's page shows the revocation
    return done


def _take_alias(runs: Runs, certified: Certified, action: str, reason: str) -> list[str]:
    """Take the `certified` alias off the certificate's registry version (if it still points there) and tag the
    version with what happened."""
    done = []
    if certified.registry is not None:
        name, version = certified.registry
        tags = {"certification.status": action, "certification.status_reason": reason[:4000]}
        if tracking.withdraw(runs.settings, name, version, tags):
            runs.ledger.log(
                certified.run_id,
                "registry_alias_removed",
                {"model": name, "version": version, "alias": tracking.CERTIFIED_ALIAS, "because": action},
            )
            done.append("alias_removed")
    return done


def request_recertification(runs: Runs, outcome: dict[str, Any]) -> dict[str, Any] | None:
    """Record that the certificate is to be replaced and return the DAG run to trigger (its id is fixed per
    certificate, so a replay triggers nothing new)."""
    recertify = outcome.get("recertify")
    if not recertify:
        return None
    detail = {k: recertify[k] for k in ("dag_id", "dag_run_id", "conf")}
    _act(runs, outcome, RECERTIFY, recertify["reason"], detail)
    return dict(recertify)
