"""Fairness engine: group rates, disparities with bootstrap CIs and tests, representation and mitigation evidence.

Every group metric is a ratio of confusion counts, so one pass over the rows gives the counts of each finest group
(the combination of all protected attributes) and every attribute or intersection table is a sum of those. A
bootstrap resample of rows is exactly a multinomial draw over the (finest group, cell) counts
(`stats.bootstrap_confusion`), so 1,000 resamples of 1M rows cost a few milliseconds. fairlearn is the independent
reference in tests/test_fairness.py.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from fairlearn.postprocessing import ThresholdOptimizer
from fairlearn.reductions import DemographicParity, EqualizedOdds, ExponentiatedGradient
from scipy.stats import chi2_contingency, ttest_ind_from_stats
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from certification.stats import FloatArray, bootstrap_confusion, confusion_counts, rates

IntArray = npt.NDArray[np.int64]
MISSING = "(missing)"  # a missing attribute value is a group of its own, never dropped
JOIN = " & "
# Confusion cells tn, fp, fn, tp: the rows each rate is a share of (its denominator) and the rows it counts
_DENOMINATOR = {"tpr": (2, 3), "fnr": (2, 3), "fpr": (0, 1), "ppv": (1, 3)}
_NUMERATOR = {"selection_rate": (1, 3), "tpr": (3,), "fnr": (2,), "fpr": (1,), "ppv": (3,)}
MEASURES = ("selection_rate", "base_rate", "tpr", "fpr", "fnr", "ppv", "accuracy")
DISPARITIES: dict[str, tuple[str, ...]] = {
    "demographic_parity": ("selection_rate",),
    "equalized_odds": ("tpr", "fpr"),
    "equal_opportunity": ("tpr",),
    "predictive_parity": ("ppv",),
    "calibration_gap": ("calibration_error",),
}
NAMES = {
    "selection_rate": "selection rate",
    "tpr": "true positive rate",
    "fpr": "false positive rate",
    "fnr": "false negative rate",
    "ppv": "precision (PPV)",
    "calibration_error": "calibration error (mean score − observed rate)",
}


@dataclass(frozen=True)
class Table:
    """One grouping (an attribute or an intersection): point values and bootstrap draws of every group measure."""

    labels: list[str]
    counts: IntArray  # (G, ...) rows of each group, split into cells by the subclass
    values: dict[str, FloatArray]  # measure -> (G,)
    draws: dict[str, FloatArray]  # measure -> (B, G)

    def size(self, measure: str) -> IntArray:
        """Rows each group's value of `measure` rests on."""
        return self.counts.reshape(len(self.labels), -1).sum(axis=1)

    def rows(self, min_size: int) -> dict[str, dict[str, Any]]:
        """Group -> measures, JSON-ready; `small` flags groups with fewer rows than the spec's minimum."""
        return {
            label: {
                **{m: _num(v[i]) for m, v in self.values.items()},
                "count": int(self.counts[i].sum()),
                "small": bool(self.counts[i].sum() < min_size),
            }
            for i, label in enumerate(self.labels)
        }

    def interval(self, measure: str, level: float) -> tuple[FloatArray, FloatArray]:
        with warnings.catch_warnings():  # a group absent from every resample has an all-NaN column
            warnings.simplefilter("ignore", RuntimeWarning)
            low, high = np.nanquantile(self.draws[measure], [(1 - level) / 2, (1 + level) / 2], axis=0)
        return low, high


@dataclass(frozen=True)
class GroupTable(Table):
    """Binary classification: counts are (G, 4) tn, fp, fn, tp."""

    residual: FloatArray | None  # (G, 2) mean and variance of score - label, for the calibration test

    def size(self, measure: str) -> IntArray:
        return self.counts[:, list(_DENOMINATOR.get(measure, range(4)))].sum(axis=1)


def _num(value: Any) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


