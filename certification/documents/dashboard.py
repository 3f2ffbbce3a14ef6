"""What the certification dashboard shows: recent runs with their verdicts, the sign-offs each role still owes, and
the state of every certificate (valid, expiring, expired, suspended, revoked). A handful of ledger queries, no Airflow:
the Airflow plugin (plugins/certification_airflow/dashboard.py) serves the page, `overview` works anywhere."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from certification.documents._render import render as render_template
from certification.governance import responsibilities
from certification.jsonutil import iso
from certification.ledger import certificates, decode
from certification.run.records import Runs, run_state

EXPIRING_DAYS = 30
RECENT = "SELECT run_id FROM {s}.runs ORDER BY created_at DESC LIMIT :n"


def overview(pipeline: Runs, *, now: datetime | None = None, limit: int = 200) -> dict[str, Any]:
    ledger = pipeline.ledger
    moment = now or datetime.now(UTC)
    stamp, soon = iso(moment), iso(moment + timedelta(days=EXPIRING_DAYS))
    runs = [
        decode(r)
        for r in ledger.query(
            "SELECT run_id, created_at, origin, submitted_by, use_case, risk_tier, model_reference, "
            "required_roles_json, airflow_run FROM {s}.runs ORDER BY created_at DESC LIMIT :n",
            n=limit,
        )
    ]
    recent = f"WHERE run_id IN ({RECENT})"
    verdicts = {
        (d["run_id"], d["kind"]): d["verdict"]
        for d in ledger.query(f"SELECT run_id, kind, verdict FROM {{s}}.decisions {recent}", n=limit)
    }
    signed: dict[str, dict[str, dict[str, Any]]] = {}
    for row in ledger.query(f"SELECT run_id, role, approver, decision FROM {{s}}.signoffs {recent}", n=limit):
        signed.setdefault(row["run_id"], {})[row["role"]] = row
    deadlines = {
        e["run_id"]: json.loads(e["payload"])["deadline"]
        for e in ledger.query(
            f"SELECT run_id, payload FROM {{s}}.events {recent} AND event_type = 'signoff_requested'", n=limit
        )
    }
    matrix = responsibilities.load()
    pending = []
    for run in runs:
        run["state"] = run_state(
            verdicts.get((run["run_id"], "gate")), verdicts.get((run["run_id"], "final"))
        )
        run["signoffs"] = signed.get(run["run_id"], {})
        if run["state"] != "awaiting_signoff":
            continue
        for role in run["required_roles_json"] or []:
            if role not in run["signoffs"]:
                who = matrix.approvers(role) if matrix else []
                pending.append(
                    {"run": run, "role": role, "approvers": who, "deadline": deadlines.get(run["run_id"])}
                )
    actions = certificates.all_actions(ledger)
    issued = []
    for row in certificates.issued(ledger):
        done = actions.get(row["certificate_id"], set())
        state = certificates.state(row["expires_at"], done, stamp, soon)
        issued.append({**row, "state": state, "recertification": certificates.RECERTIFY in done})
    return {"generated_at": stamp, "runs": runs, "pending": pending, "certificates": issued}


def render(data: dict[str, Any]) -> str:
    return render_template("dashboard.html", d=data)
