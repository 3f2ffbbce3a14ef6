"""Production windows against the certified baseline, in bounded memory.

A window is read chunk by chunk (inference_log.py) into a `Profile`: counts only — per-feature histograms
on the baseline's bins, category counts, the score histogram, and confusion counts of labelled rows overall and per
protected group — plus a uniform random sample of fixed size for Evidently. Counts merge exactly, so drift distances,
rates and group metrics cover every row of the window whatever its size; only Evidently's report is computed on the
sample, and the result says how many rows it saw.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_numeric_dtype
from scipy.spatial.distance import jensenshannon

from certification import stats

MISSING, OTHER = "<missing>", "<other>"
SCORE_EDGES = np.linspace(0.0, 1.0, 21)
CONFUSION = ("tp", "fp", "fn", "tn")


@dataclass
class Bins:
    """How one feature is counted: inner edges for numbers (from the baseline's quantiles) or known categories."""

    edges: np.ndarray | None = None
    categories: list[Any] | None = None

    @property
    def labels(self) -> list[str]:
        if self.edges is not None:
            bounds = ["-inf", *(f"{e:g}" for e in self.edges), "inf"]
            return [f"[{a}, {b})" for a, b in zip(bounds, bounds[1:], strict=False)] + [MISSING]
        return [str(c) for c in self.categories or []] + [OTHER, MISSING]

    def count(self, values: pd.Series) -> np.ndarray:
        missing = values.isna().to_numpy()
        if self.edges is not None:
            where = np.searchsorted(self.edges, values.to_numpy(dtype=float)[~missing], side="right")
            counts = np.bincount(where, minlength=len(self.edges) + 1)
        else:
            known = self.categories or []
            codes = pd.Categorical(values[~missing], categories=known).codes
            counts = np.bincount(np.where(codes < 0, len(known), codes), minlength=len(known) + 1)
        return np.append(counts, missing.sum()).astype(np.int64)


def bins_for(reference: pd.DataFrame, columns: Sequence[str], quantiles: int = 10) -> dict[str, Bins]:
    found = {}
    for column in columns:
        values = reference[column]
        if is_numeric_dtype(values) and not is_bool_dtype(values):
            edges = np.unique(
                np.nanquantile(values.to_numpy(dtype=float), np.linspace(0, 1, quantiles + 1)[1:-1])
            )
            found[column] = Bins(edges=edges)
        else:
            found[column] = Bins(categories=values.dropna().value_counts().index.tolist())
    return found


@dataclass
class Profile:
    """Mergeable counts of a stream of inference-log chunks, and a fixed-size uniform sample of its rows."""

    bins: dict[str, Bins]
    protected: list[str]
    sample_size: int = 20_000
    seed: int = 0
    rows: int = 0
    labelled: int = 0
    features: dict[str, np.ndarray] = field(default_factory=dict)
    scores: np.ndarray = field(default_factory=lambda: np.zeros(len(SCORE_EDGES) - 1, dtype=np.int64))
    positives: int = 0
    # labelled rows and positive labels per score bin: whether the label/score relationship holds
    calibration: np.ndarray = field(
        default_factory=lambda: np.zeros((len(SCORE_EDGES) - 1, 2), dtype=np.int64)
    )
    confusion: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CONFUSION, 0))
    # attribute -> group -> its counts (regression: sums; multiclass: confusion matrix)
    groups: dict[str, dict[Any, Any]] = field(default_factory=dict)
    sample: pd.DataFrame | None = None
    _keys: np.ndarray = field(default_factory=lambda: np.empty(0))

    def __post_init__(self) -> None:
        for column, bins in self.bins.items():  # an empty window still has (zero) counts for every bin
            self.features.setdefault(column, np.zeros(len(bins.labels), dtype=np.int64))

    def update(self, chunk: pd.DataFrame) -> Profile:
        rng = np.random.default_rng([self.seed, self.rows])
        self.rows += len(chunk)
        for column, bins in self.bins.items():
            self.features[column] = self.features[column] + bins.count(chunk[column])
        self._outcomes(chunk)
        # a uniform sample of everything seen: keep the rows with the smallest random keys
        keys = np.concatenate([self._keys, rng.random(len(chunk))])
        pool = chunk if self.sample is None else pd.concat([self.sample, chunk], ignore_index=True)
        keep = np.argsort(keys, kind="stable")[: self.sample_size]
        self.sample, self._keys = pool.iloc[keep].reset_index(drop=True), keys[keep]
        return self

    def _outcomes(self, chunk: pd.DataFrame) -> None:
        """Scores, decisions and, on labelled rows, confusion counts overall and per protected group."""
        score = chunk["score"].to_numpy(dtype=float)
        self.scores += np.histogram(score[~np.isnan(score)], SCORE_EDGES)[0]
        self.positives += int(chunk["prediction"].sum())
        known = chunk[chunk["label"].notna()]
        self.labelled += len(known)
        truth, decided = known["label"].to_numpy(dtype=int), known["prediction"].to_numpy(dtype=int)
        cells = {"tp": truth & decided, "fp": (1 - truth) & decided, "fn": truth & (1 - decided)}
        cells["tn"] = (1 - truth) & (1 - decided)
        for name, hits in cells.items():
            self.confusion[name] += int(hits.sum())
        known_score = known["score"].to_numpy(dtype=float)
        scored = ~np.isnan(known_score)
        where = np.clip(
            np.searchsorted(SCORE_EDGES, known_score[scored], side="right") - 1, 0, len(SCORE_EDGES) - 2
        )
        np.add.at(self.calibration, (where, 0), 1)
        np.add.at(self.calibration, (where, 1), truth[scored])
        for attribute in self.protected:
            per_group = pd.DataFrame(cells).groupby(known[attribute].astype(str).to_numpy()).sum()
            mine = self.groups.setdefault(attribute, {})
            for group, row in per_group.iterrows():
                counts = mine.setdefault(group, dict.fromkeys(CONFUSION, 0))
                for name in CONFUSION:
                    counts[name] += int(row[name])

    def fresh(self, sample_size: int) -> Profile:
        """An empty profile counted on the same bins: a window to compare with this baseline."""
        return Profile(self.bins, self.protected, sample_size=sample_size)

    def read(self, chunks: Iterable[pd.DataFrame]) -> Profile:
        for chunk in chunks:
            self.update(chunk)
        return self


