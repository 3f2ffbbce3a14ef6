"""Statistics engine for evaluation and fairness evidence: point metrics, bootstrap CIs and paired tests.

Every bootstrap is a row resample with replacement, represented as a matrix of per-row counts: a metric on a
resample equals the scikit-learn metric on the original rows with `sample_weight=counts`, so whole chunks of
resamples are evaluated with matrix products and cumulative sums instead of one scikit-learn call each.
Point values come from scikit-learn itself; the vectorised resample values are cross-checked against it in
tests/unit/stats/.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import sparse
from scipy.special import xlogy
from scipy.stats import binomtest, norm, wilcoxon
from sklearn import metrics as skm

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
CodeArray = npt.NDArray[np.intp]

METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc", "log_loss", "brier")
REGRESSION_METRICS = (
    "mae",
    "rmse",
    "r2",
    "median_ae",
    "mape",
    "poisson_deviance",
    "gamma_deviance",
    "tweedie_deviance",
)
MULTICLASS_METRICS = (
    "accuracy",
    "balanced_accuracy",
    "macro_f1",
    "weighted_f1",
    "log_loss",
    "brier",
    "roc_auc_ovr",
    "top_k_accuracy",
    "min_class_precision",
    "min_class_recall",
)
_CONFUSION_METRICS = frozenset(
    {"balanced_accuracy", "macro_f1", "weighted_f1", "min_class_precision", "min_class_recall"}
)
_PAIRED_MULTICLASS = tuple(m for m in MULTICLASS_METRICS if m != "top_k_accuracy")  # it would need its k
_SCORE_METRICS = frozenset({"roc_auc", "pr_auc", "log_loss", "brier"})
LOWER_IS_BETTER = frozenset({"log_loss", "brier", *REGRESSION_METRICS} - {"r2"})
_CHUNK_BYTES = 200_000_000
# 8-byte (b, n) arrays alive at once while a chunk is evaluated (counts, their float copy, cumulative sums, ...)
_ARRAYS_PER_CHUNK = 6

_SKLEARN: dict[str, Callable[..., Any]] = {
    "accuracy": skm.accuracy_score,
    "precision": partial(skm.precision_score, zero_division=0),
    "recall": partial(skm.recall_score, zero_division=0),
    "f1": partial(skm.f1_score, zero_division=0),
    "roc_auc": skm.roc_auc_score,
    "pr_auc": skm.average_precision_score,
    "log_loss": partial(skm.log_loss, labels=[0, 1]),
    "brier": skm.brier_score_loss,
}
_REGRESSION_SKLEARN: dict[str, Callable[..., Any]] = {
    "mae": skm.mean_absolute_error,
    "rmse": skm.root_mean_squared_error,
    "r2": skm.r2_score,
    "median_ae": skm.median_absolute_error,
    "mape": skm.mean_absolute_percentage_error,
    "poisson_deviance": skm.mean_poisson_deviance,
    "gamma_deviance": skm.mean_gamma_deviance,
    "tweedie_deviance": skm.mean_tweedie_deviance,
}
# what a metric needs of y_true and of pred: the conditions under which scikit-learn raises (the deviances),
# or, for MAPE, where it divides by machine epsilon instead of y_true and returns a meaningless value
_DOMAINS: dict[str, tuple[str | None, str | None]] = {
    "mape": ("> 0", None),
    "poisson_deviance": (">= 0", "> 0"),
    "gamma_deviance": ("> 0", "> 0"),
}


@dataclass(frozen=True)
class Estimate:
    """A point value on the full data with its confidence interval (percentile bootstrap; exact for shares)."""

    value: float
    lower: float
    upper: float
    level: float = 0.95
    resamples: int = 0  # resamples with a defined value; NaN ones (e.g. one-class AUC) are excluded

    def to_dict(self) -> dict[str, float | int]:
        return {
            "value": self.value,
            "ci_lower": self.lower,
            "ci_upper": self.upper,
            "ci_level": self.level,
            "resamples": self.resamples,
        }


def _labels(values: npt.ArrayLike, name: str) -> BoolArray:
    array = np.asarray(values)
    if array.ndim != 1 or not np.isin(array, (0, 1)).all():
        raise ValueError(f"{name} must be a 1-D array of 0/1 labels")
    return array.astype(bool)


def _scores(values: npt.ArrayLike, n: int, name: str = "score") -> FloatArray:
    array = np.asarray(values, dtype=np.float64)
    if array.shape != (n,) or not np.isfinite(array).all():
        raise ValueError(f"{name} must be a finite 1-D array of length {n}")
    return array


def _targets(y_true: npt.ArrayLike, pred: npt.ArrayLike, name: str = "pred") -> tuple[FloatArray, FloatArray]:
    y = np.asarray(y_true, dtype=np.float64)
    if y.ndim != 1 or y.size == 0 or not np.isfinite(y).all():
        raise ValueError("y_true must be a non-empty finite 1-D array")
    return y, _scores(pred, y.size, name)


def _ratio(numerator: FloatArray, denominator: FloatArray, undefined: float) -> FloatArray:
    out = np.full(np.broadcast(numerator, denominator).shape, undefined)
    return np.divide(numerator, denominator, out=out, where=denominator > 0)


def _chunk(n: int) -> int:
    return max(1, _CHUNK_BYTES // (_ARRAYS_PER_CHUNK * 8 * max(n, 1)))


def _interval(values: FloatArray, level: float) -> tuple[float, float, int]:
    defined = values[~np.isnan(values)]
    if defined.size == 0:
        return float("nan"), float("nan"), 0
    lower, upper = np.quantile(defined, [(1 - level) / 2, (1 + level) / 2])
    return float(lower), float(upper), int(defined.size)


def resample_counts(n: int, resamples: int, seed: int, chunk: int) -> Iterator[npt.NDArray[np.int64]]:
    """Yield (b, n) arrays: how often each row appears in each bootstrap resample, `resamples` rows in all.

    Draws are int64 from one `default_rng(seed)` stream, so the resamples do not depend on `chunk`.
    """
    rng = np.random.default_rng(seed)
    for start in range(0, resamples, chunk):
        rows = rng.integers(0, n, size=(min(chunk, resamples - start), n))
        counts = np.empty(rows.shape, dtype=np.int64)
        for i, row in enumerate(rows):  # one row at a time keeps the scatter inside the cache
            counts[i] = np.bincount(row, minlength=n)
        yield counts


def _rank_order(y_true: BoolArray, score: FloatArray) -> npt.NDArray[np.intp] | None:
    """Order by descending score, negatives before positives within a tie; None when already in that order."""
    ahead, behind = score[:-1], score[1:]
    if np.all((ahead > behind) | ((ahead == behind) & (y_true[:-1] <= y_true[1:]))):
        return None
    return np.lexsort((y_true, -score))


def _evaluator(
    y_true: BoolArray, score: FloatArray | None, pred: BoolArray | None, names: Sequence[str] = METRICS
) -> Callable[[npt.NDArray[Any]], dict[str, FloatArray]]:
    """Prepare once per data set what does not depend on the counts; the result maps (b, n) counts to metrics."""
    y = y_true.astype(np.float64)
    columns: dict[str, FloatArray] = {}
    if pred is not None:
        p = pred.astype(np.float64)
        columns |= {"correct": (y == p) * 1.0, "tp": y * p, "fp": (1 - y) * p, "fn": y * (1 - p)}
    if score is not None:
        eps = np.finfo(np.float64).eps  # scikit-learn clips probabilities the same way
        clipped = np.where(y_true, np.clip(score, eps, 1 - eps), np.clip(1 - score, eps, 1 - eps))
        columns |= {"loss": -np.log(clipped), "squared": (y - score) ** 2}
    matrix = np.column_stack(list(columns.values()))
    ranking = _ranking(y_true, score) if score is not None and {"roc_auc", "pr_auc"} & set(names) else None

    def evaluate(counts: npt.NDArray[Any]) -> dict[str, FloatArray]:
        counts = np.asarray(counts).astype(np.int64, copy=False)
        sums = dict(zip(columns, (counts.astype(np.float64) @ matrix).T, strict=True))  # one BLAS product
        total = counts.sum(axis=1).astype(np.float64)
        out: dict[str, FloatArray] = {}
        if pred is not None:
            tp, fp, fn = sums["tp"], sums["fp"], sums["fn"]
            out |= {
                "accuracy": sums["correct"] / total,
                "precision": _ratio(tp, tp + fp, 0.0),
                "recall": _ratio(tp, tp + fn, 0.0),
                "f1": _ratio(2 * tp, 2 * tp + fp + fn, 0.0),
            }
        if score is not None:
            out |= {"log_loss": sums["loss"] / total, "brier": sums["squared"] / total}
        if ranking is not None:
            out |= ranking(counts)
        return {name: out[name] for name in names}

    return evaluate


def metrics_from_counts(
    y_true: BoolArray,
    score: FloatArray | None,
    pred: BoolArray | None,
    counts: npt.NDArray[Any],
    names: Sequence[str] = METRICS,
) -> dict[str, FloatArray]:
    """Each metric on every resample of `counts` (b, n): equal to scikit-learn with `sample_weight=counts`.

    Undefined values are NaN: AUC without both classes, average precision without positives (scikit-learn
    returns 0.0 there, which would drag a CI down for a resample that says nothing).
    """
    return _evaluator(y_true, score, pred, names)(counts)


def _ranking(
    y_true: BoolArray, score: FloatArray
) -> Callable[[npt.NDArray[np.int64]], dict[str, FloatArray]]:
    """ROC AUC (Mann-Whitney, ties count 1/2) and average precision from integer cumulative counts.

    Rows are grouped into blocks of one score level and one class, negatives first within a level; a
    positive block then closes its level, so cumulative counts at the positive blocks are all that is needed.
    Integer cumulative sums are exact and several times faster than float ones.
    """
    order = _rank_order(y_true, score)
    if order is not None:
        y_true, score = y_true[order], score[order]
    starts = np.flatnonzero(np.append(True, (score[1:] != score[:-1]) | (y_true[1:] != y_true[:-1])))
    positive = np.flatnonzero(y_true[starts])
    pos_starts, pos_stops = starts[positive], np.append(starts[1:], score.size)[positive]
    before = positive - 1  # a negative block just before a positive one of the same level holds its ties
    tied = (before >= 0) & ~y_true[starts[before]] & (score[starts[before]] == score[pos_starts])
    tied_pos, tied_neg = np.flatnonzero(tied), starts[before[tied]]

    def evaluate(counts: npt.NDArray[np.int64]) -> dict[str, FloatArray]:
        if positive.size == 0:
            return {"roc_auc": np.full(counts.shape[0], np.nan), "pr_auc": np.full(counts.shape[0], np.nan)}
        if order is not None:  # classification_estimates pre-sorts, sparing this gather of every chunk
            counts = np.take(counts, order, axis=1)
        # seen[:, i] = weight of rows before row i; block sums are differences at block boundaries
        seen = np.zeros((counts.shape[0], counts.shape[1] + 1), dtype=np.int64)
        np.cumsum(counts, axis=1, out=seen[:, 1:])
        seen_pos = np.take(seen, pos_stops, axis=1)
        w_pos = seen_pos - np.take(seen, pos_starts, axis=1)
        tp = np.cumsum(w_pos, axis=1)
        n_pos, n_neg = tp[:, -1], seen[:, -1] - tp[:, -1]
        # twice the weighted count of correctly ordered (positive, negative) pairs, plus tied pairs once
        below = 2 * (n_neg[:, None] - seen_pos + tp)
        if tied_pos.size:
            below[:, tied_pos] += seen[:, pos_starts[tied_pos]] - seen[:, tied_neg]
        pairs2 = np.einsum("ij,ij->i", w_pos, below)
        precision = _ratio(tp.astype(np.float64), seen_pos.astype(np.float64), 0.0)
        precision_sum = np.einsum("ij,ij->i", w_pos.astype(np.float64), precision)
        with np.errstate(invalid="ignore", divide="ignore"):
            auc = np.where((n_pos > 0) & (n_neg > 0), pairs2 / (2.0 * n_pos * n_neg), np.nan)
            ap = np.where(n_pos > 0, precision_sum / n_pos, np.nan)
        return {"roc_auc": auc, "pr_auc": ap}

    return evaluate


def _point(name: str, y_true: BoolArray, values: npt.NDArray[Any]) -> float:
    y = y_true.astype(int)
    if (name == "roc_auc" and y.min() == y.max()) or (name == "pr_auc" and y.max() == 0):
        return float("nan")  # undefined, as in the bootstrap (and without scikit-learn's warning)
    return float(_SKLEARN[name](y, values.astype(int) if values.dtype == bool else values))


def classification_estimates(
    y_true: npt.ArrayLike,
    score: npt.ArrayLike | None,
    pred: npt.ArrayLike | None,
    *,
    resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    metrics: Sequence[str] | None = None,
) -> dict[str, Estimate]:
    """Point value (scikit-learn) and percentile bootstrap CI of each metric in METRICS (or in `metrics`).

    `score` is the probability of class 1; without it only the label metrics are returned. Without `pred`,
    pred = score >= 0.5.
    """
    if not 0 < level < 1:
        raise ValueError("level must be in (0, 1)")
    y = _labels(y_true, "y_true")
    s = None if score is None else _scores(score, y.size)
    if pred is not None:
        p = _labels(pred, "pred")
    elif s is not None:
        p = s >= 0.5
    else:
        raise ValueError("need score or pred")
    if p.shape != y.shape:
        raise ValueError("pred and y_true differ in length")
    names = tuple(n for n in (METRICS if s is not None else METRICS[:4]) if metrics is None or n in metrics)
    points = {name: _point(name, y, s if name in _SCORE_METRICS and s is not None else p) for name in names}
    if s is not None:
        # resampled rows are exchangeable, so applying the counts to score-sorted rows gives the same bootstrap
        # distribution and lets the AUC/AP cumulative sums skip a per-chunk column gather
        order = _rank_order(y, s)
        if order is not None:
            y, s, p = y[order], s[order], p[order]
    evaluate = _evaluator(y, s, p, names)
    return _bootstrapped(points, evaluate, y.size, resamples, seed, level)


def _bootstrapped(
    points: dict[str, float],
    evaluate: Callable[[npt.NDArray[Any]], dict[str, FloatArray]],
    rows: int,
    resamples: int,
    seed: int,
    level: float,
) -> dict[str, Estimate]:
    """Each point with the percentile interval of its values on `resamples` row resamples (evaluate: counts ->
    metric -> values per resample), drawn chunk by chunk."""
    draws = [evaluate(c) for c in resample_counts(rows, resamples, seed, _chunk(rows))]
    return _estimates(points, draws, level)


def _estimates(
    points: dict[str, float], draws: list[dict[str, FloatArray]], level: float
) -> dict[str, Estimate]:
    estimates = {}
    for name, point in points.items():
        values = np.concatenate([d[name] for d in draws]) if draws else np.empty(0)
        lower, upper, defined = _interval(values, level)
        estimates[name] = Estimate(point, lower, upper, level, defined)
    return estimates


def _domain(name: str, power: float) -> tuple[str | None, str | None]:
    if name != "tweedie_deviance":
        return _DOMAINS.get(name, (None, None))
    if power <= 0:
        return None, None if power == 0 else "> 0"
    return _DOMAINS["poisson_deviance" if power < 2 else "gamma_deviance"]


def _regression_names(
    y: FloatArray, pred: FloatArray, metrics: Sequence[str] | None, power: float
) -> tuple[str, ...]:
    """The metrics of `metrics` (all by default) defined on these rows; ValueError for a named undefined one."""
    if 0 < power < 1:
        raise ValueError(f"tweedie_power must be <= 0 or >= 1, not {power}")
    unknown = sorted(set(metrics or ()) - set(REGRESSION_METRICS))
    if unknown:
        raise ValueError(f"unknown regression metrics {unknown}; expected some of {REGRESSION_METRICS}")
    reasons = {}
    for name in (n for n in REGRESSION_METRICS if metrics is None or n in metrics):
        unmet = [
            f"{label} {bound}"
            for label, values, bound in zip(("y_true", "pred"), (y, pred), _domain(name, power), strict=True)
            if bound is not None and not np.all(values > 0 if bound == "> 0" else values >= 0)
        ]
        if name == "r2" and np.ptp(y) == 0:
            unmet.append("y_true that is not constant")
        power_note = f" with power {power}" if name == "tweedie_deviance" else ""
        reasons[name] = f"{name}{power_note} needs {' and '.join(unmet)}" if unmet else ""
    if metrics is not None and any(reasons.values()):
        raise ValueError("; ".join(reason for reason in reasons.values() if reason))
    return tuple(name for name, reason in reasons.items() if not reason)


def _regression_point(name: str, y: FloatArray, pred: FloatArray, power: float) -> float:
    extra = {"power": power} if name == "tweedie_deviance" else {}
    return float(_REGRESSION_SKLEARN[name](y, pred, **extra))


def _unit_deviance(y: FloatArray, pred: FloatArray, power: float) -> FloatArray:
    """Per-row Tweedie deviance with scikit-learn's formulas: its mean_tweedie_deviance is their weighted mean."""
    if power == 0:
        return (y - pred) ** 2
    if power == 1:
        return 2 * (xlogy(y, y / pred) - y + pred)
    if power == 2:
        return 2 * (np.log(pred / y) + y / pred - 1)
    p = power  # y >= 0 here unless power < 0, where scikit-learn takes max(y, 0) to the power 2 - p
    return 2 * (
        np.maximum(y, 0.0) ** (2 - p) / ((1 - p) * (2 - p))
        - y * pred ** (1 - p) / (1 - p)
        + pred ** (2 - p) / (2 - p)
    )


