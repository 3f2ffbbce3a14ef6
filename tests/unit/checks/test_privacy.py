"""Privacy attacks on real Adult models: a memorising model is flagged and a regularised one is not, the rule-based
attack and every interval are recomputed independently, and a planted attribute leak is found."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest
from sklearn.tree import DecisionTreeClassifier

from certification.checks import CheckResult, Status
from certification.checks.robustness import privacy
from certification.demo import adult_model
from certification.models import LoadedModel
from certification.run.context import RunContext
from tests.conftest import adult_ctx  # noqa: F401 - fixture
from tests.helpers import run_check, with_frames

ctx = adult_ctx
CHECKS = ("robustness.membership_inference", "robustness.attribute_inference")


def _with_model(ctx: RunContext, estimator: Any) -> RunContext:
    return with_frames(ctx, model=LoadedModel(estimator, "in-memory", "0" * 64))


def _tree(ctx: RunContext, **params: Any) -> Any:
    assert ctx.train is not None
    return adult_model(ctx.train, ctx.features, DecisionTreeClassifier(random_state=0, **params))


class _SexInScore:
    """The demo model with sex mixed into its score: a planted leak of a protected attribute."""

    def __init__(self, model: Any, features: list[str]) -> None:
        self.model, self.classes_ = model, model.classes_
        self.feature_names_in_ = np.array([*features, "sex"])

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        positive = 0.9 * self.model.predict_proba(frame.drop(columns="sex"))[:, 1]
        positive += 0.1 * (frame["sex"] == "Male").to_numpy()
        return np.column_stack([1 - positive, positive])

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.classes_)[(self.predict_proba(frame)[:, 1] >= 0.5).astype(int)]


def _assert_exact(estimate: dict[str, float], trials: int) -> None:
    """An Estimate's interval is scipy's Clopper-Pearson interval for the count it implies."""
    successes = round(estimate["value"] * trials)
    assert estimate["value"] == successes / trials
    exact = binomtest(successes, trials).proportion_ci(estimate["ci_level"], method="exact")
    assert estimate["ci_lower"] == pytest.approx(exact.low, abs=1e-9)
    assert estimate["ci_upper"] == pytest.approx(exact.high, abs=1e-9)


@pytest.mark.parametrize(
    ("model", "status"),
    [
        ("demo gradient boosting", Status.PASS),
        ("tree of depth 6", Status.PASS),
        ("unpruned tree", Status.FAIL),
    ],
)
def test_membership_inference_flags_a_memorising_model(ctx: RunContext, model: str, status: Status) -> None:
    target = {
        "demo gradient boosting": lambda: ctx,
        "tree of depth 6": lambda: _with_model(ctx, _tree(ctx, max_depth=6)),
        "unpruned tree": lambda: _with_model(ctx, _tree(ctx)),
    }[model]()
    result = run_check(target, "robustness.membership_inference")
    assert result.status is status, result.message
    measured = result.measured
    attacks = measured["attacks"]
    assert set(attacks) == {"black-box rf", "rule-based"}
    assert measured["membership_advantage"] == max(a["advantage"] for a in attacks.values())
    assert attacks[measured["strongest_attack"]]["advantage"] == measured["membership_advantage"]
    assert result.threshold == {"max_membership_advantage": 0.10}
    if status is Status.FAIL:  # memorised: every training row is predicted right, evaluation rows are not
        assert attacks["rule-based"]["tpr"]["value"] > 0.99
        assert measured["membership_advantage"] > 0.15
    else:
        assert abs(measured["membership_advantage"]) < 0.05
    assert result.message.startswith(f"membership advantage {measured['membership_advantage']:.3f} (")
    assert Path(result.evidence[0]).name == "membership_inference.png"
    assert Path(result.evidence[0]).stat().st_size > 0


def test_rule_based_attack_and_intervals_match_an_independent_recomputation(ctx: RunContext) -> None:
    """Member-guess = the model predicts the row's label correctly, on the held-out halves the check judges on."""
    target = _with_model(ctx, _tree(ctx, min_samples_leaf=20))  # in between: neither extreme is a real test
    result = run_check(target, "robustness.membership_inference")
    policy = ctx.spec.checks.robustness
    assert ctx.train is not None
    sample = privacy.membership_sample(ctx.train, ctx.evaluation, policy.privacy.sample_size, policy.seed)
    judged = sample.rows[~sample.learn]
    member = sample.member[~sample.learn]
    assert member.sum() == (~member).sum() == policy.privacy.sample_size // 2
    correct = target.predict(judged) == target.labels(judged)
    rule = result.measured["attacks"]["rule-based"]
    assert rule["tpr"]["value"] == correct[member].mean()
    assert rule["fpr"]["value"] == correct[~member].mean()
    assert rule["advantage"] == correct[member].mean() - correct[~member].mean()
    for attack in result.measured["attacks"].values():
        assert attack["held_out_members"] == member.sum()
        _assert_exact(attack["tpr"], int(member.sum()))
        _assert_exact(attack["fpr"], int((~member).sum()))


