"""Auditing a model we cannot run (COMPAS, from a CSV of vendor scores), and champion/challenger comparisons
against the registry's certified version."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from scipy.stats import binomtest
from sklearn.metrics import roc_auc_score

from certification.checks import Status
from certification.cli import NOT_CERTIFIED, main
from certification.demo import PROTECTED, adult_model, write_compas_predictions
from certification.demo.datasets import load_adult
from certification.run.context import RunContext
from certification.spec import load_spec
from tests.helpers import register_model, run_check, spec_dict


def _certify(capsys: pytest.CaptureFixture[str], spec: Path) -> tuple[int, dict]:
    code = main(["--json", "run", str(spec), "--submitted-by", "dana"])
    return code, json.loads(capsys.readouterr().out)


def test_score_only_audit_of_compas_from_a_csv(home: Path, tmp_path: Path, capsys) -> None:
    spec = write_compas_predictions(tmp_path / "compas")
    code, status = _certify(capsys, spec)
    results = {r["check_id"]: r for r in status["results"]}
    assert code == NOT_CERTIFIED and status["status"] == "rejected"

    table = pd.read_csv(tmp_path / "compas" / "compas_predictions.csv")
    estimates = results["evaluation.performance"]["measured"]["estimates"]
    assert estimates["roc_auc"]["value"] == pytest.approx(
        roc_auc_score(table["two_year_recid"], table["decile_score"]), abs=1e-12
    )
    assert (
        0.6
        < estimates["roc_auc"]["ci_lower"]
        < estimates["roc_auc"]["value"]
        < estimates["roc_auc"]["ci_upper"]
    )
    for needs_model in (
        "robustness.evasion",
        "evaluation.latency",
        "evaluation.cross_validation",
    ):
        assert results[needs_model]["status"] == "not_applicable", results[needs_model]
    assert results["evaluation.slices"]["status"] in {"pass", "fail"}
    assert results["fairness.equalized_odds"]["status"] == "fail"  # ProPublica's finding, reproduced
    assert status["run"]["model_reference"].startswith("predictions:")
    assert status["run"]["model_sha256"] == status["run"]["datasets_json"]["evaluation"]["sha256"]
    reasons = " ".join(status["final"]["reasons_json"])
    assert "fairness.equalized_odds" in reasons and "robustness" not in reasons
    assert Path(status["documents"]["report.html"]).exists()

    strict = yaml.safe_load(spec.read_text())
    strict["checks"]["not_applicable_blocks"] = ["robustness"]
    spec.write_text(yaml.safe_dump(strict))
    _, status = _certify(capsys, spec)
    assert any(r.startswith("robustness.evasion: not_applicable") for r in status["final"]["reasons_json"])


def test_champion_challenger_flags_a_significantly_worse_version(
    home: Path, adult_files: dict[str, Path], tmp_path: Path
) -> None:
    import mlflow

    train = load_adult("train")
    features = [c for c in train.columns if c not in (*PROTECTED, "income")]
    champion = register_model(adult_model(train, features), "challenged")
    weaker = register_model(
        adult_model(train, ["age", "education_num", "hours_per_week", "workclass"]), "challenged"
    )
    equal = register_model(adult_model(train, features), "challenged")
    mlflow.MlflowClient().set_registered_model_alias("challenged", "certified", champion)

    def ctx_for(version: str) -> RunContext:
        spec = spec_dict(adult_files)
        spec["model"] = {"uri": f"models:/challenged/{version}"}
        path = tmp_path / f"spec-{version}.yaml"
        path.write_text(yaml.safe_dump(spec))
        return RunContext.open(load_spec(path), tmp_path / f"artifacts-{version}")

    worse = ctx_for(weaker)
    result = run_check(worse, "evaluation.champion_challenger")
    assert result.status is Status.FAIL and result.measured["significantly_worse"], result.message
    champion_ctx = ctx_for(champion)
    old, new = champion_ctx.pred_eval == champion_ctx.y_eval, worse.pred_eval == worse.y_eval
    b, c = int((old & ~new).sum()), int((~old & new).sum())
    assert (result.measured["mcnemar"]["b"], result.measured["mcnemar"]["c"]) == (b, c)
    assert result.measured["mcnemar"]["p_value"] == pytest.approx(binomtest(b, b + c, 0.5).pvalue, rel=1e-12)

    same = run_check(ctx_for(equal), "evaluation.champion_challenger")
    assert (
        same.status is Status.PASS
        and same.measured["difference_challenger_minus_champion"]["difference"] == 0
    )
    assert run_check(champion_ctx, "evaluation.champion_challenger").status is Status.NOT_APPLICABLE