def _regression_evaluator(
    y: FloatArray, pred: FloatArray, names: Sequence[str], power: float
) -> Callable[[npt.NDArray[Any]], dict[str, FloatArray]]:
    """Like _evaluator, for regression: each metric but median_ae is a function of count-weighted row means."""
    error = pred - y
    columns: dict[str, FloatArray] = {}
    if "mae" in names:
        columns["mae"] = np.abs(error)
    if {"rmse", "r2"} & set(names):
        columns["squared"] = error**2
    if "r2" in names:
        # R²'s total sum of squares is shift-invariant; centring y keeps mean(y²) - mean(y)² from cancelling
        centred = y - y.mean()
        columns |= {"centred": centred, "centred_squared": centred**2}
    if "mape" in names:
        columns["mape"] = np.abs(error) / np.maximum(np.abs(y), np.finfo(np.float64).eps)  # as scikit-learn
    for name, deviance_power in (
        ("poisson_deviance", 1.0),
        ("gamma_deviance", 2.0),
        ("tweedie_deviance", power),
    ):
        if name in names:
            columns[name] = _unit_deviance(y, pred, deviance_power)
    matrix = np.column_stack(list(columns.values())) if columns else np.empty((y.size, 0))
    median = _weighted_median(np.abs(error)) if "median_ae" in names else None

    def evaluate(counts: npt.NDArray[Any]) -> dict[str, FloatArray]:
        counts = np.asarray(counts).astype(np.int64, copy=False)
        total = counts.sum(axis=1).astype(np.float64)
        means = dict(zip(columns, (counts.astype(np.float64) @ matrix).T / total, strict=True))
        out = dict(means)
        if "squared" in means:
            out["rmse"] = np.sqrt(means["squared"])
        if "r2" in names:
            spread = means["centred_squared"] - means["centred"] ** 2
            # a resample of one repeated y has no spread but some rounding: R² is undefined there, not huge
            constant = spread <= 4 * np.finfo(np.float64).eps * means["centred_squared"]
            out["r2"] = np.where(constant, np.nan, 1 - means["squared"] / np.where(constant, 1.0, spread))
        if median is not None:
            out["median_ae"] = median(counts)
        return {name: out[name] for name in names}

    return evaluate


