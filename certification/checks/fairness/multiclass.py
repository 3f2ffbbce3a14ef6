"""Fairness of multiclass classifiers, one-vs-rest on the binary engine (audit.py).

Each class c is the binary problem "is the row of class c?" (y == c, pred == c, score = proba[:, c]), so every group
measure of audit.py (selection rate, base rate, TPR, FPR, FNR, PPV, accuracy, calibration error) exists per class
and every binary disparity is judged per class. Nothing is counted twice: the groups are encoded once, one pass
counts each finest group's K x K confusion matrix (bincount of group*K*K + y*K + pred) and each class's tn, fp, fn,
tp counts are sums of its cells. A bootstrap resample of rows is a multinomial draw over the (finest group, true
class, predicted class) cells, so all classes are resampled jointly from the same draw; from there each class's
counts and draws go through audit.group_tables, the binary engine's own table builder, and its disparities
through audit.disparity. Only the calibration sums read the rows once more per class (they need proba[:, c]).

A multiclass disparity is that of the worst class, with its p-value Bonferroni-adjusted for the group pairs and
measures (as audit.disparity does) and also for the classes it was picked from. Whether being predicted class c
helps people depends on the class (a 'low risk' prediction helps, a 'high risk' one harms), so findings take
each class's side.

Mitigation is not applicable here, and no mitigation evidence is produced: fairlearn's post-processing
(ThresholdOptimizer) picks group thresholds on one binary score, and its reductions (ExponentiatedGradient with
DemographicParity or EqualizedOdds) constrain binary classifiers (or regression losses). Applying either one
class at a time would not give a multiclass classifier: the per-class decisions are taken independently, so a
row could be assigned several classes or none, and the classifier the certificate would describe would not exist.

fairlearn (MetricFrame on one-vs-rest labels) and scikit-learn (confusion_matrix) are the independent references in
tests/unit/checks/test_fairness_multiclass.py.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from certification.checks.fairness import audit as engine
from certification.checks.fairness.audit import (
    Comparison,
    GroupTable,
    IntArray,
    encode,
    group_tables,
    partitions,
    residual_sums,
)
from certification.stats import FloatArray

# every binary disparity has a one-vs-rest meaning: parity of the share predicted c (demographic parity), of the
# TPR and FPR of class c (equalized odds), of its TPR (equal opportunity), of its precision (predictive parity)
# and of mean proba[:, c] minus the share of class c (calibration gap, with `proba`)
DISPARITIES: dict[str, tuple[str, ...]] = dict(engine.DISPARITIES)
SIDES = ("positive", "negative")


def _labels(classes: Sequence[Any]) -> list[str]:
    labels = [str(c) for c in classes]
    if len(labels) < 2 or len(set(labels)) != len(labels):
        raise ValueError("classes must name at least two distinct classes")
    return labels


def _codes(values: npt.ArrayLike, n: int | None, k: int, name: str) -> IntArray:
    array = np.asarray(values)
    codes = array.astype(np.int64) if array.dtype.kind in "iuf" else np.empty(0, dtype=np.int64)
    if (
        array.ndim != 1
        or (n is not None and array.shape[0] != n)
        or codes.shape != array.shape
        or not np.array_equal(codes, array)
        or (codes.size and (codes.min() < 0 or codes.max() >= k))
    ):
        raise ValueError(f"{name} must be a 1-D array of class codes 0..{k - 1}, one per row")
    return codes


def _proba(values: npt.ArrayLike, n: int, k: int) -> FloatArray:
    array = np.asarray(values, dtype=np.float64)
    if array.shape != (n, k) or not np.isfinite(array).all():
        raise ValueError(f"proba must be a finite ({n}, {k}) array: one column per class")
    return array


def _confusion(
    frame: pd.DataFrame, attributes: list[str], y_true: npt.ArrayLike, pred: npt.ArrayLike, k: int
) -> tuple[IntArray, IntArray, list[list[str]], IntArray, IntArray, IntArray]:
    """Finest group codes, their attribute levels, the checked class codes and the (F, K, K) confusion matrix
    of every finest group (rows true class, columns predicted), from one bincount."""
    y = _codes(y_true, None, k, "y_true")
    p = _codes(pred, y.size, k, "pred")
    if y.size == 0 or len(frame) != y.size:
        raise ValueError("y_true, pred and the frame must have the same, non-zero number of rows")
    finest, combos, levels = encode(frame, attributes)
    size = len(combos)
    confusion = np.bincount(finest * k * k + y * k + p, minlength=size * k * k).reshape(size, k, k)
    return finest, combos, levels, y, p, confusion.astype(np.int64)


def one_vs_rest(confusion: IntArray, c: int) -> IntArray:
    """(..., 4) tn, fp, fn, tp of class c against the rest from (..., K, K) confusion matrices."""
    tp = confusion[..., c, c]
    fn = confusion[..., c, :].sum(axis=-1) - tp
    fp = confusion[..., :, c].sum(axis=-1) - tp
    tn = confusion.sum(axis=(-2, -1)) - tp - fn - fp
    return np.stack([tn, fp, fn, tp], axis=-1)


def audit(
    frame: pd.DataFrame,
    attributes: list[str],
    y_true: npt.ArrayLike,
    pred: npt.ArrayLike,
    proba: npt.ArrayLike | None,
    classes: Sequence[Any],
    *,
    intersections: bool = True,
    resamples: int = 1000,
    seed: int = 0,
) -> dict[str, dict[str, GroupTable]]:
    """Class label -> grouping -> the one-vs-rest group table of that class (audit.GroupTable, with calibration
    when `proba` is given), for every attribute and (optionally) every intersection of them.

    y_true and pred are class codes 0..K-1 into `classes`; proba is (n, K), column c the probability of class c.
    Every class's bootstrap draws come from the same resamples of rows."""
    labels = _labels(classes)
    k = len(labels)
    finest, combos, levels, y, p, confusion = _confusion(frame, attributes, y_true, pred, k)
    n = y.size
    scores = None if proba is None else _proba(proba, n, k)
    rng = np.random.default_rng(seed)
    drawn = rng.multinomial(n, confusion.ravel() / n, size=resamples).reshape(resamples, *confusion.shape)
    out = {}
    for c, label in enumerate(labels):
        counts, draws = one_vs_rest(confusion, c), one_vs_rest(drawn, c)
        sums = None
        if scores is not None:
            y_c, p_c = (y == c).astype(np.int64), (p == c).astype(np.int64)
            sums = residual_sums(finest, y_c, p_c, scores[:, c], counts.shape)
        out[label] = group_tables(attributes, combos, levels, counts, draws, sums, intersections, rng)
    return out


