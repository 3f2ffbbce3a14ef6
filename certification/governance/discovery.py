"""Which specs in a folder need a certification run: every `*.yaml` / `*.yml` is bound to what a run would certify
(the spec's digest, the model version or file hash, the data files' hashes) and compared with the ledger's runs.

A spec is due when no run ever certified exactly those inputs, or when the certificate that did has expired with no
newer run for them. It is held, not re-run, while a run for those inputs is under way, after a rejection or an error
(the same inputs would fail the same way: a person fixes them or starts a run by hand), and while its certificate
is suspended or revoked (monitoring starts the re-certification after a suspension; a revoked model needs new
inputs). A spec that does not load is reported, never run. Runs started for a due spec get a DAG run id derived from
the inputs and the certificate they replace, so a repeated sweep cannot start a second run for the same thing.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from certification import tracking
from certification.errors import CertificationError
from certification.hashing import file_sha256
from certification.jsonutil import utcnow
from certification.ledger import Ledger, certificates
from certification.spec import Spec, load_spec

Action = Literal["certify", "current", "in_progress", "held", "invalid"]
SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class Survey:
    spec_path: str
    action: Action
    reason: str
    dag_run_id: str | None = None  # for action "certify": the model_certification run to start


def specs(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise CertificationError(f"spec folder {folder} does not exist")
    return sorted(p for p in folder.iterdir() if p.suffix in SUFFIXES and p.is_file())


def survey(ledger: Ledger, folder: Path, now: str | None = None) -> list[Survey]:
    now = now or utcnow()
    return [_survey_one(ledger, path, now) for path in specs(folder)]


def identity(spec: Spec) -> dict[str, Any]:
    """What a run of `spec` would be bound to, as recorded in its `runs` row: spec digest, model, data hashes."""
    datasets = {"evaluation": spec.datasets.evaluation}
    if spec.datasets.train is not None:
        datasets["train"] = spec.datasets.train
    data = {name: file_sha256(Path(ref.path)) for name, ref in datasets.items() if Path(ref.path).is_file()}
    if len(data) < len(datasets):
        missing = sorted(set(datasets) - set(data))
        raise CertificationError(f"data file(s) missing: {', '.join(missing)}")
    model: dict[str, str]
    if spec.model.uri is not None:
        model = {"model_reference": tracking.resolve_version(spec.model.uri)}
    elif spec.model.path is not None:
        path = Path(spec.model.path)
        actual = file_sha256(path) if path.is_file() else "missing"
        if actual != spec.model.sha256:  # a run would refuse it: nothing to start, something to fix
            raise CertificationError(
                f"model file {path}: sha256 is {actual}, the spec pins {spec.model.sha256}"
            )
        model = {"model_sha256": actual}
    else:  # score-only: the predictions table is the model
        model = {"model_sha256": data["evaluation"]}
    return {"spec_sha256": spec.digest(), **model, "data": data}


def _survey_one(ledger: Ledger, path: Path, now: str) -> Survey:
    try:
        wanted = identity(load_spec(path))
    except CertificationError as exc:
        return Survey(str(path), "invalid", str(exc))
    runs = ledger.query(
        "SELECT r.run_id, r.spec_sha256, r.model_reference, r.model_sha256, r.datasets_json, d.verdict, "
        "d.reasons_json, c.certificate_id, c.expires_at FROM {s}.runs r "
        "LEFT JOIN {s}.decisions d ON d.run_id = r.run_id AND d.kind = 'final' "
        "LEFT JOIN {s}.certificates c ON c.run_id = r.run_id "
        "WHERE r.spec_sha256 IS NOT NULL AND (r.spec_sha256 = :spec OR r.spec_source = :path) "
        "ORDER BY r.created_at DESC",
        spec=wanted["spec_sha256"],
        path=str(path),
    )
    same = next((r for r in runs if not _differences(r, wanted)), None)
    if same is None:
        if not runs:
            return _due(path, wanted, None, "never certified")
        changed = " and ".join(_differences(runs[0], wanted))
        return _due(path, wanted, None, f"the {changed} changed since run {runs[0]['run_id']}")
    run_id, verdict = same["run_id"], same["verdict"]
    if verdict is None:
        return Survey(str(path), "in_progress", f"run {run_id} for these inputs is not decided yet")
    if verdict != "certified":
        return Survey(
            str(path),
            "held",
            f"run {run_id} ended {verdict} ({_first_reason(same['reasons_json'])}); "
            "change the model, data or spec, or start a run by hand",
        )
    certificate = same["certificate_id"]
    standing = certificates.state(same["expires_at"], certificates.actions(ledger, certificate), now)
    if standing == "expired":
        return _due(path, wanted, certificate, f"certificate {certificate} expired at {same['expires_at']}")
    if standing not in certificates.STANDING:
        return Survey(str(path), "held", f"certificate {certificate} is {standing}")
    return Survey(str(path), "current", f"certificate {certificate} (run {run_id}) covers these inputs")


def _differences(run: dict[str, Any], wanted: dict[str, Any]) -> list[str]:
    """What of `wanted` a recorded run was not bound to: spec, model, data."""
    recorded = {name: info.get("sha256") for name, info in json.loads(run["datasets_json"] or "{}").items()}
    model = [key for key in ("model_reference", "model_sha256") if key in wanted]
    return [
        part
        for part, same in (
            ("spec", run["spec_sha256"] == wanted["spec_sha256"]),
            ("model", all(run[key] == wanted[key] for key in model)),
            ("data", recorded == wanted["data"]),
        )
        if not same
    ]


def _due(path: Path, wanted: dict[str, Any], replaces: str | None, reason: str) -> Survey:
    key = hashlib.sha256(json.dumps([wanted, replaces], sort_keys=True).encode()).hexdigest()[:16]
    return Survey(str(path), "certify", reason, f"sweep-{key}")


def _first_reason(reasons_json: str) -> str:
    reasons = json.loads(reasons_json)
    return str(reasons[0]) if isinstance(reasons, list) and reasons else str(reasons)