def encode(frame: pd.DataFrame, attributes: list[str]) -> tuple[IntArray, IntArray, list[list[str]]]:
    """Finest group code per row, the attribute level codes of each finest group, and each attribute's levels."""
    codes, levels = [], []
    for name in attributes:
        values = frame[name].astype("string").fillna(MISSING).to_numpy(dtype=object)
        code, uniques = pd.factorize(values, sort=True)
        codes.append(code)
        levels.append([str(u) for u in uniques])
    dims = tuple(len(level) for level in levels)
    flat = np.ravel_multi_index(codes, dims)
    present = np.flatnonzero(np.bincount(flat, minlength=int(np.prod(dims))))
    lookup = np.zeros(int(np.prod(dims)), dtype=np.int64)
    lookup[present] = np.arange(present.size)
    return lookup[flat], np.column_stack(np.unravel_index(present, dims)).astype(np.int64), levels


def groupings(attributes: list[str], intersections: bool) -> list[tuple[int, ...]]:
    """Each attribute alone, then (optionally) every combination of two or more."""
    sizes = range(1, len(attributes) + 1) if intersections else range(1, 2)
    return [subset for r in sizes for subset in combinations(range(len(attributes)), r)]


def grouping_name(attributes: list[str], subset: tuple[int, ...]) -> str:
    return JOIN.join(attributes[i] for i in subset)


def partitions(
    attributes: list[str], combos: IntArray, levels: list[list[str]], intersections: bool
) -> Iterator[tuple[str, list[str], IntArray]]:
    """Each grouping's name, its group labels and the (finest, G) one-hot membership of the finest groups."""
    for subset in groupings(attributes, intersections):
        keys, member = np.unique(combos[:, list(subset)], axis=0, return_inverse=True)
        labels = [JOIN.join(levels[a][k] for a, k in zip(subset, key, strict=True)) for key in keys]
        yield grouping_name(attributes, subset), labels, np.eye(len(keys), dtype=np.int64)[member.ravel()]


def audit(
    frame: pd.DataFrame,
    attributes: list[str],
    y_true: npt.ArrayLike,
    pred: npt.ArrayLike,
    score: npt.ArrayLike | None,
    *,
    intersections: bool = True,
    resamples: int = 1000,
    seed: int = 0,
) -> dict[str, GroupTable]:
    """Group tables with bootstrap draws for every attribute and (optionally) every intersection of them."""
    finest, combos, levels = encode(frame, attributes)
    y, p = np.asarray(y_true), np.asarray(pred)
    counts = confusion_counts(y, p, finest).astype(np.int64)
    draws = bootstrap_confusion(y, p, finest, resamples=resamples, seed=seed)
    sums = None if score is None else residual_sums(finest, y, p, score, counts.shape)
    return group_tables(
        attributes, combos, levels, counts, draws, sums, intersections, np.random.default_rng(seed + 1)
    )


def residual_sums(
    finest: IntArray, y: npt.NDArray[Any], p: npt.NDArray[Any], score: npt.ArrayLike, shape: tuple[int, ...]
) -> FloatArray:
    """(F, 4, 2) sums of score - label and of its square per (finest group, confusion cell)."""
    cell = finest * 4 + 2 * y.astype(np.int64) + p.astype(np.int64)
    d = np.asarray(score, dtype=np.float64) - y
    size = int(np.prod(shape))
    sums = np.bincount(cell, weights=d, minlength=size).reshape(shape)
    squares = np.bincount(cell, weights=d * d, minlength=size).reshape(shape)
    return np.stack([sums, squares], axis=-1)