def for_grouping(tables: Mapping[str, Mapping[str, GroupTable]], grouping: str) -> dict[str, GroupTable]:
    """Class label -> the table of one grouping, from audit()'s class -> grouping -> table."""
    return {label: by_grouping[grouping] for label, by_grouping in tables.items()}


def disparity(tables: Mapping[str, GroupTable], name: str, how: Comparison) -> dict[str, Any]:
    """The disparity `name` (see DISPARITIES) of the worst class of one grouping (`tables`: class label -> that
    grouping's table, see for_grouping): the keys of audit.disparity for the class with the largest value, plus
    `class` (its label) and `per_class` (class label -> its value, None when fewer than two groups are judged).

    Bonferroni: audit.disparity adjusts the worst pair's p-value for the pairs and measures it was picked from;
    the worst class was also picked from the K classes searched (those with a judged disparity), so
    `p_value_adjusted` is that multiplied by K as well, capped at 1, and `significant` is judged on it."""
    if name not in DISPARITIES:
        raise ValueError(f"unknown disparity {name!r}; one of {sorted(DISPARITIES)}")
    if not all(set(DISPARITIES[name]) <= set(table.values) for table in tables.values()):
        raise ValueError(f"{name} needs audit(..., proba=...)")
    results = {label: engine.disparity(table, name, how) for label, table in tables.items()}
    per_class = {label: result["value"] for label, result in results.items()}
    judged = {label: result for label, result in results.items() if result["value"] is not None}
    if not judged:
        note = f"fewer than two groups with at least {how.min_size} rows in any class"
        return {"value": None, "note": note, "class": None, "per_class": per_class}
    worst = max(judged, key=lambda label: judged[label]["value"])  # the first class on a tie
    adjusted = min(1.0, judged[worst]["p_value_adjusted"] * len(judged))
    return {
        **judged[worst],
        "p_value_adjusted": adjusted,
        "significant": bool(adjusted < how.alpha),
        "class": worst,
        "per_class": per_class,
    }


def group_confusion(
    frame: pd.DataFrame,
    attributes: list[str],
    y_true: npt.ArrayLike,
    pred: npt.ArrayLike,
    classes: Sequence[Any],
    *,
    intersections: bool = True,
) -> dict[str, dict[str, list[list[int]]]]:
    """Grouping -> group -> its K x K confusion matrix (rows the true class, columns the predicted class, in the
    order of `classes`), JSON-ready; every table sums the finest groups' matrices of one pass over the rows."""
    _, combos, levels, _, _, confusion = _confusion(frame, attributes, y_true, pred, len(_labels(classes)))
    out = {}
    for name, labels, onehot in partitions(attributes, combos, levels, intersections):
        matrices = np.einsum("fij,fg->gij", confusion, onehot)
        out[name] = {label: matrices[g].tolist() for g, label in enumerate(labels)}
    return out


def finding(
    grouping: str, name: str, result: dict[str, Any], favourable: Mapping[str, str] | str = "positive"
) -> str:
    """One plain sentence naming the class, as audit.finding does for a binary model ("race: African-American is
    disadvantaged on demographic parity for class 'high' — …"). `favourable` says, per class label, whether being
    predicted that class is "positive" (it helps the person: 'low risk') or "negative" (it harms them: 'high
    risk'); one string applies to every class, and a class missing from a mapping counts as "positive"."""
    sides = [favourable] if isinstance(favourable, str) else list(favourable.values())
    if any(side not in SIDES for side in sides):
        raise ValueError(f"favourable must be 'positive' or 'negative' (per class), not {favourable!r}")
    if result.get("value") is None:
        raise ValueError("no disparity to describe: fewer than two groups were judged")
    label = result["class"]
    side = favourable if isinstance(favourable, str) else favourable.get(label, "positive")
    return engine.finding(grouping, name, result, side, scope=f" for class {label!r}")
