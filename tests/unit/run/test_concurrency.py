"""Concurrent sign-offs through Pipeline.signoff, on SQLite and real PostgreSQL: the database picks one winner."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from certification import Pipeline
from certification.errors import SignoffRefused
from certification.jsonutil import iso, utcnow

RUN = "cert-concurrency"


def _awaiting_signoff(pipeline: Pipeline) -> None:
    """A run whose gate passed, recorded as Pipeline.start and Pipeline.gate would, without certifying a model."""
    with pipeline.ledger.write() as writer:
        writer.insert(
            "runs",
            {
                "run_id": RUN,
                "created_at": utcnow(),
                "origin": "cli",
                "submitted_by": "dana",
                "spec_source": "spec.yaml",
                "overrides_json": {},
                "spec_sha256": "s" * 64,
                "model_sha256": "m" * 64,
                "datasets_json": {"evaluation": {"sha256": "d" * 64}},
                "required_roles_json": ["risk", "compliance"],
            },
        )
        writer.insert(
            "decisions",
            {
                "run_id": RUN,
                "kind": "gate",
                "verdict": "passed",
                "reasons_json": ["every check passed its threshold"],
                "decided_by": "automated-gate",
                "decided_at": utcnow(),
            },
        )
        deadline = iso(datetime.now(UTC) + timedelta(hours=1))
        writer.event(RUN, "signoff_requested", {"roles": ["risk", "compliance"], "deadline": deadline})


def _race(
    attempts: list[dict[str, str]], sign: Callable[..., dict[str, Any]]
) -> list[dict[str, Any] | Exception]:
    """Run every attempt in its own thread, released together by a barrier."""
    outcomes: list[dict[str, Any] | Exception] = [ValueError("not run")] * len(attempts)
    barrier = threading.Barrier(len(attempts))

    def attempt(i: int) -> None:
        barrier.wait()
        try:
            outcomes[i] = sign(RUN, decision="approve", comment="reviewed", channel="cli", **attempts[i])
        except Exception as exc:
            outcomes[i] = exc

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(len(attempts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def _refusals(pipeline: Pipeline) -> list[dict[str, Any]]:
    return [
        json.loads(e["payload"]) for e in pipeline.ledger.events(RUN) if e["event_type"] == "signoff_refused"
    ]


def test_one_winner_for_the_same_role(ledger_url: str, home: Path) -> None:
    pipeline = Pipeline(ledger_url)
    _awaiting_signoff(pipeline)
    # one Pipeline (and engine) per approver, as separate CLI or Airflow processes would have
    signers = [Pipeline(ledger_url) for _ in range(6)]
    attempts = [{"role": "risk", "approver": f"approver-{i}"} for i in range(6)]
    outcomes = _race(attempts, lambda run, **kw: signers[int(kw["approver"][-1])].signoff(run, **kw))

    won = [o for o in outcomes if isinstance(o, dict)]
    lost = [o for o in outcomes if not isinstance(o, dict)]
    assert len(won) == 1, outcomes
    assert all(isinstance(o, SignoffRefused) for o in lost), lost
    rows = pipeline.ledger.rows("signoffs", RUN)
    assert [(r["role"], r["approver"]) for r in rows] == [("risk", won[0]["approver"])]
    refused = sorted(r["approver"] for r in _refusals(pipeline))
    assert refused == sorted(a["approver"] for a in attempts if a["approver"] != won[0]["approver"])
    assert pipeline.signoff_state(RUN).approved == {"risk": won[0]["approver"]}
    report = pipeline.ledger.verify()
    assert report.ok, report.problems


def test_one_person_cannot_take_two_roles_in_a_race(ledger_url: str, home: Path) -> None:
    pipeline = Pipeline(ledger_url)
    _awaiting_signoff(pipeline)
    attempts = [
        {"role": role, "approver": who} for who in ("alice", "bob") for role in ("risk", "compliance")
    ]
    outcomes = _race(attempts, pipeline.signoff)

    won = [o for o in outcomes if isinstance(o, dict)]
    assert all(isinstance(o, SignoffRefused) for o in outcomes if not isinstance(o, dict)), outcomes
    # whatever the interleaving, each role and each person appears once: alice one role, bob the other
    assert len(won) == 2, outcomes
    rows = pipeline.ledger.rows("signoffs", RUN)
    assert sorted(r["role"] for r in rows) == ["compliance", "risk"]
    assert sorted(r["approver"] for r in rows) == ["alice", "bob"]
    assert len(_refusals(pipeline)) == 2
    assert pipeline.signoff_state(RUN).outcome == "approved"
    report = pipeline.ledger.verify()
    assert report.ok, report.problems