def group_tables(
    attributes: list[str],
    combos: IntArray,
    levels: list[list[str]],
    counts: IntArray,
    draws: IntArray,
    residuals: FloatArray | None,
    intersections: bool,
    noise: np.random.Generator,
) -> dict[str, GroupTable]:
    """Every grouping's table from the finest groups' (F, 4) confusion counts, their (B, F, 4) bootstrap draws
    and (with a score) their `residual_sums`; `noise` draws the resampled calibration sums."""
    residual_draws = None
    if residuals is not None:
        # calibration: a resample's sum of score - label given its cell counts is drawn from the normal law of a
        # sum of that many rows (CLT), exact in mean and variance
        sums, squares = residuals[..., 0], residuals[..., 1]
        mean = np.divide(sums, counts, out=np.zeros(counts.shape), where=counts > 0)
        spread = np.sqrt(
            np.maximum(
                np.divide(squares, counts, out=np.zeros(counts.shape), where=counts > 0) - mean**2, 0.0
            )
        )
        residual_draws = draws * mean + np.sqrt(draws) * spread * noise.standard_normal(draws.shape)
    tables = {}
    for name, labels, onehot in partitions(attributes, combos, levels, intersections):
        table_counts = onehot.T @ counts
        table_draws = np.einsum("bfc,fg->bgc", draws, onehot)
        values, resampled = rates(table_counts), rates(table_draws)
        residual = None
        if residuals is not None and residual_draws is not None:
            total = table_counts.sum(axis=1)
            moments = np.einsum("fck,fg->gk", residuals, onehot) / np.maximum(total, 1)[:, None]
            residual = np.column_stack([moments[:, 0], np.maximum(moments[:, 1] - moments[:, 0] ** 2, 0.0)])
            values["calibration_error"] = np.where(total > 0, moments[:, 0], np.nan)
            values["mean_score"] = values["calibration_error"] + values["base_rate"]
            with np.errstate(invalid="ignore", divide="ignore"):
                resampled["calibration_error"] = np.einsum(
                    "bfc,fg->bg", residual_draws, onehot.astype(float)
                ) / (table_draws.sum(axis=2))
        del values["count"], resampled["count"]
        tables[name] = GroupTable(labels, table_counts, values, resampled, residual)
    return tables


@dataclass(frozen=True)
class Comparison:
    """How gaps are judged: the widest gap between any two groups, or each group against a reference group."""

    min_size: int
    reference: str | None = None  # the reference group's label in this grouping
    level: float = 0.95
    alpha: float = 0.05


def _quiet(function: Callable[..., FloatArray], *args: Any, **kwargs: Any) -> FloatArray:
    with warnings.catch_warnings():  # all-NaN slices (no judged group in a resample) are expected
        warnings.simplefilter("ignore", RuntimeWarning)
        return function(*args, **kwargs)


def welch(stats: FloatArray, sizes: IntArray) -> float:
    """Two-sided Welch t-test of equal means from two groups' (mean, variance) rows and sizes."""
    (ma, va), (mb, vb) = stats
    if va + vb == 0:
        return 1.0 if ma == mb else 0.0
    return float(
        ttest_ind_from_stats(ma, np.sqrt(va), sizes[0], mb, np.sqrt(vb), sizes[1], equal_var=False).pvalue
    )


def proportions(hits: IntArray, sizes: IntArray) -> float:
    """Two-sided test of equal shares: Pearson chi-square on the 2x2 table (a two-proportion z-test)."""
    contingency = np.column_stack([hits, sizes - hits])
    if (contingency.sum(axis=0) == 0).any():
        return 1.0  # both groups all-positive or all-negative on this rate: no difference to test
    return float(chi2_contingency(contingency, correction=False).pvalue)


def _p_value(table: GroupTable, measure: str, a: int, b: int) -> float:
    """Two-sided test of equal rates in groups a and b: Pearson chi-square on the 2x2 table of the rate's
    rows (a two-proportion z-test), or Welch's t-test on score - label for calibration."""
    if measure == "calibration_error":
        assert table.residual is not None
        return welch(table.residual[[a, b]], table.counts[[a, b]].sum(axis=1))
    hits = table.counts[[a, b]][:, list(_NUMERATOR[measure])].sum(axis=1)
    return proportions(hits, table.size(measure)[[a, b]])


def _component(table: Table, measure: str, how: Comparison) -> dict[str, Any] | None:
    """The gap on one measure among groups with enough rows; None when fewer than two can be judged."""
    judged = table.size(measure) >= how.min_size
    point = np.where(judged, table.values[measure], np.nan)
    draws = np.where(judged, table.draws[measure], np.nan)
    if np.isfinite(point).sum() < 2:
        return None
    if how.reference is None:
        a, b = int(np.nanargmax(point)), int(np.nanargmin(point))
        gaps = _quiet(np.nanmax, draws, axis=1) - _quiet(np.nanmin, draws, axis=1)
        comparisons = int(judged.sum()) * (int(judged.sum()) - 1) // 2
    else:
        b = table.labels.index(how.reference)
        if not judged[b]:
            raise ValueError(
                f"reference group {how.reference!r} has fewer than {how.min_size} rows for {measure}"
            )
        spread = np.abs(point - point[b])
        spread[b] = np.nan
        a = int(np.nanargmax(spread))
        gaps = _quiet(np.nanmax, np.abs(np.delete(draws, b, axis=1) - draws[:, [b]]), axis=1)
        comparisons = int(judged.sum()) - 1
    return {
        "measure": measure,
        "value": float(abs(point[a] - point[b])),
        "draws": gaps,
        "pair": (a, b),
        "difference": draws[:, a] - draws[:, b],
        "comparisons": comparisons,
    }


