"""A realistic production stream for the demo and the tests: a certified model scoring a population that changes.

Rows are drawn from a real population (e.g. Adult's evaluation split) and scored by the real model, window by
window. Drift changes who applies, not what an applicant looks like: rows are resampled with weights that tilt the
population toward higher values of the drift columns, so every row stays a real, internally consistent person and
prediction drift follows from data drift. Scenarios, with t the drift's strength in a window (0 to 1):
- stable: t = 0 throughout;
- gradual: t grows linearly from 0 in the first window to 1 in the last;
- sudden: t jumps from 0 to 1 at the middle window;
- fairness_regression: no data drift; from the middle window, for one group, a share of labels turns against the
  model's predictions (its positives stop materialising and its negatives succeed), so error rates degrade in that
  group only and the label/score relationship changes there. For a regressor (no positive label), that group's
  outcomes fall by `flip_share` of their value, so its errors grow and its predictions become too high; for a
  multiclass model (prediction and label are class codes) a turned outcome is the class after the predicted one.
Labels arrive later: a share of rows carries its label and the time it arrived.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import numpy as np
import pandas as pd

Scenario = Literal["stable", "gradual", "sudden", "fairness_regression"]
SCENARIOS: tuple[Scenario, ...] = ("stable", "gradual", "sudden", "fairness_regression")


def strength(scenario: Scenario, window: int, windows: int) -> float:
    if scenario == "gradual":
        return window / max(windows - 1, 1)
    if scenario in ("sudden", "fairness_regression"):
        return float(window >= windows // 2)
    return 0.0


def production_stream(
    population: pd.DataFrame,
    model: Any,
    *,
    features: Sequence[str],
    protected: Sequence[str],
    label: str,
    positive: Any,  # None: a regressor, whose prediction is the value it predicts (or a multiclass model)
    scenario: Scenario,
    classes: Sequence[Any]
    | None = None,  # a multiclass model's declared classes: prediction and label are codes
    drift_columns: Sequence[str] = (),
    tilt: float = 1.0,
    group: tuple[str, Any] | None = None,
    flip_share: float = 0.3,
    windows: int = 6,
    rows_per_window: int = 5_000,
    labelled_share: float = 0.8,
    start: datetime = datetime(2027, 1, 1, tzinfo=UTC),
    window: timedelta = timedelta(days=1),
    model_name: str = "model",
    model_version: str = "1",
    seed: int = 0,
) -> Iterator[pd.DataFrame]:
    """One inference-log frame per window (certification.monitoring.inference_log's columns), in time order.

    tilt: how far the drift columns' mean moves at full strength, roughly in standard deviations.
    group: (protected column, value) whose labels change in a fairness regression; flip_share of them at t = 1.
    """
    if scenario not in SCENARIOS:
        raise ValueError(f"scenario must be one of {SCENARIOS}, not {scenario!r}")
    if scenario == "fairness_regression" and group is None:
        raise ValueError("a fairness regression needs group=(protected column, value)")
    if scenario in ("gradual", "sudden") and not drift_columns:
        raise ValueError(f"a {scenario} drift needs drift_columns")
    drifting = population[list(drift_columns)].astype(float) if drift_columns else None
    z = (
        ((drifting - drifting.mean()) / drifting.std()).mean(axis=1).fillna(0).to_numpy()
        if drifting is not None
        else 0
    )
    regression = positive is None and classes is None
    if classes is not None:
        truth = pd.Categorical(population[label], categories=list(classes)).codes.astype("int8")
    elif regression:
        truth = population[label].to_numpy(dtype=float)
    else:
        truth = (population[label] == positive).to_numpy(dtype="int8")
    kept = list(dict.fromkeys([*features, *protected]))
    for w in range(windows):
        rng = np.random.default_rng([seed, w])
        t = strength(scenario, w, windows)
        weights = np.exp(tilt * t * z) if scenario in ("gradual", "sudden") else np.ones(len(population))
        rows = rng.choice(len(population), size=rows_per_window, p=weights / weights.sum())
        frame = population.iloc[rows][kept].reset_index(drop=True)
        inputs = frame[list(features)]
        if regression:
            prediction, score = np.asarray(model.predict(inputs), dtype=float), np.full(len(frame), np.nan)
        elif classes is not None:  # the most probable declared class, as certification scores it
            columns = [list(map(str, model.classes_)).index(str(c)) for c in classes]
            prediction = np.asarray(model.predict_proba(inputs))[:, columns].argmax(axis=1).astype("int8")
            score = np.full(len(frame), np.nan)
        else:
            score = np.asarray(model.predict_proba(inputs))[:, list(model.classes_).index(positive)]
            prediction = (np.asarray(model.predict(inputs)) == positive).astype("int8")
        outcome = truth[rows].copy()
        if scenario == "fairness_regression" and t > 0:
            column, value = group  # type: ignore[misc]
            members = (frame[column] == value).to_numpy()
            if regression:
                outcome[members] *= 1 - flip_share * t
            else:  # the outcome turns against the prediction: the other class, or the next class of several
                turned = members & (rng.random(rows_per_window) < flip_share * t)
                other = 1 - prediction if classes is None else (prediction + 1) % len(classes)
                outcome[turned] = other[turned]
        offsets = np.sort(rng.uniform(0, window.total_seconds(), rows_per_window))
        # microseconds, as databases keep them
        logged = (pd.Timestamp(start + w * window) + pd.to_timedelta(offsets, unit="s")).floor("us")
        known = rng.random(rows_per_window) < labelled_share
        arrived = (logged + pd.to_timedelta(rng.uniform(1, 30, rows_per_window), unit="D")).floor("us")
        yield pd.DataFrame(
            {
                "request_id": [f"{model_name}-{seed}-{scenario}-{w}-{i}" for i in range(rows_per_window)],
                "logged_at": logged,
                "model_name": model_name,
                "model_version": str(model_version),
                **{c: frame[c] for c in kept},
                "prediction": prediction,
                "score": score,
                "label": pd.Series(outcome, dtype="Float64" if regression else "Int8").where(known),
                "labelled_at": pd.Series(arrived).where(known),
            }
        )