def _weighted_median(values: FloatArray) -> Callable[[npt.NDArray[np.int64]], FloatArray]:
    """scikit-learn's weighted median (`_weighted_percentile(average=True)`, its "averaged_inverted_cdf").

    In ascending order, it is the first value whose cumulative weight reaches half the total; when it reaches
    exactly half, the mean of that value and the next value with a positive weight. Which of tied values comes
    first does not change the result, so one sort serves every resample.
    """
    order = np.argsort(values, kind="stable")
    ordered = values[order]

    def evaluate(counts: npt.NDArray[np.int64]) -> FloatArray:
        cdf = np.take(counts, order, axis=1)
        np.cumsum(cdf, axis=1, out=cdf)  # integer: "exactly half" is exact
        total = cdf[:, -1:]
        at = np.sum(cdf < (total + 1) // 2, axis=1)  # first position with 2 * cdf >= total
        reached = np.take_along_axis(cdf, at[:, None], axis=1)
        following = np.minimum(np.sum(cdf <= reached, axis=1), values.size - 1)
        exact = (2 * reached == total)[:, 0]
        return np.where(exact, (ordered[at] + ordered[following]) / 2, ordered[at])

    return evaluate


def regression_metrics_from_counts(
    y_true: npt.ArrayLike,
    pred: npt.ArrayLike,
    counts: npt.NDArray[Any],
    names: Sequence[str] | None = None,
    tweedie_power: float = 1.5,
) -> dict[str, FloatArray]:
    """Each regression metric defined on the data (or each of `names`) on every resample of `counts` (b, n).

    Equal to scikit-learn with `sample_weight=counts`, except that R² is NaN on a resample whose y_true is
    constant (scikit-learn returns 1.0 or 0.0 there), and such resamples are left out of the intervals.
    """
    y, p = _targets(y_true, pred)
    return _regression_evaluator(y, p, _regression_names(y, p, names, tweedie_power), tweedie_power)(counts)


def regression_estimates(
    y_true: npt.ArrayLike,
    pred: npt.ArrayLike,
    *,
    resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    metrics: Sequence[str] | None = None,
    tweedie_power: float = 1.5,
) -> dict[str, Estimate]:
    """Point value (scikit-learn) and percentile bootstrap CI of each metric in REGRESSION_METRICS (or `metrics`).

    A metric undefined on the data is left out: r2 for a constant y_true, mape unless every y_true > 0, the
    deviances outside scikit-learn's domain (poisson: y_true >= 0 and pred > 0; gamma: both > 0; tweedie:
    those of the power). Naming one in `metrics` raises ValueError saying why.
    """
    if not 0 < level < 1:
        raise ValueError("level must be in (0, 1)")
    y, p = _targets(y_true, pred)
    names = _regression_names(y, p, metrics, tweedie_power)
    points = {name: _regression_point(name, y, p, tweedie_power) for name in names}
    evaluate = _regression_evaluator(y, p, names, tweedie_power)
    return _bootstrapped(points, evaluate, y.size, resamples, seed, level)


def confusion_counts(
    y_true: npt.ArrayLike, pred: npt.ArrayLike, groups: np.ndarray | None = None
) -> npt.NDArray[np.int64]:
    """(G, 4) counts tn, fp, fn, tp for each group code 0..G-1 (one row when `groups` is None)."""
    y, p = _labels(y_true, "y_true"), _labels(pred, "pred")
    if p.shape != y.shape:
        raise ValueError("pred and y_true differ in length")
    codes = np.zeros(y.size, dtype=np.int64) if groups is None else np.asarray(groups)
    if codes.shape != y.shape or codes.dtype.kind not in "iu" or (codes < 0).any():
        raise ValueError("groups must be non-negative integer codes, one per row")
    size = int(codes.max()) + 1 if codes.size else 1
    cells = codes * 4 + 2 * y + p
    return np.bincount(cells, minlength=size * 4).reshape(size, 4)


def bootstrap_confusion(
    y_true: npt.ArrayLike, pred: npt.ArrayLike, groups: np.ndarray | None, *, resamples: int, seed: int
) -> npt.NDArray[np.int64]:
    """(resamples, G, 4) confusion counts per group in each bootstrap resample.

    Resampling all n rows with replacement and counting cells is exactly a multinomial draw of n over the G*4
    (group, cell) cells with the observed shares, so the draw costs nothing per row.
    """
    observed = confusion_counts(y_true, pred, groups)
    n = int(observed.sum())
    draws = np.random.default_rng(seed).multinomial(n, observed.ravel() / n, size=resamples)
    return draws.reshape(resamples, *observed.shape)


def rates(counts: np.ndarray) -> dict[str, FloatArray]:
    """Group rates from (..., 4) tn, fp, fn, tp counts; NaN where the denominator is zero."""
    tn, fp, fn, tp = (np.asarray(counts, dtype=np.float64)[..., i] for i in range(4))
    total = tn + fp + fn + tp
    nan = float("nan")
    return {
        "selection_rate": _ratio(tp + fp, total, nan),
        "base_rate": _ratio(tp + fn, total, nan),
        "tpr": _ratio(tp, tp + fn, nan),
        "fpr": _ratio(fp, fp + tn, nan),
        "fnr": _ratio(fn, fn + tp, nan),
        "ppv": _ratio(tp, tp + fp, nan),
        "accuracy": _ratio(tp + tn, total, nan),
        "count": total,
    }


def expected_calibration_error(
    y_true: npt.ArrayLike, score: npt.ArrayLike, bins: int = 10
) -> tuple[float, list[dict[str, float]]]:
    """ECE over `bins` equal-width bins [lo, hi) on [0, 1] (the last bin includes 1) and the per-bin table.

    scikit-learn's calibration_curve puts a score lying exactly on an inner edge in the lower bin instead.
    """
    y = _labels(y_true, "y_true")
    s = _scores(score, y.size)
    if y.size == 0 or s.min() < 0 or s.max() > 1:
        raise ValueError("score must be non-empty probabilities in [0, 1]")
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.searchsorted(edges[1:-1], s, side="right")
    count = np.bincount(index, minlength=bins)
    score_sum = np.bincount(index, weights=s, minlength=bins)
    positive = np.bincount(index, weights=y, minlength=bins)
    table = [
        {
            "bin_lower": float(edges[b]),
            "bin_upper": float(edges[b + 1]),
            "count": float(count[b]),
            "mean_score": float(score_sum[b] / count[b]),
            "observed_rate": float(positive[b] / count[b]),
        }
        for b in np.flatnonzero(count)
    ]
    ece = sum(row["count"] / y.size * abs(row["observed_rate"] - row["mean_score"]) for row in table)
    return float(ece), table


def regression_calibration(y_true: npt.ArrayLike, pred: npt.ArrayLike, bins: int = 10) -> dict[str, Any]:
    """Mean predicted against mean observed per quantile bin of `pred`, and the calibration slope and intercept.

    Bin edges are the 0, 1/bins, ..., 1 quantiles of pred with method="inverted_cdf", de-duplicated, and a row
    goes to the bin [lower, upper) holding its prediction (the last bin includes its upper edge). Every edge is
    an observed prediction, so each bin holds at least the rows at its lower edge: tied predictions merge bins
    (fewer than `bins` come back) instead of leaving some empty, as interpolated edges could.
    calibration_error is the row-weighted mean of |mean_predicted - mean_observed| over the bins, in target
    units. slope and intercept are the OLS fit of y_true on pred (1 and 0 for a calibrated model; NaN when
    pred is constant).
    """
    if bins < 1:
        raise ValueError("bins must be at least 1")
    y, p = _targets(y_true, pred)
    edges = np.unique(np.quantile(p, np.linspace(0.0, 1.0, bins + 1), method="inverted_cdf"))
    edges = edges if edges.size > 1 else np.repeat(edges, 2)
    index = np.searchsorted(edges[1:-1], p, side="right")
    rows = np.bincount(index, minlength=edges.size - 1)
    predicted = np.bincount(index, weights=p, minlength=edges.size - 1) / rows
    observed = np.bincount(index, weights=y, minlength=edges.size - 1) / rows
    table = [
        {
            "lower": float(edges[k]),
            "upper": float(edges[k + 1]),
            "rows": int(rows[k]),
            "mean_predicted": float(predicted[k]),
            "mean_observed": float(observed[k]),
        }
        for k in range(rows.size)
    ]
    centred = p - p.mean()
    slope = float(centred @ (y - y.mean()) / (centred @ centred)) if np.ptp(p) > 0 else float("nan")
    return {
        "bins": table,
        "calibration_error": float(rows @ np.abs(predicted - observed) / y.size),
        "slope": slope,
        "intercept": float(y.mean() - slope * p.mean()),
    }


def mcnemar(y_true: npt.ArrayLike, pred_a: npt.ArrayLike, pred_b: npt.ArrayLike) -> dict[str, float | int]:
    """Exact McNemar test of two classifiers on the same rows.

    b counts rows only A gets right, c rows only B gets right; p_value is the two-sided binomial test of b
    successes in b + c trials at 1/2 (1.0 when the classifiers never disagree on correctness). Labels are 0/1
    or, for a multiclass model, class codes.
    """
    y, xa, xb = (np.asarray(v) for v in (y_true, pred_a, pred_b))
    if y.ndim != 1 or xa.shape != y.shape or xb.shape != y.shape:
        raise ValueError("y_true, pred_a and pred_b must be 1-D arrays of labels of the same length")
    right_a, right_b = xa == y, xb == y
    b, c = int(np.sum(right_a & ~right_b)), int(np.sum(~right_a & right_b))
    p_value = 1.0 if b + c == 0 else float(binomtest(b, b + c, 0.5).pvalue)
    return {"n": int(y.size), "b": b, "c": c, "p_value": p_value}


def paired_bootstrap(
    y_true: npt.ArrayLike,
    a: npt.ArrayLike,
    b: npt.ArrayLike,
    metric: str,
    *,
    resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    tweedie_power: float = 1.5,
) -> dict[str, float]:
    """metric(b) - metric(a) on the full data, with a percentile CI from the same resampled rows for both.

    `a` and `b` are scores for roc_auc/pr_auc/log_loss/brier, 0/1 predictions for the other classification
    metrics and predicted values for the REGRESSION_METRICS (ValueError when the metric is undefined for
    either model's predictions). (n, K) probability matrices make `a` and `b` multiclass models, scored as in
    multiclass_estimates (y_true then holds class codes 0..K-1) by any of MULTICLASS_METRICS but top_k_accuracy.
    p_value_worse is the one-sided bootstrap p-value for "b is worse than a": the share of resamples in which
    b is at least as good as a, i.e. difference >= 0, or difference <= 0 for the metrics in LOWER_IS_BETTER
    (log_loss, brier and every regression metric but r2). Small values are evidence that b is worse.
    Resamples where the metric is undefined for either model are left out.
    """
    xa: npt.NDArray[Any]
    xb: npt.NDArray[Any]
    y: npt.NDArray[Any]
    point: Callable[[npt.NDArray[Any]], float]
    if np.ndim(a) == 2:
        if metric not in _PAIRED_MULTICLASS:
            raise ValueError(f"unknown multiclass metric {metric!r}; expected one of {_PAIRED_MULTICLASS}")
        xa = _probabilities(a, "a")
        xb = _probabilities(b, "b", *xa.shape)
        y = _codes(y_true, xa.shape[0], xa.shape[1])
        model_a, model_b = (_multiclass_evaluator(y, x, (metric,)) for x in (xa, xb))
        point = partial(_multiclass_point, metric, y)
    elif metric in REGRESSION_METRICS:
        y, xa = _targets(y_true, a, "a")
        xb = _scores(b, y.size, "b")
        for x in (xa, xb):
            _regression_names(y, x, (metric,), tweedie_power)
        model_a, model_b = (_regression_evaluator(y, x, (metric,), tweedie_power) for x in (xa, xb))
        point = partial(_regression_point, metric, y, power=tweedie_power)
    elif metric in METRICS:
        y = _labels(y_true, "y_true")
        if metric in _SCORE_METRICS:
            xa, xb = _scores(a, y.size), _scores(b, y.size)
            model_a, model_b = (_evaluator(y, x, None, (metric,)) for x in (xa, xb))
        else:
            xa, xb = _labels(a, "a"), _labels(b, "b")
            model_a, model_b = (_evaluator(y, None, x, (metric,)) for x in (xa, xb))
        point = partial(_point, metric, y)
    else:
        raise ValueError(f"unknown metric {metric!r}; expected one of {METRICS + REGRESSION_METRICS}")
    difference = point(xb) - point(xa)
    counts = resample_counts(y.size, resamples, seed, _chunk(y.size))
    chunks = [model_b(c)[metric] - model_a(c)[metric] for c in counts]
    diffs = np.concatenate(chunks) if chunks else np.empty(0)
    lower, upper, _ = _interval(diffs, level)
    defined = diffs[~np.isnan(diffs)]
    at_least_as_good = defined <= 0 if metric in LOWER_IS_BETTER else defined >= 0
    p_value = float(at_least_as_good.mean()) if defined.size else float("nan")
    return {"difference": difference, "ci_lower": lower, "ci_upper": upper, "p_value_worse": p_value}


def paired_absolute_errors(
    y_true: npt.ArrayLike, a: npt.ArrayLike, b: npt.ArrayLike, level: float = 0.95
) -> dict[str, float]:
    """Paired test of two regressors' absolute errors on the same rows: is b's |error| larger than a's?

    mean_difference is mean(|e_b| - |e_a|) with its normal-approximation CI (ci_lower, ci_upper); statistic and
    p_value are the two-sided Wilcoxon signed-rank test of the differences, p_value_worse the one-sided one
    for "b's absolute errors are larger" (small values are evidence that b is worse). Rows where both errors
    are equal are kept and split between the signs (zero_method="zsplit"): they are evidence of no
    difference, whereas "wilcox" would drop them and could call two models that agree on almost every row
    significantly different; zsplit also stays defined when the models agree everywhere (p-values 1 and 1/2).
    """
    if not 0 < level < 1:
        raise ValueError("level must be in (0, 1)")
    y, xa = _targets(y_true, a, "a")
    xb = _scores(b, y.size, "b")
    if y.size < 2:
        raise ValueError("need at least two rows")
    diffs = np.abs(xb - y) - np.abs(xa - y)
    mean = float(diffs.mean())
    half = float(norm.ppf(0.5 + level / 2) * diffs.std(ddof=1) / np.sqrt(diffs.size))
    both = wilcoxon(diffs, zero_method="zsplit")
    worse = wilcoxon(diffs, zero_method="zsplit", alternative="greater")
    return {
        "mean_difference": mean,
        "ci_lower": mean - half,
        "ci_upper": mean + half,
        "statistic": float(both.statistic),
        "p_value": float(both.pvalue),
        "p_value_worse": float(worse.pvalue),
        "rows": int(diffs.size),
    }


def proportion(successes: int, trials: int, level: float = 0.95) -> Estimate:
    """A share with its exact (Clopper-Pearson) interval; NaN when there are no trials."""
    from scipy.stats import beta

    if trials == 0:
        return Estimate(float("nan"), float("nan"), float("nan"), level)
    tail = (1.0 - level) / 2.0
    lower = float(beta.ppf(tail, successes, trials - successes + 1)) if successes else 0.0
    upper = float(beta.ppf(1.0 - tail, successes + 1, trials - successes)) if successes < trials else 1.0
    return Estimate(successes / trials, lower, upper, level)


def paired_difference(before: npt.ArrayLike, after: npt.ArrayLike, level: float = 0.95) -> Estimate:
    """mean(before - after) over paired observations with its Student-t interval (the paired t-test's)."""
    from scipy.stats import t

    diffs = np.asarray(before, dtype=float) - np.asarray(after, dtype=float)
    mean = float(diffs.mean()) if diffs.size else float("nan")
    if diffs.size < 2 or not np.any(diffs != mean):  # no spread: the interval is the point itself
        return Estimate(mean, mean, mean, level)
    half = float(t.ppf(0.5 + level / 2.0, diffs.size - 1) * diffs.std(ddof=1) / np.sqrt(diffs.size))
    return Estimate(mean, mean - half, mean + half, level)


# multiclass: y_true holds class codes 0..K-1 and proba is (n, K), column k the probability of class code k


def _probabilities(
    values: npt.ArrayLike, name: str = "proba", rows: int | None = None, columns: int | None = None
) -> FloatArray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] < 2:
        raise ValueError(f"{name} must be a non-empty (n, K) array of class probabilities with K >= 2")
    if array.shape[0] != (rows or array.shape[0]) or array.shape[1] != (columns or array.shape[1]):
        raise ValueError(f"{name} has shape {array.shape}, expected ({rows}, {columns})")
    # scikit-learn's multiclass ROC AUC refuses rows failing this same test
    if not np.isfinite(array).all() or array.min() < 0 or array.max() > 1 or not np.allclose(1, array.sum(1)):
        raise ValueError(f"{name} rows must be probabilities in [0, 1] summing to 1")
    return array