def _ci(draws: FloatArray, level: float) -> tuple[float | None, float | None, int]:
    defined = draws[np.isfinite(draws)]
    if defined.size == 0:
        return None, None, 0
    low, high = np.quantile(defined, [(1 - level) / 2, (1 + level) / 2])
    return float(low), float(high), int(defined.size)


def disparity(table: GroupTable, name: str, how: Comparison) -> dict[str, Any]:
    """The disparity `name` (see DISPARITIES) with its bootstrap CI and a significance test for the worst pair."""
    return compare(table, DISPARITIES[name], how, lambda m, a, b: _p_value(table, m, a, b))


def compare(
    table: Table, measures: tuple[str, ...], how: Comparison, test: Callable[[str, int, int], float]
) -> dict[str, Any]:
    """The largest gap on any of `measures` with its bootstrap CI; `test(measure, a, b)` is the p-value of the
    worst pair, Bonferroni-adjusted for the number of pairs (and measures) that pair was picked from."""
    parts = [c for m in measures if m in table.values and (c := _component(table, m, how))]
    if not parts:
        return {"value": None, "note": f"fewer than two groups with at least {how.min_size} rows"}
    worst = max(parts, key=lambda c: c["value"])
    a, b = worst["pair"]
    overall = parts[0]["draws"] if len(parts) == 1 else np.fmax(*[c["draws"] for c in parts])
    low, high, defined = _ci(overall, how.level)
    diff_low, diff_high, _ = _ci(worst["difference"], how.level)
    p_value = test(worst["measure"], a, b)
    adjusted = min(1.0, p_value * sum(c["comparisons"] for c in parts))
    return {
        "value": worst["value"],
        "ci_lower": low,
        "ci_upper": high,
        "ci_level": how.level,
        "resamples": defined,
        "measure": worst["measure"],
        "groups": [table.labels[a], table.labels[b]],
        "rates": [_num(table.values[worst["measure"]][a]), _num(table.values[worst["measure"]][b])],
        "difference_ci": [diff_low, diff_high],
        "p_value": p_value,
        "p_value_adjusted": adjusted,
        "significant": bool(adjusted < how.alpha),
        "comparison": "max_gap" if how.reference is None else f"reference {how.reference}",
    }


def impact_ratio(table: GroupTable, how: Comparison) -> dict[str, Any]:
    """Lowest selection-rate ratio (disparate impact; the four-fifths rule asks for at least 0.8)."""
    judged = table.size("selection_rate") >= how.min_size
    point = np.where(judged, table.values["selection_rate"], np.nan)
    draws = np.where(judged, table.draws["selection_rate"], np.nan)
    if np.isfinite(point).sum() < 2:
        return {"value": None}
    with np.errstate(invalid="ignore", divide="ignore"):
        if how.reference is None:
            a, b = int(np.nanargmin(point)), int(np.nanargmax(point))
            ratios = _quiet(np.nanmin, draws, axis=1) / _quiet(np.nanmax, draws, axis=1)
        else:
            b = table.labels.index(how.reference)
            others = np.delete(np.arange(point.size), b)
            a = int(others[np.nanargmin(point[others])])
            ratios = _quiet(np.nanmin, draws[:, others], axis=1) / draws[:, b]
        value = point[a] / point[b] if point[b] > 0 else np.nan
    low, high, defined = _ci(ratios, how.level)
    return {
        "value": _num(value),
        "ci_lower": low,
        "ci_upper": high,
        "groups": [table.labels[a], table.labels[b]],
        "p_value": _p_value(table, "selection_rate", a, b),
    }