# sums a regression window keeps: over all rows, and over the labelled rows' errors (e = prediction − label)
SUMS = ("rows", "prediction", "labelled", "absolute_error", "squared_error", "residual")


@dataclass
class RegressionProfile(Profile):
    """A regressor's window: the histogram of its predictions on the baseline's decile bins, and per protected group
    the sums that give mean prediction, mean absolute error, RMSE and mean residual exactly."""

    prediction_bins: Bins = field(default_factory=Bins)
    totals: dict[str, float] = field(default_factory=lambda: dict.fromkeys(SUMS, 0.0))

    def __post_init__(self) -> None:
        super().__post_init__()
        self.scores = np.zeros(len(self.prediction_bins.labels), dtype=np.int64)

    def fresh(self, sample_size: int) -> Profile:
        return RegressionProfile(
            self.bins, self.protected, sample_size=sample_size, prediction_bins=self.prediction_bins
        )

    def _outcomes(self, chunk: pd.DataFrame) -> None:
        prediction = chunk["prediction"].astype(float)
        self.scores += self.prediction_bins.count(prediction)
        label = chunk["label"].astype(float)
        known = label.notna().to_numpy()
        self.labelled += int(known.sum())
        error = (prediction - label).to_numpy()
        parts = pd.DataFrame(
            {
                "rows": 1.0,
                "prediction": prediction.to_numpy(),
                "labelled": known.astype(float),
                "absolute_error": np.where(known, np.abs(error), 0.0),
                "squared_error": np.where(known, error**2, 0.0),
                "residual": np.where(known, error, 0.0),
            }
        )
        for name, total in parts.sum().items():
            self.totals[str(name)] += float(total)
        for attribute in self.protected:
            mine = self.groups.setdefault(attribute, {})
            for group, row in parts.groupby(chunk[attribute].astype(str).to_numpy()).sum().iterrows():
                sums = mine.setdefault(group, dict.fromkeys(SUMS, 0.0))
                for name in SUMS:
                    sums[name] += float(row[name])


