"""Fairness of regression models: group means, errors and shares with bootstrap CIs and tests, the widest gap
between groups' prediction distributions, and bounded-group-loss mitigation evidence.

Every group measure is the mean of a per-row quantity (prediction, target, residual, |residual|, residual²; the
indicator of a prediction at or above a threshold), so one pass gives each finest group's count, sums and
cross-products, and every attribute or intersection table is a sum of finest groups. A bootstrap resample draws the
finest groups' counts from a multinomial (exact); given its count m, a group's resampled sums are drawn from the
normal law of a sum of m of its rows (CLT, exact in mean and covariance, as audit.py does for calibration) and its
share above the threshold from the binomial. fairlearn is the independent reference in
tests/unit/checks/test_fairness_regression.py.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from fairlearn.reductions import AbsoluteLoss, BoundedGroupLoss, ExponentiatedGradient, SquareLoss
from scipy.stats import ks_2samp, wasserstein_distance
from sklearn.base import clone
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import has_fit_parameter
from threadpoolctl import threadpool_limits

from certification.checks.fairness.audit import (
    JOIN,
    MISSING,
    Comparison,
    IntArray,
    Table,
    _gap,
    _num,
    _weight_param,
    compare,
    encode,
    evidence,
    partitions,
    proportions,
    welch,
)
from certification.stats import FloatArray

QUANTITIES = ("prediction", "target", "residual", "absolute_error", "squared_error")
# measure -> the quantity it is the group mean of (rmse: the square root of that mean)
MEANS = {
    "mean_prediction": "prediction",
    "mean_target": "target",
    "mean_residual": "residual",
    "mae": "absolute_error",
    "rmse": "squared_error",
}
DISPARITIES: dict[str, tuple[str, ...]] = {
    "outcome_parity": ("mean_prediction",),
    "residual_bias": ("mean_residual",),
    "bounded_group_loss": ("mae", "rmse"),
    "threshold_parity": ("share_above",),
}
EG_MAX_ITER = 20  # each iteration refits the model
LOSSES = {"absolute": AbsoluteLoss, "square": SquareLoss}


@dataclass(frozen=True)
class RegressionTable(Table):
    """Regression: counts are (G,) rows per group; every measure rests on all of a group's rows."""

    moments: dict[str, FloatArray]  # quantity -> (G, 2) mean and (population) variance over the group's rows


def _column(values: npt.ArrayLike, n: int, name: str) -> FloatArray:
    array = np.asarray(values, dtype=np.float64)
    if array.shape != (n,) or not np.isfinite(array).all():
        raise ValueError(f"{name} must be a finite 1-D array of length {n}")
    return array


def _measures(means: FloatArray, shares: FloatArray | None) -> dict[str, FloatArray]:
    """Group measures from (..., Q) means of QUANTITIES and the share above the threshold."""
    out = {m: means[..., QUANTITIES.index(q)] for m, q in MEANS.items()}
    # a resampled sum of squares drawn from the normal law can dip below 0 in a group of a few rows
    out["rmse"] = np.sqrt(np.maximum(out["rmse"], 0.0))
    return out if shares is None else out | {"share_above": shares}