def finding(grouping: str, name: str, result: dict[str, Any], favourable: str, *, scope: str = "") -> str:
    """One plain sentence: which group is disadvantaged on which measure, and by how much; `scope` follows the
    disparity's name (multiclass.finding: " for class 'high'")."""
    measure, (a, b), (ra, rb) = result["measure"], result["groups"], result["rates"]
    support = evidence(result, 100, ".1f", " points")
    name = name.replace("_", " ") + scope
    if measure in ("selection_rate", "tpr", "fpr", "fnr"):
        # more positive predictions help people when the positive outcome is favourable, and harm them otherwise
        helps = (measure != "fnr") == (favourable == "positive")
        lower, higher = (a, b) if ra < rb else (b, a)
        worse = lower if helps else higher
        return (
            f"{grouping}: {worse} is disadvantaged on {name} — {NAMES[measure]} "
            f"{100 * ra:.1f}% for {a} vs {100 * rb:.1f}% for {b}, {support}."
        )
    return (
        f"{grouping}: {NAMES[measure]} differs on {name} — {ra:.3f} for {a} vs {rb:.3f} for {b}, {support}."
    )


def evidence(result: dict[str, Any], scale: float, spec: str, unit: str) -> str:
    """'a gap of … (95% CI of a − b: …); p = … after adjustment, …', numbers scaled and formatted by `spec`."""
    (a, b), (low, high) = result["groups"], result["difference_ci"]
    size = f"{scale * result['value']:{spec}}{unit}"
    if low is not None and high is not None:
        size += f" (95% CI of {a} − {b}: {scale * low:+{spec}} to {scale * high:+{spec}})"
    return f"a gap of {size}; p = {result['p_value_adjusted']:.2g} after adjustment, " + (
        "statistically significant" if result["significant"] else "not distinguishable from noise"
    )


def shares(frame: pd.DataFrame, attribute: str) -> dict[str, float]:
    values = frame[attribute].astype("string").fillna(MISSING)
    return {str(k): float(v) for k, v in values.value_counts(normalize=True).sort_index().items()}


def representation(
    frames: dict[str, pd.DataFrame], attributes: list[str], reference: dict[str, dict[str, float]]
) -> dict[str, dict[str, Any]]:
    """Per attribute and group: its share of each data set and of the reference population, with the largest
    absolute gap to the reference (a reference group absent from the data counts with share 0)."""
    out: dict[str, dict[str, Any]] = {}
    for attribute in attributes:
        observed = {name: shares(frame, attribute) for name, frame in frames.items()}
        expected = reference.get(attribute, {})
        groups = sorted(set(expected).union(*observed.values()))
        table = {
            g: {**{n: o.get(g, 0.0) for n, o in observed.items()}, "reference": expected.get(g)}
            for g in groups
        }
        gaps = [abs(o.get(g, 0.0) - share) for g, share in expected.items() for o in observed.values()]
        out[attribute] = {"groups": table, "max_reference_gap": max(gaps) if gaps else None}
    return out


def tradeoff(
    y_true: npt.ArrayLike, pred: npt.ArrayLike, sensitive: pd.DataFrame, min_size: int
) -> dict[str, float | None]:
    """Accuracy, selection rate and the demographic-parity and equalized-odds gaps over the joint groups of
    `sensitive` (groups with at least `min_size` rows on a rate), for one row of a mitigation comparison."""
    attributes = list(sensitive.columns)
    table = audit(sensitive, attributes, y_true, pred, None, intersections=True, resamples=0)[
        JOIN.join(attributes)
    ]
    how = Comparison(min_size)
    total = rates(table.counts.sum(axis=0))
    return {
        "accuracy": float(total["accuracy"]),
        "selection_rate": float(total["selection_rate"]),
        "demographic_parity_difference": _gap(table, ("selection_rate",), how),
        "equalized_odds_difference": _gap(table, ("tpr", "fpr"), how),
    }


def _gap(table: Table, measures: tuple[str, ...], how: Comparison) -> float | None:
    values = [c["value"] for m in measures if (c := _component(table, m, how))]
    return max(values) if values else None


class _ScoreColumn(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """A fitted 'model' whose probability is its single input column: post-processing needs only the scores,
    so it works for score-only audits too and never re-runs the model."""

    def fit(self, X: Any, y: Any = None) -> _ScoreColumn:  # noqa: N803 - scikit-learn's signature
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X: Any) -> FloatArray:  # noqa: N803
        score = np.asarray(X, dtype=np.float64)[:, 0]
        return np.column_stack([1 - score, score])

    def predict(self, X: Any) -> IntArray:  # noqa: N803
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(np.int64)


