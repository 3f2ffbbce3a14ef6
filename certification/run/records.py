"""What the ledger records of certification runs, read back: a run's row, decisions, results and sign-off state, its
whole status (the data every document, the CLI and the dashboard show), its inputs re-opened and checked against the
hashes it was bound to, and its documents written."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from certification import documents, tracking
from certification.checks.base import CheckResult
from certification.config import Settings, settings
from certification.errors import CertificationError
from certification.governance import findings
from certification.jsonutil import utcnow
from certification.ledger import Ledger, certificates
from certification.run.context import RunContext
from certification.spec import Spec, requirements

# CheckResult field -> check_results column (JSON columns carry the _json suffix)
RESULT_COLUMNS = {
    name: f"{name}_json" if name in {"measured", "threshold", "evidence", "requirements"} else name
    for name in (
        "check_id",
        "stage",
        "status",
        "measured",
        "threshold",
        "rationale",
        "message",
        "evidence",
        "requirements",
    )
}


def result_row(result: CheckResult) -> dict[str, Any]:
    data = result.to_dict()
    return {column: data[name] for name, column in RESULT_COLUMNS.items()}


def airflow_run_id(dag_id: str, dag_run_id: str) -> str:
    """The certification run of an Airflow DAG run: deterministic, so every task (and every retry) of one DAG run
    addresses the same certification run."""
    return "cert-af-" + hashlib.sha256(f"{dag_id}/{dag_run_id}".encode()).hexdigest()[:16]


def run_state(gate: str | None, final: str | None) -> str:
    """Where a run stands, from its gate and final verdicts."""
    if final:
        return final
    if gate:
        return "awaiting_signoff" if gate == "passed" else "rejected"
    return "running"


@dataclass
class SignoffState:
    required: list[str]
    approved: dict[str, str] = field(default_factory=dict)
    rejected: dict[str, str] = field(default_factory=dict)
    deadline: str | None = None
    expired: bool = False

    @property
    def outcome(self) -> str:
        if self.rejected:
            return "rejected"
        if set(self.required) <= set(self.approved):
            return "approved"
        return "expired" if self.expired else "pending"

    @property
    def pending(self) -> list[str]:
        return [r for r in self.required if r not in self.approved and r not in self.rejected]


class Runs:
    """The ledger's certification runs, read; `Pipeline` adds what writes them."""

    def __init__(self, ledger_url: str | None = None) -> None:
        self.settings: Settings = settings(ledger_url)
        self.settings.home.mkdir(parents=True, exist_ok=True)
        self.ledger = Ledger(self.settings.ledger_url)
        self.ledger.ensure_schema()
        tracking.client(self.settings)  # points MLflow at the configured tracking store

    def run_row(self, run_id: str) -> dict[str, Any]:
        run = self.ledger.run(run_id)
        if run is None:
            raise CertificationError(f"unknown run {run_id}")
        return run

    def decision(self, run_id: str, kind: str) -> dict[str, Any] | None:
        return next((d for d in self.ledger.rows("decisions", run_id) if d["kind"] == kind), None)

    def results(self, run_id: str) -> list[CheckResult]:
        return [
            CheckResult.from_dict({name: row[column] for name, column in RESULT_COLUMNS.items()})
            for row in self.ledger.rows("check_results", run_id)
        ]

    def open_context(self, run_id: str) -> RunContext:
        """Re-open a run's inputs and refuse them if any byte changed since the run started."""
        run = self.run_row(run_id)
        spec = Spec.model_validate(run["spec_json"])
        ctx = RunContext.open(spec, self.settings.run_dir(run_id))
        if ctx.model.sha256 != run["model_sha256"]:
            raise CertificationError(f"model changed since the run started ({ctx.model.reference})")
        for name, info in run["datasets_json"].items():
            if ctx.datasets[name]["sha256"] != info["sha256"]:
                raise CertificationError(f"dataset {name} changed since the run started ({info['path']})")
        return ctx

    def signoff_state(self, run_id: str) -> SignoffState:
        run = self.run_row(run_id)
        state = SignoffState(required=list(run["required_roles_json"] or []))
        requested = [e for e in self.ledger.events(run_id) if e["event_type"] == "signoff_requested"]
        if requested:
            state.deadline = json.loads(requested[0]["payload"])["deadline"]
            state.expired = state.deadline < utcnow()
        for row in self.ledger.rows("signoffs", run_id):
            (state.approved if row["decision"] == "approve" else state.rejected)[row["role"]] = row[
                "approver"
            ]
        return state

    def status(self, run_id: str) -> dict[str, Any]:
        run = self.run_row(run_id)
        gate, final = self.decision(run_id, "gate"), self.decision(run_id, "final")
        state = run_state(gate["verdict"] if gate else None, final["verdict"] if final else None)
        issued = self.ledger.rows("certificates", run_id)
        results = [r.to_dict() for r in self.results(run_id)]
        return {
            "run": run,
            "status": state,
            "gate": gate,
            "final": final,
            "results": results,
            "signoffs": self.ledger.rows("signoffs", run_id),
            "findings": [f.to_dict(utcnow()) for f in findings.load(self.ledger, run_id)],
            "signoff_state": self.signoff_state(run_id).__dict__ if gate else None,
            "certificate": issued[0] if issued else None,
            "monitoring": self._monitoring(run_id) if issued else None,
            "traceability": requirements.matrix(Spec.model_validate(run["spec_json"]), results)
            if run["spec_json"]
            else [],
            "run_dir": str(self.settings.run_dir(run_id)),
            "documents": {
                p.name: str(p) for p in documents.existing_documents(self.settings.run_dir(run_id))
            },
        }

    def _monitoring(self, run_id: str) -> dict[str, Any] | None:
        history = certificates.timeline(self.ledger, run_id)
        plot = self.settings.run_dir(run_id) / documents.TREND
        return history and {**history, "trend": str(plot) if plot.exists() else None}

    def write_documents(self, status: dict[str, Any]) -> list[Path]:
        """The run's documents, runbooks naming the certificate a rollback would return to."""
        previous = certificates.rollback_target(self.ledger, status["run"])
        return documents.write_documents(Path(status["run_dir"]), status, previous)