def _codes(values: npt.ArrayLike, n: int, k: int, name: str = "y_true") -> CodeArray:
    array = np.asarray(values)
    if array.shape != (n,) or not np.isin(array, np.arange(k)).all():
        raise ValueError(f"{name} must be a 1-D array of {n} class codes in 0..{k - 1}")
    return array.astype(np.intp)


def _multiclass_inputs(
    y_true: npt.ArrayLike, proba: npt.ArrayLike, classes: Sequence[Any]
) -> tuple[CodeArray, FloatArray, list[str]]:
    labels = [str(c) for c in classes]
    if len(labels) < 2 or len(set(labels)) != len(labels):
        raise ValueError("classes must be at least two distinct labels")
    p = _probabilities(proba, columns=len(labels))
    return _codes(y_true, p.shape[0], len(labels)), p, labels


def _multiclass_names(y: CodeArray, k: int, metrics: Sequence[str] | None, top_k: int) -> tuple[str, ...]:
    """The metrics of `metrics` (all by default) defined on these rows."""
    unknown = sorted(set(metrics or ()) - set(MULTICLASS_METRICS))
    if unknown:
        raise ValueError(f"unknown multiclass metrics {unknown}; expected some of {MULTICLASS_METRICS}")
    if top_k < 1:
        raise ValueError("top_k must be at least 1")
    undefined = set()
    if np.bincount(y, minlength=k).min() == 0:
        undefined.add("roc_auc_ovr")  # a class without rows has no one-vs-rest AUC
    if k < 3 or top_k >= k:
        undefined.add("top_k_accuracy")  # always 1 for top_k >= K; K = 2 leaves only top-1, i.e. accuracy
    return tuple(n for n in MULTICLASS_METRICS if (metrics is None or n in metrics) and n not in undefined)