def test_privacy_checks_are_deterministic(ctx: RunContext) -> None:
    for check_id in CHECKS:
        first, second = run_check(ctx, check_id), run_check(ctx, check_id)
        assert first.measured == second.measured and first.message == second.message


@pytest.fixture(scope="module")
def demo_attribute(ctx: RunContext) -> CheckResult:
    return run_check(ctx, "robustness.attribute_inference")


def test_attribute_inference_of_the_demo_model_is_reported(
    ctx: RunContext, demo_attribute: CheckResult
) -> None:
    result = demo_attribute
    assert result.status is Status.PASS, result.message
    attributes = result.measured["attributes"]
    assert set(attributes) == set(ctx.spec.protected_attributes) == {"sex", "race"}
    for found in attributes.values():
        assert math.isfinite(found["advantage"]) and -1 <= found["advantage"] <= 1
        assert found["model_input"] is False
    assert result.measured["attribute_advantage"] == max(a["advantage"] for a in attributes.values())
    assert Path(result.evidence[0]).name == "attribute_inference.png"


def test_attribute_majority_baseline_and_intervals(ctx: RunContext, demo_attribute: CheckResult) -> None:
    """The majority guess recomputed with pandas on the halves the check uses; every interval is exact."""
    policy = ctx.spec.checks.robustness
    assert ctx.train is not None
    sample = privacy.attribute_sample(ctx.train, policy.privacy.sample_size, policy.seed)
    learn, judged = sample.rows[sample.learn], sample.rows[~sample.learn]
    for name, found in demo_attribute.measured["attributes"].items():
        majority = learn[name].value_counts().idxmax()
        assert found["majority_baseline"]["value"] == (judged[name] == majority).mean()
        for key in ("accuracy_with_score", "accuracy_without_score", "majority_baseline"):
            _assert_exact(found[key], len(judged))
        with_score, without = found["accuracy_with_score"]["value"], found["accuracy_without_score"]["value"]
        assert found["advantage"] == with_score - without


def test_attribute_inference_finds_a_planted_leak(ctx: RunContext) -> None:
    leaky = _with_model(ctx, _SexInScore(ctx.model.estimator, ctx.features))
    result = run_check(leaky, "robustness.attribute_inference")
    assert result.status is Status.FAIL, result.message
    sex, race = result.measured["attributes"]["sex"], result.measured["attributes"]["race"]
    assert result.measured["most_exposed_attribute"] == "sex"
    assert sex["advantage"] > 0.10 and sex["model_input"] is True
    assert sex["accuracy_with_score"]["ci_lower"] > sex["accuracy_without_score"]["ci_upper"]
    assert abs(race["advantage"]) < 0.03  # race is not in the score: no leak beyond noise
    assert result.message.startswith(f"attribute advantage {sex['advantage']:.3f} (sex ")


@pytest.mark.parametrize("check_id", CHECKS)
def test_not_applicable_without_the_model_or_training_data(ctx: RunContext, check_id: str) -> None:
    score_only = with_frames(ctx, model=LoadedModel(None, "predictions:evaluation.csv#score", "0" * 64))
    no_train = with_frames(ctx, train=None)
    for target, reason in ((score_only, "score-only run"), (no_train, "no training data")):
        result = run_check(target, check_id)
        assert result.status is Status.NOT_APPLICABLE
        assert result.message.startswith(reason)
