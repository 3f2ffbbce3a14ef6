"""A certificate under monitoring: the certificate, the run that earned it, and the spec (with its monitoring policy)
the run was bound to."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from certification import tracking
from certification.ledger import Ledger, certificates
from certification.monitoring.watchlist import model_name
from certification.spec import MonitoringPolicy, Spec


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


def monitored(ledger: Ledger, name: str | None = None) -> list[Certified]:
    """Certificates whose spec has a monitoring section (of one model, if named), newest first."""
    selected = []
    for row in certificates.issued(ledger):
        found = load_certified(ledger, row)
        if found.spec.monitoring is not None and (name is None or found.name == name):
            selected.append(found)
    return selected


def load_certified(ledger: Ledger, row: dict[str, Any]) -> Certified:
    """A certificate row with its run and spec."""
    run = ledger.run(row["run_id"])
    assert run is not None  # the schema's foreign key
    return Certified(row, run, Spec.model_validate(run["spec_json"]))