def _multiclass_point(name: str, y: CodeArray, proba: FloatArray, top_k: int = 2) -> float:
    """scikit-learn's value of one of MULTICLASS_METRICS (prediction = argmax); NaN for an undefined AUC."""
    labels = np.arange(proba.shape[1])
    pred = proba.argmax(axis=1)
    if name == "roc_auc_ovr":
        if np.bincount(y, minlength=labels.size).min() == 0:
            return float("nan")
        # roc_auc_score(multi_class="ovr", average="macro") is this mean; spelled out, it also serves K = 2
        return float(np.mean([skm.roc_auc_score(y == c, proba[:, c]) for c in labels]))
    if name in ("min_class_precision", "min_class_recall"):
        # recall over the classes present (as balanced accuracy), precision over all: one never predicted scores 0
        present = labels[np.bincount(y, minlength=labels.size) > 0]
        score, among = (
            (skm.recall_score, present) if name == "min_class_recall" else (skm.precision_score, labels)
        )
        return float(score(y, pred, labels=among, average=None, zero_division=0).min())
    call: dict[str, Callable[[], float]] = {
        "accuracy": partial(skm.accuracy_score, y, pred),
        "balanced_accuracy": partial(skm.balanced_accuracy_score, y, pred),
        "macro_f1": partial(skm.f1_score, y, pred, labels=labels, average="macro", zero_division=0),
        "weighted_f1": partial(skm.f1_score, y, pred, labels=labels, average="weighted", zero_division=0),
        "log_loss": partial(skm.log_loss, y, proba, labels=labels),
        "brier": partial(skm.brier_score_loss, y, proba, labels=labels, scale_by_half=False),
        "top_k_accuracy": partial(skm.top_k_accuracy_score, y, proba, k=top_k, labels=labels),
    }
    return float(call[name]())


