"""Statistics engine: every number is cross-checked against an independent implementation on real UCI Adult data."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
from fairlearn.metrics import (
    MetricFrame,
    count,
    false_negative_rate,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from scipy.stats import binomtest
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from certification.demo.datasets import load_adult
from certification.stats import (
    METRICS,
    Estimate,
    bootstrap_confusion,
    classification_estimates,
    confusion_counts,
    expected_calibration_error,
    mcnemar,
    metrics_from_counts,
    paired_bootstrap,
    rates,
    resample_counts,
)

NUMERIC = ["age", "education_num", "capital_gain", "capital_loss", "hours_per_week"]
SKLEARN = {
    "accuracy": skm.accuracy_score,
    "precision": partial(skm.precision_score, zero_division=0),
    "recall": partial(skm.recall_score, zero_division=0),
    "f1": partial(skm.f1_score, zero_division=0),
    "roc_auc": skm.roc_auc_score,
    "pr_auc": skm.average_precision_score,
    "log_loss": partial(skm.log_loss, labels=[0, 1]),
    "brier": skm.brier_score_loss,
}
SCORE_METRICS = {"roc_auc", "pr_auc", "log_loss", "brier"}


@pytest.fixture(scope="module")
def adult() -> dict[str, np.ndarray]:
    """Adult test split (16,281 rows) scored by a tree model (many tied scores) and a logistic regression."""
    train, test = load_adult("train").iloc[:8000], load_adult("test")
    x_train, y_train = train[NUMERIC].to_numpy(float), (train["income"] == ">50K").to_numpy(int)
    x_test = test[NUMERIC].to_numpy(float)
    with threadpool_limits(1):  # OpenMP threads spinning on a busy 2-core runner can take 100x longer
        tree = HistGradientBoostingClassifier(max_iter=40, random_state=0).fit(x_train, y_train)
        logit = make_pipeline(StandardScaler(), LogisticRegression()).fit(x_train, y_train)
    return {
        "y": (test["income"] == ">50K").to_numpy(int),
        "tree": tree.predict_proba(x_test)[:, 1],
        "logit": logit.predict_proba(x_test)[:, 1],
        "groups": np.unique(test["sex"] + "|" + test["race"], return_inverse=True)[1],
    }


def sklearn_value(name: str, y: np.ndarray, score: np.ndarray, **kwargs: object) -> float:
    return float(SKLEARN[name](y, score if name in SCORE_METRICS else score >= 0.5, **kwargs))


@pytest.mark.parametrize("model", ["tree", "logit"])
def test_point_values_equal_sklearn(adult: dict[str, np.ndarray], model: str) -> None:
    y, score = adult["y"], adult[model]
    estimates = classification_estimates(y, score, None, resamples=20)
    assert tuple(estimates) == METRICS
    for name, estimate in estimates.items():
        assert estimate.value == pytest.approx(sklearn_value(name, y, score), abs=1e-12), name
    labels_only = classification_estimates(y, None, score >= 0.3, resamples=20)
    assert tuple(labels_only) == METRICS[:4]
    assert labels_only["recall"].value == pytest.approx(skm.recall_score(y, score >= 0.3), abs=1e-12)


@pytest.mark.parametrize("model", ["tree", "logit"])
def test_resample_values_equal_weighted_and_repeated_sklearn(
    adult: dict[str, np.ndarray], model: str
) -> None:
    y, score = adult["y"], adult[model]
    if model == "tree":
        assert np.unique(score).size < score.size / 3  # the tie handling is exercised
    counts = next(resample_counts(y.size, 3, seed=7, chunk=3))
    values = metrics_from_counts(y.astype(bool), score, score >= 0.5, counts)
    for i, weights in enumerate(counts):
        for name in METRICS:
            weighted = sklearn_value(name, y, score, sample_weight=weights)
            repeated = sklearn_value(name, np.repeat(y, weights), np.repeat(score, weights))
            assert values[name][i] == pytest.approx(weighted, abs=1e-9), name
            assert values[name][i] == pytest.approx(repeated, abs=1e-9), name


def test_resample_counts_are_row_resamples_independent_of_chunking() -> None:
    first = np.concatenate(list(resample_counts(500, 10, seed=3, chunk=3)))
    assert first.shape == (10, 500) and (first.sum(axis=1) == 500).all() and (first >= 0).all()
    assert np.array_equal(first, np.concatenate(list(resample_counts(500, 10, seed=3, chunk=10))))
    assert not np.array_equal(first, np.concatenate(list(resample_counts(500, 10, seed=4, chunk=10))))
    # a row appears Binomial(n, 1/n) times: mean 1, variance 1 - 1/n
    assert first.mean() == 1 and first.var() == pytest.approx(1, rel=0.1)


def test_bootstrap_confusion_matches_row_resampling(adult: dict[str, np.ndarray]) -> None:
    y, pred, groups = adult["y"], adult["tree"] >= 0.5, adult["groups"]
    observed = confusion_counts(y, pred, groups)
    assert observed.shape == (10, 4) and observed.sum() == y.size
    draws = bootstrap_confusion(y, pred, groups, resamples=2000, seed=1)
    assert draws.shape == (2000, 10, 4) and (draws.sum(axis=(1, 2)) == y.size).all()
    assert np.abs(draws.mean(axis=0) - observed).max() <= 4 * np.sqrt(observed.max() / 2000)
    # cell counts of a row resample are Binomial(n, share): same variance, and same as explicit row resampling
    share = observed / y.size
    cells = observed >= 20
    assert draws.var(axis=0)[cells] == pytest.approx((y.size * share * (1 - share))[cells], rel=0.2)
    cell_of_row = groups * 4 + 2 * y + pred
    by_rows = np.concatenate([c @ np.eye(40)[cell_of_row] for c in resample_counts(y.size, 400, 2, 100)])
    assert by_rows.std(axis=0)[cells.ravel()] == pytest.approx(draws.std(axis=0)[cells], rel=0.2)
    assert np.array_equal(draws, bootstrap_confusion(y, pred, groups, resamples=2000, seed=1))


def test_bootstrap_confusion_at_one_million_rows() -> None:
    """Speed is measured by benchmarks/fairness.py; here, the counts at production size stay exact."""
    rng = np.random.default_rng(0)
    n = 1_000_000
    y, pred, groups = rng.random(n) < 0.3, rng.random(n) < 0.4, rng.integers(0, 10, n)
    draws = bootstrap_confusion(y.astype(int), pred.astype(int), groups, resamples=1000, seed=0)
    assert draws.shape == (1000, 10, 4) and (draws.sum(axis=(1, 2)) == n).all()


def test_rates_equal_fairlearn_by_group(adult: dict[str, np.ndarray]) -> None:
    y, pred, groups = adult["y"], (adult["logit"] >= 0.3).astype(int), adult["groups"]
    ours = rates(confusion_counts(y, pred, groups))
    frame = MetricFrame(
        metrics={
            "selection_rate": selection_rate,
            "base_rate": lambda y_true, _: np.mean(y_true),
            "tpr": true_positive_rate,
            "fpr": false_positive_rate,
            "fnr": false_negative_rate,
            "ppv": partial(skm.precision_score, zero_division=np.nan),
            "accuracy": skm.accuracy_score,
            "count": count,
        },
        y_true=y,
        y_pred=pred,
        sensitive_features=groups,
    )
    by_group = frame.by_group.sort_index()
    assert list(by_group.index) == list(range(10))
    for name, values in ours.items():
        assert values.shape == (10,)
        np.testing.assert_allclose(values, by_group[name].to_numpy(float), rtol=0, atol=1e-12, err_msg=name)
    # broadcast over resamples, NaN where undefined
    assert rates(np.zeros((5, 3, 4)))["tpr"].shape == (5, 3)
    assert np.isnan(rates(np.array([3, 2, 0, 0]))["tpr"])


@pytest.mark.parametrize("model", ["tree", "logit"])
def test_ece_table_equals_calibration_curve(adult: dict[str, np.ndarray], model: str) -> None:
    y, score = adult["y"], adult[model]
    edges = np.linspace(0, 1, 11)
    assert not np.isin(
        score, edges[1:-1]
    ).any()  # the two conventions differ only for scores on an inner edge
    ece, table = expected_calibration_error(y, score, bins=10)
    observed, predicted = calibration_curve(y, score, n_bins=10, strategy="uniform")
    np.testing.assert_allclose([row["observed_rate"] for row in table], observed, rtol=0, atol=1e-12)
    np.testing.assert_allclose([row["mean_score"] for row in table], predicted, rtol=0, atol=1e-12)
    sizes = np.histogram(score, bins=edges)[0]
    assert [row["count"] for row in table] == sizes[sizes > 0].tolist()
    assert ece == pytest.approx(np.sum(sizes[sizes > 0] / y.size * np.abs(observed - predicted)), abs=1e-12)
    assert expected_calibration_error([0, 1, 1], [0.0, 1.0, 1.0])[1][-1]["bin_upper"] == 1.0


def test_mcnemar_against_hand_built_table(adult: dict[str, np.ndarray]) -> None:
    y, pred_a, pred_b = adult["y"], adult["tree"] >= 0.5, adult["logit"] >= 0.5
    table = np.zeros((2, 2), dtype=int)  # rows: A right?, columns: B right?
    for truth, a, b in zip(y, pred_a, pred_b, strict=True):
        table[int(a == truth), int(b == truth)] += 1
    result = mcnemar(y, pred_a, pred_b)
    assert (result["b"], result["c"], result["n"]) == (table[1, 0], table[0, 1], y.size)
    expected = binomtest(int(table[1, 0]), int(table[1, 0] + table[0, 1]), 0.5).pvalue
    assert result["p_value"] == pytest.approx(expected, abs=1e-15)
    assert mcnemar(y, pred_a, pred_a) == {"n": y.size, "b": 0, "c": 0, "p_value": 1.0}


def test_paired_bootstrap_uses_the_same_rows(adult: dict[str, np.ndarray]) -> None:
    y, a, b = adult["y"], adult["tree"], adult["logit"]
    result = paired_bootstrap(y, a, b, "roc_auc", resamples=200, seed=5)
    assert result["difference"] == pytest.approx(skm.roc_auc_score(y, b) - skm.roc_auc_score(y, a), abs=1e-12)
    diffs = []
    for counts in resample_counts(y.size, 200, 5, 50):
        per_model = [metrics_from_counts(y.astype(bool), s, None, counts, ("roc_auc",)) for s in (a, b)]
        diffs.append(per_model[1]["roc_auc"] - per_model[0]["roc_auc"])
    manual = np.concatenate(diffs)
    assert (result["ci_lower"], result["ci_upper"]) == pytest.approx(
        tuple(np.quantile(manual, [0.025, 0.975]))
    )
    assert result["p_value_worse"] == pytest.approx(np.mean(manual >= 0))
    same = paired_bootstrap(y, a >= 0.5, a >= 0.5, "accuracy", resamples=50)
    assert same == {"difference": 0.0, "ci_lower": 0.0, "ci_upper": 0.0, "p_value_worse": 1.0}


def test_paired_bootstrap_p_value_is_oriented_by_metric_direction(adult: dict[str, np.ndarray]) -> None:
    y, good = adult["y"], adult["logit"]
    worse = (
        0.5 + 0.3 * (good - 0.5) + 0.1 * np.random.default_rng(0).random(y.size)
    )  # blurred and miscalibrated
    for metric in ("roc_auc", "log_loss", "brier"):
        assert paired_bootstrap(y, good, worse, metric, resamples=200)["p_value_worse"] < 0.01, metric
        assert paired_bootstrap(y, worse, good, metric, resamples=200)["p_value_worse"] > 0.99, metric


def test_confidence_intervals(adult: dict[str, np.ndarray]) -> None:
    y, score = adult["y"], adult["logit"]
    full = classification_estimates(y, score, None, resamples=300, seed=1)
    small = classification_estimates(y[:2000], score[:2000], None, resamples=300, seed=1)
    for name in METRICS:
        assert full[name].lower <= full[name].value <= full[name].upper, name
        assert full[name].resamples == 300
        assert full[name].upper - full[name].lower < small[name].upper - small[name].lower, name
    again = classification_estimates(y, score, None, resamples=300, seed=1)
    assert {k: v.to_dict() for k, v in again.items()} == {k: v.to_dict() for k, v in full.items()}
    other = classification_estimates(y, score, None, resamples=300, seed=2)
    assert other["roc_auc"].lower != full["roc_auc"].lower
    assert set(full["f1"].to_dict()) == {"value", "ci_lower", "ci_upper", "ci_level", "resamples"}


def test_one_class_resamples_are_excluded_not_fatal() -> None:
    y = np.array([1, 0, 0, 0, 0, 0])
    score = np.array(
        [0.9, 0.8, 0.4, 0.3, 0.2, 0.1]
    )  # already in rank order, so the counts map onto these rows
    estimates = classification_estimates(y, score, None, resamples=400, seed=0)
    counts = np.concatenate(list(resample_counts(y.size, 400, 0, 400)))
    has_positive = counts[:, 0] > 0
    assert 0 < estimates["roc_auc"].resamples == has_positive.sum() < 400
    assert estimates["pr_auc"].resamples == has_positive.sum() and estimates["accuracy"].resamples == 400
    assert estimates["roc_auc"].value == 1.0 and estimates["roc_auc"].lower == 1.0
    assert np.isnan(
        classification_estimates(np.zeros(4, int), score[:4], None, resamples=10)["roc_auc"].value
    )


def test_invalid_input_is_rejected() -> None:
    with pytest.raises(ValueError):
        classification_estimates([0, 2, 1], [0.1, 0.2, 0.3], None)
    with pytest.raises(ValueError):
        classification_estimates([0, 1], None, None)
    with pytest.raises(ValueError):
        paired_bootstrap([0, 1], [0, 1], [1, 0], "mystery")
    assert Estimate(0.5, 0.4, 0.6).to_dict()["resamples"] == 0