@dataclass
class MulticlassProfile(Profile):
    """A multiclass model's window: how often it predicts each declared class (prediction and label are class
    codes), and the confusion matrix of labelled rows overall and per protected group."""

    classes: list[str] = field(default_factory=list)
    matrix: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.int64))

    def __post_init__(self) -> None:
        super().__post_init__()
        k = len(self.classes)
        self.scores, self.matrix = np.zeros(k, dtype=np.int64), np.zeros((k, k), dtype=np.int64)

    def fresh(self, sample_size: int) -> Profile:
        return MulticlassProfile(self.bins, self.protected, sample_size=sample_size, classes=self.classes)

    def _outcomes(self, chunk: pd.DataFrame) -> None:
        k = len(self.classes)
        self.scores += np.bincount(chunk["prediction"].to_numpy(dtype=np.int64), minlength=k)
        known = chunk[chunk["label"].notna()]
        self.labelled += len(known)
        cell = known["label"].to_numpy(dtype=np.int64) * k + known["prediction"].to_numpy(dtype=np.int64)
        self.matrix += np.bincount(cell, minlength=k * k).reshape(k, k)
        for attribute in self.protected:
            mine = self.groups.setdefault(attribute, {})
            for group, cells in pd.Series(cell).groupby(known[attribute].astype(str).to_numpy()):
                found = np.bincount(cells.to_numpy(), minlength=k * k).reshape(k, k)
                mine[group] = mine.get(group, np.zeros((k, k), dtype=np.int64)) + found


def _class_measures(matrix: np.ndarray, classes: Sequence[str], level: float) -> dict[str, Any]:
    """Accuracy and each class's predicted share (with exact intervals) and macro F1 of a confusion matrix."""
    n = int(matrix.sum())
    return {
        "rows": n,
        "accuracy": stats.proportion(int(np.trace(matrix)), n, level).to_dict(),
        "macro_f1": {
            "value": float(stats.class_rates(matrix.astype(float))["f1"].mean()) if n else float("nan")
        },
        **{
            f"predicted {c}": stats.proportion(int(matrix[:, k].sum()), n, level).to_dict()
            for k, c in enumerate(classes)
        },
    }


def _compare_multiclass(
    baseline: MulticlassProfile, window: MulticlassProfile, level: float
) -> dict[str, Any]:
    classes, empty = baseline.classes, np.zeros_like(baseline.matrix)
    return {
        "classes": classes,
        "prediction": {
            "score_psi": psi(baseline.scores, window.scores),
            "class_shares": dict(zip(classes, (window.scores / max(window.rows, 1)).tolist(), strict=True)),
            "baseline_class_shares": dict(
                zip(classes, (baseline.scores / max(baseline.rows, 1)).tolist(), strict=True)
            ),
        },
        "label_score": {"shift": None, "bins_compared": 0},
        "performance": _class_measures(window.matrix, classes, level),
        "baseline_performance": _class_measures(baseline.matrix, classes, level),
        "groups": {
            attribute: {
                group: {
                    "window": _class_measures(matrix, classes, level),
                    "baseline": _class_measures(baseline.groups[attribute].get(group, empty), classes, level),
                }
                for group, matrix in window.groups.get(attribute, {}).items()
            }
            for attribute in baseline.protected
        },
    }


def _errors(sums: Mapping[str, float], level: float) -> dict[str, Any]:
    """Mean prediction over all rows, and MAE (with a normal interval), RMSE and mean residual over labelled rows."""
    from scipy.stats import norm

    n = sums["labelled"]
    mae = sums["absolute_error"] / n if n else float("nan")
    spread = np.sqrt(max(sums["squared_error"] / n - mae**2, 0.0) / n) if n > 1 else float("nan")
    half = float(norm.ppf(0.5 + level / 2)) * spread
    return {
        "rows": int(sums["labelled"]),
        "mean_prediction": {"value": sums["prediction"] / sums["rows"] if sums["rows"] else float("nan")},
        "mae": {"value": mae, "ci_lower": mae - half, "ci_upper": mae + half, "ci_level": level},
        "rmse": {"value": float(np.sqrt(sums["squared_error"] / n)) if n else float("nan")},
        "mean_residual": {"value": sums["residual"] / n if n else float("nan")},
    }


def _compare_regression(
    baseline: RegressionProfile, window: RegressionProfile, level: float
) -> dict[str, Any]:
    empty = dict.fromkeys(SUMS, 0.0)
    return {
        "prediction": {
            "score_psi": psi(baseline.scores, window.scores),
            "mean_prediction": _errors(window.totals, level)["mean_prediction"]["value"],
            "baseline_mean_prediction": _errors(baseline.totals, level)["mean_prediction"]["value"],
        },
        "label_score": {"shift": None, "bins_compared": 0},
        "performance": _errors(window.totals, level),
        "baseline_performance": _errors(baseline.totals, level),
        "groups": {
            attribute: {
                group: {
                    "window": _errors(sums, level),
                    "baseline": _errors(baseline.groups[attribute].get(group, empty), level),
                }
                for group, sums in window.groups.get(attribute, {}).items()
            }
            for attribute in baseline.protected
        },
    }