def _confusion_evaluator(y: CodeArray, pred: CodeArray, k: int) -> Callable[[npt.NDArray[Any]], FloatArray]:
    """Map (b, n) counts to the (b, K, K) weighted confusion matrices, rows true and columns predicted.

    Each is counts times the (n, K*K) one-hot indicator of every row's cell; a sparse indicator keeps memory
    and time linear in n whatever K.
    """
    indicator = sparse.csr_array((np.ones(y.size), (y * k + pred, np.arange(y.size))), shape=(k * k, y.size))

    def evaluate(counts: npt.NDArray[Any]) -> FloatArray:
        return np.asarray((indicator @ counts.T).T).reshape(-1, k, k)

    return evaluate


def class_rates(confusion: FloatArray) -> dict[str, FloatArray]:
    """Per-class precision, recall, f1 and support along the last axis, 0 where a ratio has no denominator.

    As precision_recall_fscore_support(zero_division=0) with sample_weight.
    """
    tp = np.diagonal(confusion, axis1=-2, axis2=-1)
    support, predicted = confusion.sum(axis=-1), confusion.sum(axis=-2)
    return {
        "precision": _ratio(tp, predicted, 0.0),
        "recall": _ratio(tp, support, 0.0),
        "f1": _ratio(2 * tp, support + predicted, 0.0),
        "support": support,
    }


