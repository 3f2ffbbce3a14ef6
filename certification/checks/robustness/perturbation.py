"""The feature schema every perturbation respects: what may move, how far, and what a valid input looks like.

Attacks and stress tests change raw model inputs, not an encoding of them, so a categorical feature can only take a
value seen in training, a one-hot group keeps exactly one indicator set, integer features stay integers, and
values stay inside the training range. Protected attributes and spec-declared immutable features never change.
Budgets are in standardized units: a budget of 0.5 lets each mutable numeric feature move half a training
standard deviation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_integer_dtype, is_numeric_dtype


@dataclass
class FeatureSpace:
    numeric: list[str]  # mutable numeric features
    categorical: list[str]  # mutable categorical features, one column each
    one_hot: dict[str, list[str]]  # mutable one-hot groups
    frozen: list[str]  # model inputs that never change
    mean: np.ndarray
    std: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    integer: np.ndarray  # bool per numeric feature
    categories: dict[str, list[Any]]  # values seen in training, per mutable categorical feature

    @classmethod
    def build(
        cls, train: pd.DataFrame, features: list[str], frozen: set[str], one_hot_groups: dict[str, list[str]]
    ) -> FeatureSpace:
        grouped = {c for columns in one_hot_groups.values() for c in columns}
        frozen_groups = {g for g, columns in one_hot_groups.items() if g in frozen or set(columns) & frozen}
        frozen_columns = (frozen & set(features)) | {
            c for g in frozen_groups for c in one_hot_groups[g] if c in features
        }
        mutable = [c for c in features if c not in frozen_columns and c not in grouped]
        numeric = [c for c in mutable if is_numeric_dtype(train[c]) and not is_bool_dtype(train[c])]
        values = train[numeric].astype(float)
        return cls(
            numeric=numeric,
            categorical=[c for c in mutable if c not in numeric],
            one_hot={g: list(cs) for g, cs in one_hot_groups.items() if g not in frozen_groups},
            frozen=[c for c in features if c in frozen_columns],
            mean=values.mean().fillna(0.0).to_numpy(),
            std=values.std().replace(0.0, 1.0).fillna(1.0).to_numpy(),
            lower=values.min().fillna(0.0).to_numpy(),
            upper=values.max().fillna(0.0).to_numpy(),
            integer=np.array([is_integer_dtype(train[c]) for c in numeric], dtype=bool),
            categories={
                c: sorted(train[c].dropna().unique().tolist(), key=str) for c in mutable if c not in numeric
            },
        )

    def standardize(self, frame: pd.DataFrame) -> np.ndarray:
        """Mutable numeric features in standard deviations from the training mean (missing values: 0)."""
        z = (frame[self.numeric].to_numpy(dtype=float) - self.mean) / self.std
        return np.nan_to_num(z, nan=0.0)

    def apply(self, base: pd.DataFrame, z: np.ndarray, valid: bool = True) -> pd.DataFrame:
        """`base` with its mutable numeric features set from standardized `z`, clipped to the training range.

        valid=True also keeps integer features integers, giving an input the model could really receive; attacks
        that follow gradients read the unrounded values. Missing values stay missing.
        """
        changed = base.copy()
        values = np.clip(z * self.std + self.mean, self.lower, self.upper)
        original = base[self.numeric].to_numpy(dtype=float)
        if valid:  # whole steps toward the original: an integer move never exceeds the budget it was given
            move = values[:, self.integer] - original[:, self.integer]
            values[:, self.integer] = original[:, self.integer] + np.trunc(move)
        values = np.where(np.isnan(original), np.nan, values)
        for j, column in enumerate(self.numeric):
            kind = base[column].dtype if valid and not np.isnan(values[:, j]).any() else float
            changed[column] = values[:, j].astype(kind)
        return changed

    def distance(self, base: pd.DataFrame, changed: pd.DataFrame) -> np.ndarray:
        """Per row, the largest move of any mutable numeric feature, in standard deviations."""
        if not self.numeric:
            return np.zeros(len(base))
        moved = (
            changed[self.numeric].to_numpy(dtype=float) - base[self.numeric].to_numpy(dtype=float)
        ) / self.std
        return np.nan_to_num(np.abs(moved), nan=0.0).max(axis=1)

    def violations(self, base: pd.DataFrame, changed: pd.DataFrame) -> list[str]:
        """Every way `changed` is not a valid perturbation of `base`; empty when it is."""
        problems = []
        for column in self.frozen:
            moved = ~((base[column] == changed[column]) | (base[column].isna() & changed[column].isna()))
            if moved.any():
                problems.append(f"frozen feature {column!r} changed in {int(moved.sum())} rows")
        if self.numeric:
            values = changed[self.numeric].to_numpy(dtype=float)
            outside = ((values < self.lower - 1e-9) | (values > self.upper + 1e-9)).any(axis=0)
            fractional = (np.abs(values - np.rint(values)) > 1e-9).any(axis=0) & self.integer
            for column, left, fraction in zip(self.numeric, outside, fractional, strict=True):
                problems += [f"{column!r} left its training range"] if left else []
                problems += [f"integer feature {column!r} holds a fraction"] if fraction else []
        for column, seen in self.categories.items():
            unseen = ~changed[column].isin(seen) & changed[column].notna()
            if unseen.any():
                problems.append(
                    f"{column!r} holds a category not seen in training in {int(unseen.sum())} rows"
                )
        for group, columns in self.one_hot.items():
            indicators = changed[columns].to_numpy(dtype=float)
            same_count = indicators.sum(axis=1) == base[columns].to_numpy(dtype=float).sum(axis=1)
            if not (np.isin(indicators, (0.0, 1.0)).all() and same_count.all()):
                problems.append(f"one-hot group {group!r} no longer holds a single category")
        return problems
