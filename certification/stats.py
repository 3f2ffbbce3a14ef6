"""Statistics engine for evaluation and fairness evidence: point metrics, bootstrap CIs and paired tests.

Every bootstrap is a row resample with replacement, represented as a matrix of per-row counts: a metric on a
resample equals the scikit-learn metric on the original rows with `sample_weight=counts`, so whole chunks of
resamples are evaluated with matrix products and cumulative sums instead of one scikit-learn call each.
Point values come from scikit-learn itself; the vectorised resample values are cross-checked against it in
tests/test_stats.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.stats import binomtest
from sklearn import metrics as skm

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc", "log_loss", "brier")
_SCORE_METRICS = frozenset({"roc_auc", "pr_auc", "log_loss", "brier"})
_LOWER_IS_BETTER = frozenset({"log_loss", "brier"})
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


def _scores(values: npt.ArrayLike, n: int) -> FloatArray:
    array = np.asarray(values, dtype=np.float64)
    if array.shape != (n,) or not np.isfinite(array).all():
        raise ValueError(f"score must be a finite 1-D array of length {n}")
    return array


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
    draws = [evaluate(c) for c in resample_counts(y.size, resamples, seed, _chunk(y.size))]
    estimates = {}
    for name in names:
        values = np.concatenate([d[name] for d in draws]) if draws else np.empty(0)
        lower, upper, defined = _interval(values, level)
        estimates[name] = Estimate(points[name], lower, upper, level, defined)
    return estimates


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


def mcnemar(y_true: npt.ArrayLike, pred_a: npt.ArrayLike, pred_b: npt.ArrayLike) -> dict[str, float | int]:
    """Exact McNemar test of two classifiers on the same rows.

    b counts rows only A gets right, c rows only B gets right; p_value is the two-sided binomial test of b
    successes in b + c trials at 1/2 (1.0 when the classifiers never disagree on correctness).
    """
    y = _labels(y_true, "y_true")
    right_a, right_b = _labels(pred_a, "pred_a") == y, _labels(pred_b, "pred_b") == y
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
) -> dict[str, float]:
    """metric(b) - metric(a) on the full data, with a percentile CI from the same resampled rows for both.

    `a` and `b` are scores for roc_auc/pr_auc/log_loss/brier and 0/1 predictions for the other metrics.
    p_value_worse is the one-sided bootstrap p-value for "b is worse than a": the share of resamples in which
    b is at least as good as a, i.e. difference >= 0, or difference <= 0 for the losses (log_loss, brier),
    where lower is better. Small values are evidence that b is worse. Resamples where the metric is undefined
    for either model are left out.
    """
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; expected one of {METRICS}")
    y = _labels(y_true, "y_true")
    xa: npt.NDArray[Any]
    xb: npt.NDArray[Any]
    if metric in _SCORE_METRICS:
        xa, xb = _scores(a, y.size), _scores(b, y.size)
        model_a, model_b = (_evaluator(y, x, None, (metric,)) for x in (xa, xb))
    else:
        xa, xb = _labels(a, "a"), _labels(b, "b")
        model_a, model_b = (_evaluator(y, None, x, (metric,)) for x in (xa, xb))
    difference = _point(metric, y, xb) - _point(metric, y, xa)
    counts = resample_counts(y.size, resamples, seed, _chunk(y.size))
    chunks = [model_b(c)[metric] - model_a(c)[metric] for c in counts]
    diffs = np.concatenate(chunks) if chunks else np.empty(0)
    lower, upper, _ = _interval(diffs, level)
    defined = diffs[~np.isnan(diffs)]
    at_least_as_good = defined <= 0 if metric in _LOWER_IS_BETTER else defined >= 0
    p_value = float(at_least_as_good.mean()) if defined.size else float("nan")
    return {"difference": difference, "ci_lower": lower, "ci_upper": upper, "p_value_worse": p_value}


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