def _top_k_hits(y: CodeArray, proba: FloatArray, k: int) -> BoolArray:
    # scikit-learn's ranking: a stable ascending sort reversed, so of tied classes the higher code ranks first
    ranked = np.argsort(proba, axis=1, kind="mergesort")[:, ::-1][:, :k]
    return np.asarray((ranked == y[:, None]).any(axis=1))


def _multiclass_evaluator(
    y: CodeArray, proba: FloatArray, names: Sequence[str], top_k: int = 2
) -> Callable[[npt.NDArray[Any]], dict[str, FloatArray]]:
    """Like _evaluator, for MULTICLASS_METRICS: row means, confusion matrices and one-vs-rest rankings."""
    n, k = proba.shape
    pred = proba.argmax(axis=1)
    eps = np.finfo(np.float64).eps  # scikit-learn clips probabilities the same way
    columns = {"accuracy": (pred == y) * 1.0}
    if "log_loss" in names:
        columns["log_loss"] = -np.log(np.clip(proba[np.arange(n), y], eps, 1 - eps))
    if "brier" in names:
        columns["brier"] = np.sum((proba - np.eye(k)[y]) ** 2, axis=1)
    if "top_k_accuracy" in names:
        columns["top_k_accuracy"] = _top_k_hits(y, proba, top_k) * 1.0
    matrix = np.column_stack(list(columns.values()))
    confusion = _confusion_evaluator(y, pred, k) if _CONFUSION_METRICS & set(names) else None
    rankings = [_ranking(y == c, proba[:, c]) for c in range(k)] if "roc_auc_ovr" in names else []

    def evaluate(counts: npt.NDArray[Any]) -> dict[str, FloatArray]:
        counts = np.asarray(counts).astype(np.int64, copy=False)
        total = counts.sum(axis=1).astype(np.float64)
        out = dict(zip(columns, (counts.astype(np.float64) @ matrix).T / total, strict=True))
        if confusion is not None:
            rates = class_rates(confusion(counts))
            support = rates["support"]
            out |= {
                # as balanced_accuracy_score: the mean recall of the classes present in the resample
                "balanced_accuracy": rates["recall"].sum(axis=1) / np.count_nonzero(support, axis=1),
                "macro_f1": rates["f1"].mean(axis=1),
                "weighted_f1": np.sum(rates["f1"] * support, axis=1) / support.sum(axis=1),
                "min_class_precision": rates["precision"].min(axis=1),
                "min_class_recall": np.where(support > 0, rates["recall"], np.inf).min(axis=1),
            }
        if rankings:  # a class absent from a resample makes its AUC, hence the mean, NaN
            out["roc_auc_ovr"] = np.mean([rank(counts)["roc_auc"] for rank in rankings], axis=0)
        return {name: out[name] for name in names}

    return evaluate