def audit(
    frame: pd.DataFrame,
    attributes: list[str],
    y_true: npt.ArrayLike,
    pred: npt.ArrayLike,
    *,
    threshold: float | None = None,
    intersections: bool = True,
    resamples: int = 1000,
    seed: int = 0,
) -> dict[str, RegressionTable]:
    """Group tables with bootstrap draws for every attribute and (optionally) every intersection of them."""
    finest, combos, levels = encode(frame, attributes)
    n, size = finest.size, len(combos)
    y, p = _column(y_true, n, "y_true"), _column(pred, n, "pred")
    residual = p - y
    rows = np.stack([p, y, residual, np.abs(residual), residual**2])  # (Q, n)
    counts = np.bincount(finest, minlength=size)
    sums = np.stack([np.bincount(finest, weights=q, minlength=size) for q in rows], axis=1)  # (F, Q)
    # cross-products about the overall mean keep variances accurate when a mean dwarfs the spread
    centre = rows.mean(axis=1)
    centred = rows - centre[:, None]
    i, j = np.triu_indices(len(QUANTITIES))
    cross = np.empty((size, len(QUANTITIES), len(QUANTITIES)))
    cross[:, i, j] = np.stack(
        [
            np.bincount(finest, weights=centred[a] * centred[b], minlength=size)
            for a, b in zip(i, j, strict=True)
        ],
        axis=1,
    )
    cross[:, j, i] = cross[:, i, j]
    above = None if threshold is None else np.bincount(finest, weights=p >= threshold, minlength=size)

    rng = np.random.default_rng(seed)
    drawn = rng.multinomial(n, counts / n, size=resamples)  # (B, F) rows of each finest group per resample
    mean, cov = _moments(counts, sums, cross, centre)
    # a square root of each covariance by eigendecomposition: they are singular (residual = prediction - target)
    eigen, basis = np.linalg.eigh(cov)
    root = basis * np.sqrt(np.maximum(eigen, 0.0))[:, None, :]
    noise = np.einsum("bfq,fpq->bfp", rng.standard_normal((resamples, size, len(QUANTITIES))), root)
    sum_draws = drawn[..., None] * mean + np.sqrt(drawn)[..., None] * noise
    above_draws = None if above is None else rng.binomial(drawn, above / counts)

    tables = {}
    for name, labels, onehot in partitions(attributes, combos, levels, intersections):
        weights = onehot.astype(np.float64)
        table_counts, table_drawn = counts @ onehot, drawn @ onehot
        group_mean, group_cov = _moments(
            table_counts, weights.T @ sums, np.einsum("fpq,fg->gpq", cross, weights), centre
        )
        with np.errstate(invalid="ignore", divide="ignore"):  # a group absent from a resample: NaN
            means_draws = np.einsum("bfq,fg->bgq", sum_draws, weights) / table_drawn[..., None]
            share_draws = None if above_draws is None else (above_draws @ onehot) / table_drawn
        tables[name] = RegressionTable(
            labels,
            table_counts,
            _measures(group_mean, None if above is None else (above @ weights) / table_counts),
            _measures(means_draws, share_draws),
            {q: np.column_stack([group_mean[:, k], group_cov[:, k, k]]) for k, q in enumerate(QUANTITIES)},
        )
    return tables


