"""What the ledger says about certificates: whether one stands (`state`, the one rule every reader applies), what was
done to it (suspended, expired, revoked, re-certification requested), its monitored windows and its history."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from certification.jsonutil import utcnow
from certification.ledger._chain import decode
from certification.ledger._store import Ledger

CERTIFICATION_DAG = "model_certification"
# the actions that withdraw a certificate, strongest first: a revocation outranks a suspension, which outranks expiry
WITHDRAWN = ("revoked", "suspended", "expired")
RECERTIFY = "recertification_requested"
STANDING = ("valid", "expiring")


def withdrawal(actions: Iterable[str]) -> str | None:
    """The strongest recorded action that withdrew a certificate, or None if none did."""
    done = set(actions)
    return next((action for action in WITHDRAWN if action in done), None)


def state(expires_at: str, actions: Iterable[str], now: str, soon: str | None = None) -> str:
    """Whether a certificate stands at `now`: a recorded withdrawal decides (revoked, suspended, expired); otherwise
    the validity period does, and a certificate is expired from the instant `expires_at` on. `soon` (optional) marks
    a standing certificate that expires by then as expiring."""
    withdrawn = withdrawal(actions)
    if withdrawn:
        return withdrawn
    if expires_at <= now:
        return "expired"
    return "expiring" if soon is not None and expires_at <= soon else "valid"


def stands(expires_at: str, actions: Iterable[str], now: str) -> bool:
    return state(expires_at, actions, now) in STANDING


def certificate(ledger: Ledger, certificate_id: str) -> dict[str, Any] | None:
    rows = ledger.query("SELECT * FROM {s}.certificates WHERE certificate_id = :c", c=certificate_id)
    return decode(rows[0]) if rows else None


def issued(ledger: Ledger) -> list[dict[str, Any]]:
    """Every certificate (id, run, validity) with its run's use case and model reference, newest first."""
    return ledger.query(
        "SELECT c.certificate_id, c.run_id, c.issued_at, c.expires_at, r.use_case, r.model_reference "
        "FROM {s}.certificates c JOIN {s}.runs r ON r.run_id = c.run_id ORDER BY c.issued_at DESC"
    )


def actions(ledger: Ledger, certificate_id: str) -> dict[str, dict[str, Any]]:
    """What was done to a certificate, in the order it was recorded: action -> its row."""
    rows = ledger.query(
        "SELECT * FROM {s}.certificate_actions WHERE certificate_id = :c ORDER BY recorded_at",
        c=certificate_id,
    )
    return {r["action"]: decode(r) for r in rows}


def all_actions(ledger: Ledger) -> dict[str, set[str]]:
    """certificate id -> the actions recorded on it, for every certificate at once."""
    found: dict[str, set[str]] = {}
    for row in ledger.query("SELECT certificate_id, action FROM {s}.certificate_actions"):
        found.setdefault(row["certificate_id"], set()).add(row["action"])
    return found


def withdrawn(ledger: Ledger, certificate_id: str) -> str | None:
    """The action that withdrew a certificate (revoked, suspended, expired), or None while none did."""
    return withdrawal(actions(ledger, certificate_id))


def window(ledger: Ledger, window_id: str) -> dict[str, Any] | None:
    rows = ledger.query("SELECT * FROM {s}.monitoring_windows WHERE window_id = :w", w=window_id)
    return decode(rows[0]) if rows else None


def windows(ledger: Ledger, certificate_id: str) -> list[dict[str, Any]]:
    """The monitored windows judged under a certificate, oldest first."""
    rows = ledger.query(
        "SELECT * FROM {s}.monitoring_windows WHERE certificate_id = :c ORDER BY window_end", c=certificate_id
    )
    return [decode(w) for w in rows]


def timeline(ledger: Ledger, run_id: str) -> dict[str, Any] | None:
    """A certificate's life after issue: its judged windows, what was done to it, and the run that replaces it."""
    found = ledger.rows("certificates", run_id)
    if not found:
        return None
    issued_row = found[0]
    judged = windows(ledger, issued_row["certificate_id"])
    done = actions(ledger, issued_row["certificate_id"])
    successor = None
    if RECERTIFY in done:
        runs = ledger.query(
            "SELECT run_id, created_at, submitted_by FROM {s}.runs WHERE airflow_run = :a",
            a=done[RECERTIFY]["detail_json"]["dag_run_id"],
        )
        if runs:
            final = [d for d in ledger.rows("decisions", runs[0]["run_id"]) if d["kind"] == "final"]
            successor = {**runs[0], "verdict": final[0]["verdict"] if final else "running"}
    events = [(issued_row["issued_at"], "issued", f"certificate {issued_row['certificate_id']} issued")]
    events += [
        (w["recorded_at"], "breach", f"window ending {w['window_end']}: " + "; ".join(w["breaches_json"]))
        for w in judged
        if w["status"] == "breach"
    ]
    breached = {w["window_id"]: w["window_end"] for w in judged if w["status"] == "breach"}
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
        "certificate_id": issued_row["certificate_id"],
        "state": state(issued_row["expires_at"], done, utcnow()),
        "windows": judged,
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


def rollback_target(ledger: Ledger, run: dict[str, Any]) -> dict[str, Any] | None:
    """The newest standing certificate of another version of the same registry model (`models:/name/N`): where a
    rollback goes."""
    reference = str(run["model_reference"] or "")
    found = re.fullmatch(r"models:/([^/@]+)(?:/\d+|@[\w-]+)", reference)
    if not found:
        return None
    rows = ledger.query(
        "SELECT c.certificate_id, c.run_id, c.issued_at, c.expires_at, r.model_reference FROM {s}.certificates c "
        "JOIN {s}.runs r ON r.run_id = c.run_id WHERE r.model_reference <> :ref ORDER BY c.issued_at DESC",
        ref=reference,
    )
    now = utcnow()
    return next(
        (
            row
            for row in rows
            if re.fullmatch(rf"models:/{re.escape(found[1])}/\d+", str(row["model_reference"] or ""))
            and stands(row["expires_at"], actions(ledger, row["certificate_id"]), now)
        ),
        None,
    )