def multiclass_metrics_from_counts(
    y_true: npt.ArrayLike,
    proba: npt.ArrayLike,
    counts: npt.NDArray[Any],
    names: Sequence[str] | None = None,
    top_k: int = 2,
) -> dict[str, FloatArray]:
    """Each multiclass metric defined on the data (or each of `names`) on every resample of `counts` (b, n).

    Equal to scikit-learn with `sample_weight=counts`, except that roc_auc_ovr is NaN on a resample missing
    a class. y_true holds class codes 0..K-1 for the K columns of proba.
    """
    p = _probabilities(proba)
    y = _codes(y_true, p.shape[0], p.shape[1])
    return _multiclass_evaluator(y, p, _multiclass_names(y, p.shape[1], names, top_k), top_k)(counts)


def multiclass_estimates(
    y_true: npt.ArrayLike,
    proba: npt.ArrayLike,
    classes: Sequence[Any],
    *,
    resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    metrics: Sequence[str] | None = None,
    top_k: int = 2,
) -> dict[str, Estimate]:
    """Point value (scikit-learn) and percentile bootstrap CI of each metric in MULTICLASS_METRICS (or `metrics`).

    y_true holds integer class codes 0..K-1, code k meaning classes[k]; proba is (n, K), column k the
    probability of classes[k], rows summing to 1. The prediction is the argmax (the lowest code of tied
    columns). F1 averages over all K classes (zero_division=0); brier is the original multiclass Brier score,
    the mean over rows of sum_k (p_k - [y = k])², in [0, 2]: brier_score_loss(labels, scale_by_half=False),
    which its default also gives for K >= 3, and twice METRICS' binary brier when K = 2. Left out when
    undefined: roc_auc_ovr (the macro mean of one-vs-rest AUCs) when a class has no rows, top_k_accuracy
    unless top_k < K and K >= 3. Resamples where a class is missing have no roc_auc_ovr and are excluded.
    min_class_recall is the lowest recall among the classes present, min_class_precision the lowest precision
    among all K (0 for a class never predicted).
    """
    if not 0 < level < 1:
        raise ValueError("level must be in (0, 1)")
    y, p, _ = _multiclass_inputs(y_true, proba, classes)
    names = _multiclass_names(y, p.shape[1], metrics, top_k)
    points = {name: _multiclass_point(name, y, p, top_k) for name in names}
    evaluate = _multiclass_evaluator(y, p, names, top_k)
    return _bootstrapped(points, evaluate, y.size, resamples, seed, level)


def per_class(
    y_true: npt.ArrayLike,
    proba: npt.ArrayLike,
    classes: Sequence[Any],
    *,
    resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> dict[str, dict[str, Estimate]]:
    """For each class label (str): precision, recall, f1 of the argmax prediction and support (rows), each with
    its percentile bootstrap CI. Values are precision_recall_fscore_support(zero_division=0): a class never
    predicted has precision 0, one without rows recall 0, in a resample too. Inputs as in multiclass_estimates.
    """
    if not 0 < level < 1:
        raise ValueError("level must be in (0, 1)")
    y, p, labels = _multiclass_inputs(y_true, proba, classes)
    pred = p.argmax(axis=1)
    values = skm.precision_recall_fscore_support(y, pred, labels=np.arange(len(labels)), zero_division=0)
    points = dict(zip(("precision", "recall", "f1", "support"), values, strict=True))
    confusion = _confusion_evaluator(y, pred, len(labels))
    draws = [class_rates(confusion(c)) for c in resample_counts(y.size, resamples, seed, _chunk(y.size))]
    return {
        label: _estimates(
            {name: float(point[c]) for name, point in points.items()},
            [{name: rates[:, c] for name, rates in draw.items()} for draw in draws],
            level,
        )
        for c, label in enumerate(labels)
    }


def confusion_matrix(y_true: npt.ArrayLike, pred: npt.ArrayLike, n_classes: int) -> list[list[int]]:
    """K x K row counts of class codes 0..K-1: rows the true class, columns the predicted one."""
    if n_classes < 2:
        raise ValueError("need at least two classes")
    y = _codes(y_true, np.size(y_true), n_classes)
    p = _codes(pred, y.size, n_classes, "pred")
    return [[int(cell) for cell in row] for row in skm.confusion_matrix(y, p, labels=np.arange(n_classes))]


def classwise_calibration(
    y_true: npt.ArrayLike, proba: npt.ArrayLike, classes: Sequence[Any], bins: int = 10
) -> dict[str, Any]:
    """One-vs-rest reliability of each class's probability column, and the classwise ECE (Kull et al., 2019).

    "classes" maps each class label (str) to {"ece", "bins"}: expected_calibration_error of [y = k] against
    column k. "mean_ece" is their mean, the classwise ECE; "max_ece" the worst class.
    """
    if bins < 1:
        raise ValueError("bins must be at least 1")
    y, p, labels = _multiclass_inputs(y_true, proba, classes)
    found = [expected_calibration_error(y == c, p[:, c], bins) for c in range(len(labels))]
    eces = [ece for ece, _ in found]
    return {
        "classes": {
            label: {"ece": ece, "bins": table} for label, (ece, table) in zip(labels, found, strict=True)
        },
        "mean_ece": float(np.mean(eces)),
        "max_ece": max(eces),
    }