def _moments(
    counts: IntArray, sums: npt.NDArray[Any], cross: FloatArray, centre: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Per group: means (G, Q) and population covariances (G, Q, Q) from sums and cross-products about `centre`."""
    mean = sums / counts[:, None]
    shift = mean - centre
    return mean, cross / counts[:, None, None] - shift[:, :, None] * shift[:, None, :]


def _p_value(table: RegressionTable, measure: str, a: int, b: int) -> float:
    """Two-sided test of groups a and b: chi-square on the share above the threshold, else Welch's t-test on
    the quantity the measure averages (for rmse: equal mean squared errors)."""
    sizes = table.counts[[a, b]]
    if measure == "share_above":
        return proportions(np.rint(table.values[measure][[a, b]] * sizes).astype(np.int64), sizes)
    mean, variance = table.moments[MEANS[measure]][[a, b]].T
    variance = np.maximum(variance, 0.0)  # a constant prediction's variance can round to a hair below 0
    return welch(np.column_stack([mean, variance * sizes / np.maximum(sizes - 1, 1)]), sizes)


def disparity(table: RegressionTable, name: str, how: Comparison) -> dict[str, Any]:
    """The disparity `name` (see DISPARITIES) in target units (a share for threshold_parity) with its bootstrap
    CI and a Bonferroni-adjusted test for the worst pair; the keys of audit.disparity."""
    if not set(DISPARITIES[name]) <= set(table.values):
        raise ValueError(f"{name} needs audit(..., threshold=...)")
    return compare(table, DISPARITIES[name], how, lambda m, a, b: _p_value(table, m, a, b))


def distribution_gap(
    frame: pd.DataFrame,
    attributes: list[str],
    pred: npt.ArrayLike,
    *,
    intersections: bool = True,
    min_size: int = 30,
    seed: int = 0,
    max_rows: int = 200_000,
    alpha: float = 0.05,
) -> dict[str, dict[str, Any]]:
    """Per grouping, the pair of groups (each with at least `min_size` rows) whose prediction distributions are
    furthest apart in Wasserstein distance, with the two-sample KS test of that pair, Bonferroni-adjusted for
    the pairs compared. A group above `max_rows` rows is represented by a seeded subsample of that many."""
    finest, combos, levels = encode(frame, attributes)
    p = _column(pred, finest.size, "pred")
    out: dict[str, dict[str, Any]] = {}
    for name, labels, onehot in partitions(attributes, combos, levels, intersections):
        code = onehot.argmax(axis=1)[finest]
        totals = np.bincount(code, minlength=len(labels))
        samples = np.split(p[np.argsort(code, kind="stable")], np.cumsum(totals)[:-1])
        samples = [
            s
            if s.size <= max_rows
            else s[np.sort(np.random.default_rng(seed).choice(s.size, max_rows, False))]
            for s in samples
        ]
        pairs = list(combinations(np.flatnonzero(totals >= min_size), 2))
        if not pairs:
            out[name] = {"value": None, "note": f"fewer than two groups with at least {min_size} rows"}
            continue
        distances = [wasserstein_distance(samples[a], samples[b]) for a, b in pairs]
        a, b = pairs[int(np.argmax(distances))]
        test = ks_2samp(samples[a], samples[b])
        adjusted = min(1.0, float(test.pvalue) * len(pairs))
        cut = [f"{labels[g]}: {max_rows} of {totals[g]} rows" for g in (a, b) if totals[g] > max_rows]
        out[name] = {
            "value": float(max(distances)),
            "groups": [labels[a], labels[b]],
            "ks_statistic": float(test.statistic),
            "p_value": float(test.pvalue),
            "p_value_adjusted": adjusted,
            "significant": bool(adjusted < alpha),
            "rows": [int(samples[a].size), int(samples[b].size)],
            "note": f"seeded subsample ({'; '.join(cut)})" if cut else None,
        }
    return out


def finding(
    grouping: str, name: str, result: dict[str, Any], favourable: str, *, target: str = "outcome"
) -> str:
    """One plain sentence in target units. `favourable` is "higher" when a higher prediction benefits the person
    (a wage) and "lower" when it harms them (a premium): it decides who is disadvantaged on outcome and threshold
    parity. The group with the lower residual is under-predicted; the one with the larger error is served worse."""
    if favourable not in ("higher", "lower"):
        raise ValueError(f"favourable must be 'higher' or 'lower', not {favourable!r}")
    measure, (a, b), (ra, rb) = result["measure"], result["groups"], result["rates"]
    lower, higher = (a, b) if ra < rb else (b, a)
    if name in ("outcome_parity", "threshold_parity"):
        subject = (
            f"{lower if favourable == 'higher' else higher} is disadvantaged on {name.replace('_', ' ')}"
        )
    elif name == "residual_bias":
        subject = f"{lower} is under-predicted relative to {higher}"
    else:
        subject = f"{higher} is served worse on {name.replace('_', ' ')}"
    described = {
        "mean_prediction": f"mean predicted {target}",
        "mean_residual": f"mean residual (predicted − actual {target})",
        "mae": f"mean absolute error of {target}",
        "rmse": f"root mean squared error of {target}",
        "share_above": f"share of predicted {target} at or above the threshold",
    }[measure]
    if measure == "share_above":
        numbers, support = (
            f"{100 * ra:.1f}% for {a} vs {100 * rb:.1f}% for {b}",
            evidence(result, 100, ".1f", " points"),
        )
    else:
        # one number of decimals for the whole sentence: four significant digits on the largest value
        spec = f".{max(0, 3 - int(np.floor(np.log10(max(abs(ra), abs(rb), result['value']) or 1.0))))}f"
        numbers, support = f"{ra:{spec}} for {a} vs {rb:{spec}} for {b}", evidence(result, 1, spec, "")
    return f"{grouping}: {subject} — {described} {numbers}, {support}."


def _losses(y: FloatArray, pred: npt.ArrayLike, sensitive: pd.DataFrame, min_size: int) -> dict[str, Any]:
    """Overall MAE and RMSE, the worst joint group (at least `min_size` rows) on each and the widest group gap."""
    attributes = list(sensitive.columns)
    table = audit(sensitive, attributes, y, pred, resamples=0)[JOIN.join(attributes)]
    residual = np.asarray(pred, dtype=np.float64) - y
    out: dict[str, Any] = {
        "mae": float(np.mean(np.abs(residual))),
        "rmse": float(np.sqrt(np.mean(residual**2))),
    }
    judged = table.size("mae") >= min_size
    for measure in ("mae", "rmse"):
        point = np.where(judged, table.values[measure], -np.inf)
        worst = int(np.argmax(point))
        out |= {
            f"worst_{measure}_group": table.labels[worst] if judged.any() else None,
            f"worst_group_{measure}": _num(point[worst]),
            f"group_{measure}_gap": _gap(table, (measure,), Comparison(min_size)),
        }
    return out


def mitigate(
    estimator: Any,
    X_train: pd.DataFrame,  # noqa: N803 - scikit-learn's naming
    y_train: npt.ArrayLike,
    sensitive_train: pd.DataFrame,
    X_eval: pd.DataFrame,  # noqa: N803
    y_eval: npt.ArrayLike,
    pred_eval: npt.ArrayLike,
    sensitive_eval: pd.DataFrame,
    *,
    upper_bound: float | None = None,
    losses: tuple[str, ...] = ("absolute", "square"),
    min_size: int = 30,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """The current model's predictions against fairlearn's ExponentiatedGradient under BoundedGroupLoss and the
    same unconstrained recipe (both refit from the unfitted `estimator` on the training rows), each with its overall
    and worst-group MAE and RMSE and the widest group gap on the evaluation rows (joint groups of
    `sensitive_eval` with at least `min_size` rows). `upper_bound` bounds every group's mean loss in target units
    (MAE for the absolute loss, MSE for the square loss); by default, the current model's overall loss on the
    evaluation rows.

    The model learns the target rescaled to [0, 1] (the training range): at the scale of, say, a wage the losses
    are so large that the exponentiated gradient's multipliers overflow."""
    final = estimator.steps[-1][1] if isinstance(estimator, Pipeline) else estimator
    if not has_fit_parameter(final, "sample_weight"):
        raise ValueError(f"{type(final).__name__}.fit takes no sample_weight: ExponentiatedGradient needs it")
    y, truth = np.asarray(y_train, dtype=np.float64), np.asarray(y_eval, dtype=np.float64)
    # a positive target stays positive (a gamma or Poisson loss refuses 0): it is only divided by its maximum
    low = 0.0 if y.min() > 0 else float(y.min())
    span = float(y.max()) - low
    if span == 0:
        raise ValueError("the training target is constant")
    groups = sensitive_train.astype("string").fillna(MISSING)

    def row(method: str, kind: str, predicted: npt.ArrayLike, note: str = "") -> dict[str, Any]:
        return {
            "method": method,
            "kind": kind,
            **_losses(truth, predicted, sensitive_eval, min_size),
            "note": note,
        }

    rows = [row("current model (unchanged)", "baseline", pred_eval)]
    refit = f"refit on {len(y)} training rows"
    with threadpool_limits(max(1, (os.cpu_count() or 2) // 2)):  # OpenMP oversubscription on shared hosts
        # the same recipe on the same rows without the constraint: what the constraint itself changes
        plain = clone(estimator).fit(X_train, y)
        rows.append(row("refit without constraint", "baseline", plain.predict(X_eval), refit))
        for name in losses:
            loss, power = LOSSES[name](0.0, 1.0), 1 if name == "absolute" else 2
            current = float(np.mean(loss.eval((truth - low) / span, (np.asarray(pred_eval) - low) / span)))
            bound = current if upper_bound is None else upper_bound / span**power
            reduction = ExponentiatedGradient(
                clone(estimator),
                BoundedGroupLoss(loss, upper_bound=bound),
                max_iter=EG_MAX_ITER,
                sample_weight_name=_weight_param(estimator),
            )
            reduction.fit(X_train, (y - low) / span, sensitive_features=groups)
            chosen = low + span * reduction.predict(X_eval, random_state=seed)
            note = (
                f"{refit}; every group's {'MAE' if power == 1 else 'MSE'} bounded by "
                f"{bound * span**power:.4g}; max_iter={EG_MAX_ITER}"
            )
            rows.append(
                row(f"ExponentiatedGradient (bounded group loss, {name})", "in-processing", chosen, note)
            )
    return rows