def psi(expected: np.ndarray, actual: np.ndarray, floor: float = 1e-4) -> float:
    """Population stability index: sum (a - e) ln(a / e) over shares, empty bins floored as is customary."""
    e = np.maximum(expected / max(expected.sum(), 1), floor)
    a = np.maximum(actual / max(actual.sum(), 1), floor)
    return float(np.sum((a - e) * np.log(a / e)))


def _rates(counts: dict[str, int], level: float) -> dict[str, Any]:
    tp, fp, fn, tn = (counts[k] for k in CONFUSION)
    shares = {
        "selection_rate": (tp + fp, tp + fp + fn + tn),
        "tpr": (tp, tp + fn),
        "fpr": (fp, fp + tn),
        "accuracy": (tp + tn, tp + fp + fn + tn),
    }
    return {
        "rows": tp + fp + fn + tn,
        **{k: stats.proportion(*v, level).to_dict() for k, v in shares.items()},
    }


def calibration_shift(baseline: Profile, window: Profile, min_rows: int = 30) -> dict[str, Any]:
    """Label rate at equal scores, baseline against window: the mean absolute change over score bins both have
    `min_rows` labelled rows in, weighted by the window's rows. A large value means the inputs that earn a score no
    longer lead to the same outcomes (concept drift), whether or not the inputs moved."""
    both = (baseline.calibration[:, 0] >= min_rows) & (window.calibration[:, 0] >= min_rows)
    if not both.any():
        return {"shift": None, "bins_compared": 0}
    rate = {
        name: p.calibration[both, 1] / p.calibration[both, 0] for name, p in (("b", baseline), ("w", window))
    }
    weights = window.calibration[both, 0]
    return {
        "shift": float(np.average(np.abs(rate["w"] - rate["b"]), weights=weights)),
        "bins_compared": int(both.sum()),
        "rows_compared": int(weights.sum()),
    }


def compare(baseline: Profile, window: Profile, level: float = 0.95) -> dict[str, Any]:
    """Every row of the window against the baseline: drift per feature and of the scores (a regressor's predictions),
    live performance and per-group measures on labelled rows, each with its interval."""
    features = {
        column: {
            "psi": psi(baseline.features[column], window.features[column]),
            "jensen_shannon": float(
                jensenshannon(baseline.features[column], window.features[column], base=2)
            ),
            "bins": baseline.bins[column].labels,
            "baseline_counts": baseline.features[column].tolist(),
            "window_counts": window.features[column].tolist(),
        }
        for column in baseline.bins
    }
    common = {
        "rows": window.rows,
        "labelled_rows": window.labelled,
        "features": features,
        "most_drifted": sorted(features, key=lambda c: -features[c]["psi"]),
    }
    if isinstance(baseline, RegressionProfile) and isinstance(window, RegressionProfile):
        return {**common, "task": "regression", **_compare_regression(baseline, window, level)}
    if isinstance(baseline, MulticlassProfile) and isinstance(window, MulticlassProfile):
        return {**common, "task": "multiclass", **_compare_multiclass(baseline, window, level)}
    return {
        **common,
        "prediction": {
            "score_psi": psi(baseline.scores, window.scores),
            "positive_rate": stats.proportion(window.positives, window.rows, level).to_dict(),
            "baseline_positive_rate": baseline.positives / max(baseline.rows, 1),
        },
        "label_score": calibration_shift(baseline, window),
        "performance": _rates(window.confusion, level),
        "baseline_performance": _rates(baseline.confusion, level),
        "groups": {
            attribute: {
                group: {
                    "window": _rates(counts, level),
                    "baseline": _rates(
                        baseline.groups[attribute].get(group, dict.fromkeys(CONFUSION, 0)), level
                    ),
                }
                for group, counts in window.groups.get(attribute, {}).items()
            }
            for attribute in baseline.protected
        },
    }


def evidently_drift(
    baseline: Profile, window: Profile, columns: Sequence[str], threshold: float = 0.1
) -> dict[str, Any]:
    """Evidently's data drift report on the two samples; it states how many of the window's rows it saw."""
    from certification.checks.data_validation.profiling import shift_summary

    assert baseline.sample is not None and window.sample is not None, "profiles must have read rows"
    found = shift_summary(baseline.sample, window.sample, columns=list(columns), threshold=threshold)
    return {**found, "sampled_rows": len(window.sample), "window_rows": window.rows}