@dataclass(frozen=True)
class Refit:
    """The spec's training recipe: an unfitted clone, a (sub)sample of training rows, the evaluation inputs."""

    estimator: Any
    x: pd.DataFrame
    y: IntArray
    sensitive: pd.DataFrame
    x_eval: pd.DataFrame
    note: str


EG_MAX_ITER = 5  # each iteration refits the model: enough to show the trade-off, cheap enough for every run
EG_CONSTRAINTS = {"demographic_parity": DemographicParity, "equalized_odds": EqualizedOdds}


def _weight_param(estimator: Any) -> str:
    """The fit keyword that carries sample weights, routed to a pipeline's final step."""
    return f"{estimator.steps[-1][0]}__sample_weight" if isinstance(estimator, Pipeline) else "sample_weight"


def reweighing(y: IntArray, sensitive: pd.DataFrame) -> FloatArray:
    """Kamiran & Calders weights P(group) P(label) / P(group, label): group and label become independent."""
    group = encode(sensitive, list(sensitive.columns))[0]
    cell = group * 2 + y
    joint = np.bincount(cell, minlength=2 * (group.max() + 1)) / y.size
    marginal = np.bincount(group) / y.size
    prior = np.bincount(y, minlength=2) / y.size
    return marginal[group] * prior[y] / joint[cell]


def mitigations(
    y: IntArray,
    score: FloatArray,
    pred: IntArray,
    sensitive: pd.DataFrame,
    *,
    min_size: int,
    seed: int,
    refit: Refit | None,
    in_processing: list[str],
) -> list[dict[str, Any]]:
    """Fairness/accuracy trade-offs of mitigation options, all measured on the same held-out half of the
    evaluation rows; post-processing thresholds are fitted on the other half. Nothing replaces the model."""
    half = np.random.default_rng(seed).permutation(y.size)
    fit, held = np.sort(half[: y.size // 2]), np.sort(half[y.size // 2 :])
    sens = sensitive.reset_index(drop=True)

    def row(method: str, kind: str, predicted: npt.ArrayLike, note: str = "") -> dict[str, Any]:
        outcome = tradeoff(y[held], predicted, sens.iloc[held], min_size)
        return {"method": method, "kind": kind, **outcome, "note": note}

    rows = [row("current model (unchanged)", "baseline", pred[held])]
    scores = pd.DataFrame({"score": score})
    for constraint in EG_CONSTRAINTS:
        post = ThresholdOptimizer(
            estimator=_ScoreColumn().fit(None),
            constraints=constraint,
            prefit=True,
            predict_method="predict_proba",
        )
        post.fit(scores.iloc[fit], y[fit], sensitive_features=sens.iloc[fit])
        chosen = post.predict(scores.iloc[held], sensitive_features=sens.iloc[held], random_state=seed)
        rows.append(row(f"ThresholdOptimizer ({constraint})", "post-processing", chosen, "group thresholds"))
    if refit is None:
        return rows
    param = _weight_param(refit.estimator)
    with threadpool_limits(max(1, (os.cpu_count() or 2) // 2)):  # OpenMP oversubscription on shared hosts
        for constraint in in_processing:
            reduction = ExponentiatedGradient(
                clone(refit.estimator),
                EG_CONSTRAINTS[constraint](),
                max_iter=EG_MAX_ITER,
                sample_weight_name=param,
            )
            reduction.fit(refit.x, refit.y, sensitive_features=refit.sensitive)
            chosen = reduction.predict(refit.x_eval.iloc[held], random_state=seed)
            note = f"{refit.note}; max_iter={EG_MAX_ITER}"
            rows.append(row(f"ExponentiatedGradient ({constraint})", "in-processing", chosen, note))
        weighted = clone(refit.estimator).fit(
            refit.x, refit.y, **{param: reweighing(refit.y, refit.sensitive)}
        )
        chosen = np.asarray(weighted.predict(refit.x_eval.iloc[held])).astype(np.int64)
        rows.append(row("reweighing (Kamiran & Calders)", "pre-processing", chosen, refit.note))
    return rows
