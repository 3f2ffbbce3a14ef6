"""Stress inputs: noise, blanks, category swaps and spec-defined shifts; and edge cases scoring must survive.

Noise, blanks and swaps touch only mutable features and keep categories to values seen in training
(certification.perturbation). A shift is the spec's own change of one column in that column's units (a new
population, a changed form) and may leave the training range. Edge cases leave it on purpose: values far outside
anything seen, categories never seen, blank fields.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_integer_dtype, is_numeric_dtype

from certification import stats
from certification.checks.robustness.perturbation import FeatureSpace
from certification.spec import StressPolicy, StressShift

UNSEEN = "<category never seen in training>"


def _other(codes: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """A uniformly drawn code different from each current one (any code where the current one is unknown)."""
    drawn = rng.integers(0, k - 1, len(codes))
    return np.where(codes >= 0, drawn + (drawn >= codes), rng.integers(0, k, len(codes)))


def noise(space: FeatureSpace, base: pd.DataFrame, std: float, rng: np.random.Generator) -> pd.DataFrame:
    z = space.standardize(base) + rng.normal(0.0, std, (len(base), len(space.numeric)))
    return space.apply(base, z)


def blanks(space: FeatureSpace, base: pd.DataFrame, rate: float, rng: np.random.Generator) -> pd.DataFrame:
    changed = base.copy()
    for column in [*space.numeric, *space.categorical]:
        changed[column] = changed[column].mask(rng.random(len(base)) < rate)
    return changed


def swaps(space: FeatureSpace, base: pd.DataFrame, rate: float, rng: np.random.Generator) -> pd.DataFrame:
    changed = base.copy()
    for column, seen in space.categories.items():
        rows = np.flatnonzero((rng.random(len(base)) < rate) & base[column].notna().to_numpy())
        if len(seen) > 1 and len(rows):
            codes = pd.Categorical(base[column].iloc[rows], categories=seen).codes
            changed.iloc[rows, changed.columns.get_loc(column)] = np.asarray(seen, dtype=object)[
                _other(codes, len(seen), rng)
            ]
    for columns in space.one_hot.values():
        indicators = base[columns].to_numpy(dtype=float)
        rows = np.flatnonzero((rng.random(len(base)) < rate) & (indicators.sum(axis=1) == 1))
        if len(columns) > 1 and len(rows):
            moved = np.zeros((len(rows), len(columns)))
            moved[np.arange(len(rows)), _other(indicators[rows].argmax(axis=1), len(columns), rng)] = 1
            for j, column in enumerate(columns):
                changed.iloc[rows, changed.columns.get_loc(column)] = moved[:, j].astype(base[column].dtype)
    return changed


def shifted(base: pd.DataFrame, shift: StressShift) -> pd.DataFrame:
    changed = base.copy()
    values = base[shift.column].astype(float)
    values = values + shift.add if shift.add is not None else values * shift.multiply
    integer = is_integer_dtype(base[shift.column]) and values.notna().all()
    changed[shift.column] = values.round().astype(base[shift.column].dtype) if integer else values
    return changed


def scenarios(
    space: FeatureSpace, base: pd.DataFrame, policy: StressPolicy, seed: int
) -> dict[str, Callable[[], pd.DataFrame]]:
    """Name -> a builder of the stressed copy of `base`; each draws from its own seeded generator."""

    def seeded(build: Callable[..., pd.DataFrame], amount: float, offset: int) -> Callable[[], pd.DataFrame]:
        return lambda: build(space, base, amount, np.random.default_rng([seed, offset]))

    found: dict[str, Callable[[], pd.DataFrame]] = {}
    if space.numeric:
        found[f"gaussian noise σ={policy.noise_std:g}"] = seeded(noise, policy.noise_std, 1)
    if space.numeric or space.categorical:
        found[f"{policy.missing_rate:.0%} values missing"] = seeded(blanks, policy.missing_rate, 2)
    if any(len(v) > 1 for v in space.categories.values()) or space.one_hot:
        found[f"{policy.category_swap_rate:.0%} categories swapped"] = seeded(
            swaps, policy.category_swap_rate, 3
        )
    for shift in policy.shifts:
        found[f"shift: {shift.name}"] = functools.partial(shifted, base, shift)
    return found


@dataclass(frozen=True)
class Stressed:
    """How one stress moved the model's decisions on the same rows; `error` when scoring failed. For a regressor a
    'flip' is a prediction moving by more than the tolerance, and the drop is the relative growth of the mean
    absolute error."""

    flip_rate: stats.Estimate
    accuracy_drop: stats.Estimate  # accuracy before minus after, paired on the same rows
    accuracy: float  # after the stress (regression: the mean absolute error)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "flip_rate": self.flip_rate.to_dict(),
            "accuracy_drop": self.accuracy_drop.to_dict(),
            "accuracy": self.accuracy,
            "error": self.error,
        }


def measure(
    predict: Callable[[pd.DataFrame], np.ndarray], base_pred: np.ndarray, y: np.ndarray, frame: pd.DataFrame,
    level: float, tolerance: float | None = None,
) -> Stressed:  # fmt: skip
    try:
        pred = predict(frame)
    except Exception as exc:  # noqa: BLE001 - a model that cannot score stressed inputs fails the stress test
        missing = stats.Estimate(float("nan"), float("nan"), float("nan"), level)
        return Stressed(missing, missing, float("nan"), f"{type(exc).__name__}: {exc}")
    if tolerance is not None:
        moved = np.abs(pred - base_pred) > tolerance
        before, after = np.abs(base_pred - y), np.abs(pred - y)
        growth = stats.paired_difference(after, before, level)  # after - before, in the target's units
        scale = float(before.mean()) or 1.0
        relative = stats.Estimate(
            growth.value / scale, growth.lower / scale, growth.upper / scale, level, growth.resamples
        )
        return Stressed(stats.proportion(int(moved.sum()), len(y), level), relative, float(after.mean()))
    before, after = (base_pred == y).astype(float), (pred == y).astype(float)
    return Stressed(
        stats.proportion(int((pred != base_pred).sum()), len(y), level),
        stats.paired_difference(before, after, level),
        float(after.mean()),
    )


def edge_cases(train: pd.DataFrame, features: list[str], row: pd.Series) -> dict[str, pd.DataFrame]:
    """Name -> one input: `row` with one field at an extreme, an unseen category or blank; then all fields blank."""
    base = row[features].to_frame().T.reset_index(drop=True)
    numeric = [c for c in features if is_numeric_dtype(train[c]) and not is_bool_dtype(train[c])]
    base = base.astype({c: float for c in numeric})
    cases: dict[str, pd.DataFrame] = {}
    for column in features:
        if column in numeric:
            low, high = float(train[column].min()), float(train[column].max())
            width = max(high - low, 1.0)
            values: dict[str, Any] = {
                "training minimum": low,
                "training maximum": high,
                "1000× the range below": low - 1000 * width,
                "1000× the range above": high + 1000 * width,
            }
        else:
            values = {"unseen category": UNSEEN}
        for name, value in {**values, "missing": np.nan}.items():
            case = base.copy()
            case[column] = pd.Series([value], dtype=float if column in numeric else object)
            cases[f"{column}: {name}"] = case
    cases["every field missing"] = pd.DataFrame(
        {c: pd.Series([np.nan], dtype=float if c in numeric else object) for c in features}
    )
    return cases
