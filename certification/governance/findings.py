"""Findings of red teams and independent evaluators on a certification run, and waivers of them.

They live as events in the hash-chained ledger (`finding_added`, `finding_resolved`, `finding_waived`), so nobody can
quietly drop one. A high or critical finding that is neither resolved nor under an unexpired waiver blocks the run:
no role may approve while it is open, and a run whose approvals are complete is rejected if one is open when it is
decided. Waivers come only from people the responsibility matrix lets waive, and always expire.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from certification.errors import InputError, SignoffRefused
from certification.governance import responsibilities
from certification.jsonutil import iso, utcnow
from certification.ledger import Ledger

SEVERITIES = ("low", "medium", "high", "critical")
BLOCKING = frozenset({"high", "critical"})
ADDED, RESOLVED, WAIVED = "finding_added", "finding_resolved", "finding_waived"
MAX_WAIVER_DAYS = 365


@dataclass
class Finding:
    finding_id: str
    run_id: str
    severity: str
    title: str
    detail: str
    raised_by: str
    raised_at: str
    resolution: dict[str, Any] | None = None
    waiver: dict[str, Any] | None = None

    def state(self, now: str) -> str:
        if self.resolution:
            return "resolved"
        if self.waiver:
            return "waived" if self.waiver["expires_at"] > now else "waiver_expired"
        return "open"

    def blocks(self, now: str) -> bool:
        return self.severity in BLOCKING and self.state(now) in {"open", "waiver_expired"}

    def to_dict(self, now: str) -> dict[str, Any]:
        return {**asdict(self), "state": self.state(now), "blocking": self.blocks(now)}

    def __str__(self) -> str:
        return f"{self.finding_id} ({self.severity}): {self.title}"


def from_events(events: list[dict[str, Any]]) -> list[Finding]:
    """A run's findings with their latest resolution and waiver, oldest first, from its ledger events."""
    found: dict[str, Finding] = {}
    for event in events:
        payload = json.loads(event["payload"]) if isinstance(event["payload"], str) else event["payload"]
        if event["event_type"] == ADDED:
            found[payload["finding_id"]] = Finding(run_id=event["run_id"], **payload)
        elif event["event_type"] in (RESOLVED, WAIVED) and payload["finding_id"] in found:
            target = found[payload.pop("finding_id")]
            if event["event_type"] == RESOLVED:
                target.resolution = payload
            else:
                target.waiver = payload
    return list(found.values())


def load(ledger: Ledger, run_id: str) -> list[Finding]:
    return from_events(ledger.events(run_id))


def blocking(ledger: Ledger, run_id: str, now: str | None = None) -> list[Finding]:
    now = now or utcnow()
    return [f for f in load(ledger, run_id) if f.blocks(now)]


def _open_run(ledger: Ledger, run_id: str) -> dict[str, Any]:
    run = ledger.run(run_id)
    if run is None:
        raise InputError(run_id, "no such certification run")
    if ledger.query("SELECT 1 FROM {s}.decisions WHERE run_id = :r AND kind = 'final'", r=run_id):
        raise SignoffRefused(f"{run_id} is already decided; findings on it need a new certification run")
    return run


def _required(value: str, name: str) -> str:
    if not value.strip():
        raise InputError(name, "must not be empty")
    return value.strip()


def add(ledger: Ledger, run_id: str, *, severity: str, title: str, detail: str = "", by: str) -> Finding:
    _open_run(ledger, run_id)
    if severity not in SEVERITIES:
        raise InputError("severity", f"must be one of {SEVERITIES}, not {severity!r}")
    finding = Finding(
        finding_id=f"F-{uuid.uuid4().hex[:8].upper()}",
        run_id=run_id,
        severity=severity,
        title=_required(title, "title"),
        detail=detail.strip(),
        raised_by=_required(by, "raised by"),
        raised_at=utcnow(),
    )
    payload = asdict(finding)
    for key in ("run_id", "resolution", "waiver"):
        payload.pop(key)
    ledger.log(run_id, ADDED, payload)
    return finding


def _settle(
    ledger: Ledger, run_id: str, finding_id: str, by: str, kind: str, entry: dict[str, Any]
) -> Finding:
    """Record a resolution or waiver by someone other than the run's submitter (four eyes), inside the ledger's
    write lock so that two people settling the same finding leave one record."""
    run = _open_run(ledger, run_id)
    by = _required(by, "by")
    if by.lower() == str(run["submitted_by"]).strip().lower():
        raise SignoffRefused(f"{by} submitted {run_id} and cannot settle findings on it")
    with ledger.write() as writer:
        finding = next((f for f in from_events(writer.events(run_id)) if f.finding_id == finding_id), None)
        if finding is None:
            raise InputError(finding_id, f"no such finding on run {run_id}")
        if finding.state(utcnow()) in {"resolved", "waived"}:
            raise SignoffRefused(f"{finding} is already {finding.state(utcnow())}")
        record = {"finding_id": finding_id, "by": by, "at": utcnow(), **entry}
        writer.event(run_id, kind, record)
    return next(f for f in load(ledger, run_id) if f.finding_id == finding_id)


def resolve(ledger: Ledger, run_id: str, finding_id: str, *, by: str, comment: str) -> Finding:
    return _settle(ledger, run_id, finding_id, by, RESOLVED, {"comment": _required(comment, "comment")})


def waive(
    ledger: Ledger,
    run_id: str,
    finding_id: str,
    *,
    by: str,
    reason: str,
    days: int,
    now: datetime | None = None,
) -> Finding:
    matrix = responsibilities.load()
    if matrix is not None and not matrix.may_waive(by):
        raise SignoffRefused(f"{by} may not waive findings under the responsibility matrix ({matrix.source})")
    if not 1 <= days <= MAX_WAIVER_DAYS:
        raise InputError("days", f"a waiver lasts 1 to {MAX_WAIVER_DAYS} days, not {days}")
    expires = (now or datetime.now(UTC)) + timedelta(days=days)
    entry = {"reason": _required(reason, "reason"), "expires_at": iso(expires)}
    return _settle(ledger, run_id, finding_id, by, WAIVED, entry)
