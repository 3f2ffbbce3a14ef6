"""Stress, fallback and edge-case checks on real Adult models, with every number recomputed independently."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest, ttest_rel
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from certification import stats
from certification.checks import Status
from certification.checks.robustness import stress
from certification.checks.robustness.checks import feature_space
from certification.models import LoadedModel
from certification.run.context import RunContext
from certification.spec import FallbackPolicy, StressPolicy
from tests.helpers import FROZEN, context_like, robustness_context, run_check

CHECKS = ("robustness.stress", "robustness.confidence_fallback", "robustness.edge_cases")


@pytest.fixture(scope="module")
def ctx(adult_files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> RunContext:
    return robustness_context(adult_files, tmp_path_factory.mktemp("stress"))


def _model(ctx: RunContext, estimator: Any) -> RunContext:
    return RunContext(
        ctx.spec, LoadedModel(estimator, "in-memory", "0" * 64), ctx.train, ctx.evaluation, ctx.datasets,
        ctx.artifact_dir,
    )  # fmt: skip


def _stress(ctx: RunContext, **change: Any) -> RunContext:
    policy = ctx.spec.checks.robustness.stress.model_dump()
    return context_like(ctx, stress=StressPolicy.model_validate({**policy, **change}))


def test_stressed_inputs_keep_to_the_schema(ctx: RunContext) -> None:
    base = ctx.evaluation[ctx.features].iloc[:3000].reset_index(drop=True)
    space = feature_space(ctx)
    policy = StressPolicy.model_validate({"missing_rate": 0.2, "category_swap_rate": 0.2})
    built = {name: make() for name, make in stress.scenarios(space, base, policy, seed=0).items()}
    assert len(built) == 3
    for name, changed in built.items():
        for column in FROZEN:
            if column in ctx.features:
                assert changed[column].equals(base[column]), (name, column)
        if "missing" not in name:
            assert space.violations(base, changed) == [], name
    blanked = built["20% values missing"][space.numeric + space.categorical].isna().to_numpy().mean()
    assert 0.18 < blanked - base[space.numeric + space.categorical].isna().to_numpy().mean() < 0.22
    swapped = built["20% categories swapped"]
    for column, seen in space.categories.items():
        moved = (swapped[column] != base[column]) & base[column].notna()
        assert 0.16 < moved.mean() < 0.24, column  # every drawn row really changes category
        assert swapped[column].dropna().isin(seen).all(), column


def test_stress_figures_match_an_independent_recount(ctx: RunContext) -> None:
    target = _stress(
        ctx, sample_size=2000, shifts=[{"name": "hours +5", "column": "hours_per_week", "add": 5}]
    )
    result = run_check(target, "robustness.stress")
    assert result.status is Status.PASS, result.message
    scenarios = result.measured["scenarios"]
    assert set(scenarios) == {
        "gaussian noise σ=0.1", "5% values missing", "5% categories swapped", "shift: hours +5",
    }  # fmt: skip
    sample = np.random.default_rng(0).permutation(len(ctx.evaluation))[:2000]
    base = ctx.evaluation.iloc[sample][ctx.features].reset_index(drop=True)
    model, y = ctx.model.estimator, ctx.y_eval[sample]  # type: ignore[union-attr]
    before = model.predict(base) == ">50K"
    shifted = base.assign(hours_per_week=base["hours_per_week"] + 5)
    after = model.predict(shifted) == ">50K"
    figures = scenarios["shift: hours +5"]
    flips = int((before != after).sum())
    exact = binomtest(flips, len(y)).proportion_ci(0.95, method="exact")
    assert figures["flip_rate"]["value"] == flips / len(y)
    assert figures["flip_rate"]["ci_lower"] == pytest.approx(exact.low)
    assert figures["flip_rate"]["ci_upper"] == pytest.approx(exact.high)
    drop = (before == y).astype(float), (after == y).astype(float)
    assert figures["accuracy_drop"]["value"] == pytest.approx(drop[0].mean() - drop[1].mean())
    paired = ttest_rel(*drop).confidence_interval(0.95)
    assert figures["accuracy_drop"]["ci_lower"] == pytest.approx(paired.low)
    assert figures["accuracy_drop"]["ci_upper"] == pytest.approx(paired.high)


def test_a_spec_shift_the_model_cannot_absorb_fails(ctx: RunContext) -> None:
    windfall = {"name": "capital gain +10,000", "column": "capital_gain", "add": 10_000}
    result = run_check(_stress(ctx, sample_size=500, shifts=[windfall]), "robustness.stress")
    assert result.status is Status.FAIL
    assert result.measured["worst_flip_scenario"] == "shift: capital gain +10,000"
    assert result.measured["flip_rate"] > 0.10
    unknown = {"name": "x", "column": "no_such_column", "multiply": 2}
    assert run_check(_stress(ctx, shifts=[unknown]), "robustness.stress").status is Status.ERROR


def _strict_linear(ctx: RunContext) -> Any:
    """Logistic regression with no imputation and no tolerance for unseen categories: brittle by construction."""
    assert ctx.train is not None
    categorical = [c for c in ctx.features if not pd.api.types.is_numeric_dtype(ctx.train[c])]
    columns = ColumnTransformer([("categorical", OneHotEncoder(), categorical)], remainder=StandardScaler())
    return make_pipeline(columns, LogisticRegression(max_iter=500)).fit(
        ctx.train[ctx.features], ctx.train["income"]
    )


def test_a_model_that_crashes_on_blanks_and_new_categories_fails(ctx: RunContext) -> None:
    demo = {check: run_check(ctx, check) for check in ("robustness.stress", "robustness.edge_cases")}
    assert all(r.status is Status.PASS for r in demo.values()), {k: r.message for k, r in demo.items()}
    assert demo["robustness.edge_cases"].measured["cases"] > 3 * len(ctx.features)
    strict = _model(ctx, _strict_linear(ctx))
    stressed, edges = (run_check(strict, check) for check in ("robustness.stress", "robustness.edge_cases"))
    assert stressed.status is Status.FAIL
    assert stressed.measured["scenarios"]["5% values missing"]["error"].startswith("ValueError")
    assert "scoring failed under 5% values missing" in stressed.message
    assert edges.status is Status.FAIL
    failures = edges.measured["failures"]
    assert "workclass: unseen category" in failures and "hours_per_week: missing" in failures
    assert "hours_per_week: training maximum" not in failures


def test_confidence_fallback(ctx: RunContext) -> None:
    unspecified = context_like(ctx, fallback=None)
    assert run_check(unspecified, "robustness.confidence_fallback").status is Status.NOT_APPLICABLE
    fallback = {"abstain_below": 0.8, "min_coverage": 0.6, "min_accepted_accuracy": 0.9}
    result = run_check(
        context_like(ctx, fallback=FallbackPolicy(**fallback)), "robustness.confidence_fallback"
    )
    score = ctx.model.estimator.predict_proba(ctx.evaluation[ctx.features])[:, 1]  # type: ignore[union-attr]
    accepted = (score >= 0.8) | (score <= 0.2)
    predicted = np.where(score >= 0.5, ">50K", "<=50K")
    truth = ctx.evaluation["income"].to_numpy()
    assert result.measured["coverage"] == pytest.approx(accepted.mean())
    assert result.measured["accepted_accuracy"] == pytest.approx(
        accuracy_score(truth[accepted], predicted[accepted])
    )
    assert result.measured["accepted_accuracy"] > result.measured["overall_accuracy"]
    assert result.status is Status.PASS, result.message
    exact = binomtest(int(accepted.sum()), len(accepted)).proportion_ci(0.95, method="exact")
    assert result.measured["coverage_interval"]["ci_lower"] == pytest.approx(exact.low)
    demanding = {**fallback, "min_accepted_accuracy": 0.99}
    assert (
        run_check(
            context_like(ctx, fallback=FallbackPolicy(**demanding)), "robustness.confidence_fallback"
        ).status
        is Status.FAIL
    )


@pytest.mark.parametrize("seed", range(5))
def test_paired_difference_is_the_paired_t_interval(seed: int) -> None:
    rng = np.random.default_rng(seed)
    before, after = rng.integers(0, 2, 300), rng.integers(0, 2, 300)
    found = stats.paired_difference(before, after, 0.9)
    exact = ttest_rel(before, after).confidence_interval(0.9)
    assert (found.lower, found.upper) == pytest.approx((exact.low, exact.high))
    same = stats.paired_difference(before, before)
    assert (same.value, same.lower, same.upper) == (0.0, 0.0, 0.0)
