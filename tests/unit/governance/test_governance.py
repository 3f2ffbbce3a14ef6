"""Change control: `certify registry check` finds every `certified` alias not covered by a valid certificate."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import joblib
import mlflow
import yaml

from certification import Pipeline, tracking
from certification.cli import NOT_CERTIFIED, OK, main
from certification.governance.registry import check_aliases
from certification.jsonutil import iso, utcnow
from tests.helpers import register_model, spec_dict


def test_registry_check_finds_uncovered_aliases(
    home: Path, adult_files: dict[str, Path], tmp_path: Path
) -> None:
    model = joblib.load(adult_files["model"])
    certified, uncertified = register_model(model, "governed"), register_model(model, "governed")
    spec = spec_dict(adult_files)
    spec["model"] = {"uri": f"models:/governed/{certified}"}
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))

    pipeline = Pipeline()
    run_id = pipeline.run_automated(str(path), submitted_by="dana")["run"]["run_id"]
    for role, approver in (("risk", "alice"), ("compliance", "bob")):
        pipeline.signoff(
            run_id, role=role, approver=approver, decision="approve", comment="ok", channel="cli"
        )
    assert pipeline.finalize(run_id)["verdict"] == "certified"
    assert tracking.certified_version(None, "governed") == certified
    assert check_aliases(pipeline.ledger) == [] and main(["registry", "check"]) == OK

    certificate = pipeline.ledger.rows("certificates", run_id)[0]
    later = iso(datetime.fromisoformat(certificate["expires_at"]) + timedelta(days=1))
    [expired] = check_aliases(pipeline.ledger, now=later)
    assert expired.version == certified and "expired" in expired.problem

    client = mlflow.MlflowClient()
    client.set_registered_model_alias(
        "governed", "certified", uncertified
    )  # moved by hand, behind the pipeline
    [unbacked] = check_aliases(pipeline.ledger)
    assert unbacked.version == uncertified and "no certificate" in unbacked.problem
    assert main(["registry", "check"]) == NOT_CERTIFIED

    client.set_model_version_tag(
        "governed", uncertified, "certification.certificate_id", certificate["certificate_id"]
    )
    [borrowed] = check_aliases(pipeline.ledger)  # a certificate copied onto another version does not cover it
    assert f"covers models:/governed/{certified}" in borrowed.problem

    client.set_registered_model_alias("governed", "certified", certified)
    pipeline.ledger.record(
        "certificate_actions",
        {
            "run_id": run_id,
            "certificate_id": certificate["certificate_id"],
            "action": "suspended",
            "reason": "monitoring found drift",
            "window_id": None,
            "detail_json": {},
            "decided_by": "monitoring",
            "recorded_at": utcnow(),
        },
    )
    [suspended] = check_aliases(pipeline.ledger)
    assert "is suspended" in suspended.problem
