"""Which certified models are monitored, and on what schedule: one small JSON file per model under
$CERTIFICATION_HOME/monitoring, written when a certificate is issued. The monitoring DAG file generates one DAG per
file, so parsing it reads a few files and touches no database."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from certification import tracking

if TYPE_CHECKING:
    from certification.spec import Spec


@dataclass(frozen=True)
class Entry:
    model_name: str
    schedule: str
    certificate_id: str
    run_id: str

    @property
    def dag_id(self) -> str:
        return dag_id(self.model_name)


def model_name(run: dict[str, Any], spec: Spec) -> str:
    """The model's name in the inference log: the spec's choice, else its registry name, else the use case."""
    if spec.monitoring is not None and spec.monitoring.model_name:
        return spec.monitoring.model_name
    reference = str(run["model_reference"] or "")
    return tracking.parse_uri(reference)[0] if reference.startswith("models:/") else spec.use_case


def dag_id(model_name: str) -> str:
    return "monitor_" + re.sub(r"[^A-Za-z0-9_.-]", "_", model_name)


def folder(home: Path) -> Path:
    return home / "monitoring"


def register(home: Path, entry: Entry) -> Path:
    """Write (or, on re-certification, replace) the model's entry; the write is atomic for the DAG parser."""
    path = folder(home) / f"{entry.dag_id}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".json.partial")
    partial.write_text(json.dumps(asdict(entry), indent=2))
    partial.replace(path)
    return path


def entries(home: Path) -> list[Entry]:
    found = []
    for path in sorted(folder(home).glob("*.json")):
        try:
            found.append(Entry(**json.loads(path.read_text())))
        except (ValueError, TypeError) as exc:  # one bad file must not hide every other model's DAG
            logging.getLogger(__name__).warning("ignoring %s: %s", path, exc)
    return found
