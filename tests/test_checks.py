"""Checks: fail closed on exceptions, and every reported number matches an independent implementation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

from certification.checks import REGISTRY, Status
from certification.checks.base import Check, compare
from certification.context import RunContext
from certification.spec import load_spec


@pytest.fixture(scope="module")
def ctx(adult_files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> RunContext:
    import yaml

    from tests.conftest import spec_dict

    path = tmp_path_factory.mktemp("spec") / "spec.yaml"
    path.write_text(yaml.safe_dump(spec_dict(adult_files)))
    return RunContext.open(load_spec(path), tmp_path_factory.mktemp("artifacts"))


def _result(ctx: RunContext, check_id: str):  # type: ignore[no-untyped-def]
    found = next(c for stage in REGISTRY.values() for c in stage if c.check_id == check_id)
    return found.run(ctx)


def test_exception_inside_a_check_is_an_error_result(ctx: RunContext) -> None:
    def explode(_: RunContext):  # type: ignore[no-untyped-def]
        raise ValueError("boom")

    result = Check("custom.explodes", "evaluation", ("X",), explode).run(ctx)
    assert result.status is Status.ERROR and "boom" in result.message
    assert result.rationale == ctx.spec.checks.evaluation.rationale


def test_compare_boundaries() -> None:
    assert compare({"a": 0.2}, {"a": ("max", 0.2)}).status is Status.PASS
    assert compare({"a": 0.2000001}, {"a": ("max", 0.2)}).status is Status.FAIL
    assert compare({"a": None}, {"a": ("min", 0.1)}).status is Status.FAIL


def test_evaluation_metrics_match_scikit_learn(ctx: RunContext) -> None:
    y = (ctx.evaluation["income"] == ">50K").to_numpy()
    proba = ctx.model.estimator.predict_proba(ctx.evaluation[ctx.features])[:, 1]
    predicted = ctx.model.estimator.predict(ctx.evaluation[ctx.features]) == ">50K"
    expected = {
        "accuracy": accuracy_score(y, predicted),
        "roc_auc": roc_auc_score(y, proba),
        "f1": f1_score(y, predicted),
    }
    for name, value in expected.items():
        assert _result(ctx, f"evaluation.{name}").measured[name] == pytest.approx(value, abs=1e-12)


def test_fairness_matches_a_pandas_computation(ctx: RunContext) -> None:
    frame = pd.DataFrame(
        {"y": ctx.y_eval, "p": ctx.pred_eval, "sex": ctx.evaluation["sex"], "race": ctx.evaluation["race"]}
    )
    dp = _result(ctx, "fairness.demographic_parity").measured["by_attribute"]
    eo = _result(ctx, "fairness.equalized_odds").measured["by_attribute"]
    for attribute in ("sex", "race"):
        rates = frame.groupby(attribute)["p"].mean()
        assert dp[attribute] == pytest.approx(rates.max() - rates.min(), abs=1e-12)
        tpr = frame[frame.y == 1].groupby(attribute)["p"].mean()
        fpr = frame[frame.y == 0].groupby(attribute)["p"].mean()
        assert eo[attribute] == pytest.approx(max(tpr.max() - tpr.min(), fpr.max() - fpr.min()), abs=1e-12)


def test_data_checks_measure_what_they_claim(ctx: RunContext) -> None:
    missing = _result(ctx, "data.missing_values").measured
    assert missing["worst_column"] == "occupation"
    assert missing["max_missing_fraction"] == pytest.approx(
        pd.concat([ctx.train, ctx.evaluation])["occupation"].isna().mean()
    )
    overlap = _result(ctx, "data.train_eval_overlap").measured
    columns = list(dict.fromkeys([*ctx.features, "income", "sex", "race"]))
    merged = ctx.evaluation[columns].merge(ctx.train[columns].drop_duplicates(), how="left", indicator=True)
    assert overlap["overlapping_rows"] == int((merged["_merge"] == "both").sum())


def test_planted_overlap_is_found(ctx: RunContext) -> None:
    leaked = RunContext(
        ctx.spec,
        ctx.model,
        ctx.train,
        pd.concat([ctx.evaluation, ctx.train.head(500)]),
        ctx.datasets,
        ctx.artifact_dir,
    )
    assert _result(leaked, "data.train_eval_overlap").status is Status.FAIL


def test_robustness_attack_never_moves_frozen_features(ctx: RunContext) -> None:
    result = _result(ctx, "robustness.evasion_hopskipjump")
    assert result.status in {Status.PASS, Status.FAIL}, result.message
    assert set(result.measured["frozen_features"]) == {"age", "education_num"}
    assert not set(result.measured["perturbed_features"]) & {"age", "education_num", "sex", "race"}
    assert 0.0 <= result.measured["attack_success_rate"] <= 1.0


def test_protected_input_without_justification_fails(ctx: RunContext) -> None:
    class WithSex:
        feature_names_in_ = np.array([*ctx.features, "sex"])

    model = type(ctx.model)(WithSex(), "in-memory", "0" * 64)
    assert (
        _result(
            RunContext(ctx.spec, model, ctx.train, ctx.evaluation, ctx.datasets, ctx.artifact_dir),
            "compliance.protected_inputs",
        ).status
        is Status.FAIL
    )
