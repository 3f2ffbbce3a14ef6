"""Evasion attacks on real Adult models: valid inputs only, budgets that mean something, verdicts that discriminate."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from certification import stats
from certification.checks import CheckResult, Status
from certification.checks.robustness.perturbation import FeatureSpace
from certification.models import LoadedModel
from certification.run.context import RunContext
from tests.helpers import FROZEN, context_like, robustness_context, run_check, with_frames


def _with_model(ctx: RunContext, estimator: Any) -> RunContext:
    return with_frames(ctx, model=LoadedModel(estimator, "in-memory", "0" * 64))


def _pipeline(train: pd.DataFrame, features: list[str], final: Any) -> Pipeline:
    categorical = [c for c in features if not pd.api.types.is_numeric_dtype(train[c])]
    encode = make_pipeline(
        SimpleImputer(strategy="constant", fill_value="missing"), OneHotEncoder(handle_unknown="ignore")
    )
    columns = ColumnTransformer(
        [
            ("categorical", encode, categorical),
            ("numeric", StandardScaler(), [c for c in features if c not in categorical]),
        ]
    )
    return make_pipeline(columns, final).fit(train[features], train["income"])


@pytest.fixture(scope="module")
def ctx(adult_files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> RunContext:
    return robustness_context(adult_files, tmp_path_factory.mktemp("robust"), sample_size=30, max_iter=3)


@pytest.fixture(scope="module")
def linear(ctx: RunContext) -> Pipeline:
    assert ctx.train is not None
    return _pipeline(ctx.train, ctx.features, LogisticRegression(max_iter=2000))


def _examples(result: CheckResult) -> pd.DataFrame:
    return pd.read_csv(next(e for e in result.evidence if e.endswith(".csv")), keep_default_na=False)


def _assert_valid(ctx: RunContext, result: CheckResult) -> None:
    """Written apart from FeatureSpace.violations: every adversarial row is a row the model could really get."""
    assert result.status in {Status.PASS, Status.FAIL}, result.message
    examples = _examples(result)
    assert len(examples) > 0
    evaluation = pd.read_csv(ctx.datasets["evaluation"]["path"], keep_default_na=False)
    originals = evaluation.loc[examples["evaluation_row"]].reset_index(drop=True)
    assert ctx.train is not None
    train = pd.read_csv(ctx.datasets["train"]["path"], keep_default_na=False)
    moved = result.measured["perturbed_features"]
    assert moved and not set(moved) & set(FROZEN)
    for column in ctx.features:
        if column not in moved:  # frozen and categorical features: exactly as they were
            assert (examples[column].astype(str) == originals[column].astype(str)).all(), column
            continue
        values = examples[column].astype(float)
        assert values.between(train[column].min(), train[column].max()).all(), column
        assert (values == values.round()).all(), column  # Adult's numeric features are integers


@pytest.mark.parametrize("model", ["gradient boosting (HopSkipJump)", "logistic regression (PGD)"])
def test_attacks_only_produce_valid_inputs(ctx: RunContext, linear: Pipeline, model: str) -> None:
    target = _with_model(ctx, linear) if "logistic" in model else ctx
    result = run_check(target, "robustness.evasion")
    assert result.measured["method"] == ("pgd" if "logistic" in model else "hopskipjump")
    _assert_valid(target, result)
    curve = result.measured["curve"]
    assert [p["epsilon"] for p in curve] == sorted(p["epsilon"] for p in curve)
    rates = [p["attack_success_rate"]["value"] for p in curve]
    assert rates == sorted(rates)  # a flip within a small budget is within every larger one
    judged = next(p for p in curve if p["epsilon"] == result.measured["epsilon"])
    flipped = round(judged["attack_success_rate"]["value"] * result.measured["correctly_classified"])
    exact = binomtest(flipped, result.measured["correctly_classified"]).proportion_ci(0.95, method="exact")
    assert judged["attack_success_rate"]["ci_lower"] == pytest.approx(exact.low, abs=1e-9)
    assert judged["attack_success_rate"]["ci_upper"] == pytest.approx(exact.high, abs=1e-9)


def test_one_hot_groups_never_break(adult_files: dict[str, Path], tmp_path: Path) -> None:
    """A model on one-hot-encoded Adult: indicator columns are one categorical feature, and race is frozen."""
    ctx = robustness_context(adult_files, tmp_path, sample_size=20, one_hot_groups={})
    assert ctx.train is not None
    groups: dict[str, list[str]] = {}
    frames = []
    for frame in (ctx.train, ctx.evaluation):
        encoded = pd.get_dummies(frame, columns=["workclass", "race"], dtype=int)
        frames.append(encoded)
    columns = sorted(set(frames[0].columns) | set(frames[1].columns))
    train, evaluation = (f.reindex(columns=columns, fill_value=0) for f in frames)
    for group in ("workclass", "race"):
        groups[group] = [c for c in columns if c.startswith(f"{group}_")]
    features = [
        "age",
        "education_num",
        "hours_per_week",
        "capital_gain",
        *groups["workclass"],
        *groups["race"],
    ]
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(
        train[features], train["income"]
    )
    policy = ctx.spec.checks.robustness.model_copy(update={"one_hot_groups": groups})
    spec = ctx.spec.model_copy(
        update={
            "checks": ctx.spec.checks.model_copy(update={"robustness": policy}),
            "protected_attributes": ["sex", "race"],
        }
    )
    target = RunContext(
        spec, LoadedModel(model, "in-memory", "0" * 64), train, evaluation, ctx.datasets, tmp_path
    )
    result = run_check(target, "robustness.evasion")
    assert result.status in {Status.PASS, Status.FAIL}, result.message
    assert set(result.measured["perturbed_features"]) == {"hours_per_week", "capital_gain"}
    examples = _examples(result)
    originals = evaluation.loc[examples["evaluation_row"]].reset_index(drop=True)
    for group in groups.values():
        assert (examples[group].sum(axis=1) == originals[group].sum(axis=1)).all()
        assert (examples[group].to_numpy() == originals[group].to_numpy()).all()


def test_pgd_finds_what_the_exact_linear_solution_allows(ctx: RunContext, linear: Pipeline) -> None:
    """For a linear model the smallest flipping move in a box is closed-form: PGD must not beat it, nor lag far."""
    target = _with_model(context_like(ctx, sample_size=200), linear)
    result = run_check(target, "robustness.evasion")
    space = FeatureSpace.build(target.train, target.features, {"age", "education_num", "sex", "race"}, {})  # type: ignore[arg-type]
    sample = np.random.default_rng(0).permutation(len(target.evaluation))[:200]
    base = target.evaluation.iloc[sample]
    pre, final = linear[0], linear[-1]
    margin = final.decision_function(pre.transform(base[target.features]))
    scaler = pre.named_transformers_["numeric"]
    numeric = list(pre.transformers_[1][2])
    weights = dict(zip(numeric, final.coef_[0][-len(numeric) :], strict=True))
    positive = (linear.predict(base[target.features]) == ">50K").astype(int)
    correct = positive == target.y_eval[sample]
    for point in result.measured["curve"]:
        eps = point["epsilon"]
        reach = np.zeros(len(base))
        for j, column in enumerate(
            space.numeric
        ):  # push each feature against the margin, as far as box and ε allow
            w = weights[column] / scaler.scale_[numeric.index(column)]
            x = base[column].to_numpy(dtype=float)
            toward = np.where(margin > 0, -np.sign(w), np.sign(w))
            room = np.where(toward > 0, space.upper[j] - x, x - space.lower[j])
            reach += abs(w) * np.minimum(eps * space.std[j], room)
        exact = (reach >= np.abs(margin))[correct].mean()
        assert point["attack_success_rate"]["value"] <= exact + 1e-9, eps
        assert point["attack_success_rate"]["value"] >= exact - 0.05, eps


def test_brittle_model_fails_where_a_robust_one_passes(ctx: RunContext, linear: Pipeline) -> None:
    """One spec, two linear models: the brittle one leans twenty times harder on self-reported hours and capital."""
    brittle = copy.deepcopy(linear)
    numeric = list(linear[0].transformers_[1][2])
    coef = brittle[-1].coef_
    for column in ("fnlwgt", "capital_gain", "capital_loss", "hours_per_week"):
        coef[0, coef.shape[1] - len(numeric) + numeric.index(column)] *= 20
    spec = context_like(ctx, epsilon=0.25, max_attack_success_rate=0.25, sample_size=30)
    robust, fragile = (run_check(_with_model(spec, m), "robustness.evasion") for m in (linear, brittle))
    assert robust.measured["method"] == fragile.measured["method"] == "pgd"
    assert robust.status is Status.PASS, robust.message
    assert fragile.status is Status.FAIL, fragile.message
    assert fragile.measured["attack_success_rate"] > 3 * robust.measured["attack_success_rate"]


def test_time_budget_samples_fewer_rows_and_says_so(ctx: RunContext) -> None:
    target = context_like(ctx, sample_size=60, time_budget_seconds=0.01)
    result = run_check(target, "robustness.evasion")
    assert result.measured["stopped_by_time_budget"] is True
    assert 0 < result.measured["rows_attacked"] < 60
    assert "stopped by the stage's time budget" in result.message


def test_feature_space_names_every_invalid_change(ctx: RunContext) -> None:
    assert ctx.train is not None
    space = FeatureSpace.build(ctx.train, ctx.features, {"age", "sex"}, {})
    base = ctx.evaluation[ctx.features].head(50).reset_index(drop=True)
    wild = space.apply(base, np.random.default_rng(0).normal(0, 50, (50, len(space.numeric))))
    assert space.violations(base, wild) == []  # clipped to the training range, integers rounded
    assert (space.distance(base, wild) > 0).all()
    broken = wild.assign(age=wild["age"] + 1, hours_per_week=wild["hours_per_week"] + 0.5)
    broken.loc[0, "workclass"] = "Astronaut"
    broken.loc[1, "capital_gain"] = 10**9
    problems = " | ".join(space.violations(base, broken))
    for fragment in (
        "'age' changed",
        "'hours_per_week' holds a fraction",
        "'workclass' holds a category",
        "'capital_gain' left",
    ):
        assert fragment in problems, problems


def test_proportion_interval_is_clopper_pearson() -> None:
    for k, n in [(0, 10), (3, 10), (10, 10), (17, 40), (1, 1000)]:
        found, exact = stats.proportion(k, n, 0.9), binomtest(k, n).proportion_ci(0.9, method="exact")
        assert (found.value, found.lower, found.upper) == pytest.approx(
            (k / n, exact.low, exact.high), abs=1e-12
        )
    assert np.isnan(stats.proportion(0, 0).value)
