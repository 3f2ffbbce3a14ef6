"""Evasion attacks with ART inside the feature schema: how far must an applicant move to flip the decision?

The attack works on standardized mutable numeric features (FeatureSpace); everything else in a row is carried along
untouched through a row-index column that the attack is masked from. Differentiable models (linear, SVM) are
attacked with PGD/FGSM, following loss gradients taken by central differences through the whole pipeline (exact
up to O(h²) for smooth models); tree ensembles and anything else with HopSkipJump, which needs only decisions.
A success is counted on the valid input (rounded, clipped) the model really receives.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from art.attacks.evasion import FastGradientMethod, HopSkipJump, ProjectedGradientDescentNumpy
from art.estimators.classification import BlackBoxClassifier
from art.estimators.estimator import LossGradientsMixin

from certification.checks.robustness.perturbation import FeatureSpace

GRADIENT_MODELS = ("sklearn.linear_model", "sklearn.svm")
_STEP = 1e-3  # standardized units for the central differences


def choose_attack(estimator: Any, requested: str) -> str:
    """PGD where loss gradients mean something (linear models, SVMs), HopSkipJump otherwise."""
    if requested != "auto":
        return requested
    final = estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator
    return "pgd" if type(final).__module__.startswith(GRADIENT_MODELS) else "hopskipjump"


class _DifferencedClassifier(LossGradientsMixin, BlackBoxClassifier):  # type: ignore[misc]
    """A black-box classifier whose cross-entropy gradient is taken by central differences."""

    def __init__(self, predict: Callable[[np.ndarray], np.ndarray], movable: np.ndarray, **kwargs: Any):
        super().__init__(predict, **kwargs)
        self._movable = movable

    def loss_gradient(self, x: np.ndarray, y: np.ndarray, **kwargs: Any) -> np.ndarray:
        columns = np.flatnonzero(self._movable)
        shifted = np.repeat(x[None], 2 * len(columns), axis=0)
        for k, j in enumerate(columns):
            shifted[2 * k, :, j] += _STEP
            shifted[2 * k + 1, :, j] -= _STEP
        probability = self.predict(shifted.reshape(-1, x.shape[1])).reshape(2 * len(columns), len(x), -1)
        truth = np.argmax(y, axis=1) if y.ndim == 2 else y.astype(int)
        loss = -np.log(np.clip(probability[:, np.arange(len(x)), truth], 1e-12, 1.0))
        gradient = np.zeros_like(x, dtype=np.float32)
        gradient[:, columns] = ((loss[0::2] - loss[1::2]) / (2 * _STEP)).T
        return gradient


@dataclass
class EvasionResult:
    method: str
    budgets: list[float]
    rows: int  # sampled rows reached within the time budget (a prefix of the sample)
    correct: int  # of those, correctly classified before the attack (the attacked rows)
    successes: dict[float, int]  # budget -> attacked rows flipped within that budget
    distance: np.ndarray  # per attacked row: smallest flipping move found (inf: none)
    examples: pd.DataFrame  # attacked rows: originals and valid adversarial inputs
    seconds: float
    stopped_early: bool


def as_probabilities(scores: np.ndarray) -> np.ndarray:
    """(n, K) class probabilities from what a model's scores are: a positive-class probability, or already those."""
    return scores if scores.ndim == 2 else np.column_stack([1.0 - scores, scores])


def decisions(scores: np.ndarray) -> np.ndarray:
    """The predicted class code of each row: positive at 0.5 for a binary model, the most probable class."""
    return scores.argmax(axis=1) if scores.ndim == 2 else (scores >= 0.5).astype(int)


def attack(
    space: FeatureSpace,
    base: pd.DataFrame,
    y: np.ndarray,
    scores: Callable[[pd.DataFrame], np.ndarray],
    method: str,
    budgets: list[float],
    max_iter: int,
    max_eval: int,
    deadline: float,
    seed: int,
    batch: int = 10,
) -> EvasionResult:
    """Attack the correctly classified rows of `base`, batch by batch in sample order, until done or `deadline`.
    `scores` gives a binary model's positive-class probability or a multiclass model's (n, K) probabilities; `y`
    holds 0/1 labels or class codes. A success moves a row to any other class (an untargeted attack).

    Stopping early keeps a prefix of the (random) sample, so the shares stay unbiased, with wider intervals.
    """
    started = time.monotonic()
    base = base.reset_index(drop=True)
    original = decisions(scores(base))
    distance = np.full(len(base), np.inf)  # smallest flipping move found per row (inf: none, or not attacked)
    adversarial: list[pd.DataFrame] = []
    rng = np.random.default_rng(seed)
    done = 0

    def time_left_for_a_batch() -> bool:  # judged by the batches so far, so the stage ends inside its budget
        per_batch = (time.monotonic() - started) * batch / done
        return time.monotonic() + per_batch <= deadline

    while done < len(base) and (done == 0 or time_left_for_a_batch()):  # one batch at least: some evidence
        rows = np.arange(done, min(done + batch, len(base)))
        rows = rows[original[rows] == y[rows]]
        if len(rows):
            for budget, found in _attack_rows(
                space, base, rows, scores, method, budgets, max_iter, max_eval, rng
            ):
                flipped = decisions(scores(found)) != original[rows]
                moved = space.distance(base.iloc[rows].reset_index(drop=True), found)
                hit = flipped & (moved <= (np.inf if budget is None else budget) + 1e-9)
                distance[rows[hit]] = np.minimum(distance[rows[hit]], moved[hit])
                adversarial.append(
                    found.assign(
                        attack_row=rows, attack_budget=budget, attack_flipped=flipped, attack_distance=moved
                    )
                )
        done = min(done + batch, len(base))
    correct = original[:done] == y[:done]
    return EvasionResult(
        method=method,
        budgets=budgets,
        rows=done,
        correct=int(correct.sum()),
        successes={b: int((distance[:done][correct] <= b + 1e-9).sum()) for b in budgets},
        distance=distance[:done][correct],
        examples=pd.concat(adversarial, ignore_index=True) if adversarial else base.iloc[:0],
        seconds=round(time.monotonic() - started, 2),
        stopped_early=done < len(base),
    )


def _attack_rows(
    space: FeatureSpace,
    base: pd.DataFrame,
    rows: np.ndarray,
    scores: Callable[[pd.DataFrame], np.ndarray],
    method: str,
    budgets: list[float],
    max_iter: int,
    max_eval: int,
    rng: np.random.Generator,
) -> list[tuple[float | None, pd.DataFrame]]:
    """(budget, valid adversarial rows) per run: PGD/FGSM once per budget, HopSkipJump once (minimal move)."""
    part = base.iloc[rows].reset_index(drop=True)
    z0 = np.hstack([space.standardize(part), np.arange(len(part), dtype=float)[:, None]]).astype(np.float32)
    mask = np.ones_like(z0)
    mask[:, -1] = 0.0  # the row index carries the untouched features: never move it

    def predict(valid: bool) -> Callable[[np.ndarray], np.ndarray]:
        def probabilities(z: np.ndarray) -> np.ndarray:
            frame = part.iloc[np.rint(z[:, -1]).astype(int)].reset_index(drop=True)
            return as_probabilities(scores(space.apply(frame, z[:, :-1].astype(float), valid=valid)))

        return probabilities

    low = np.append((space.lower - space.mean) / space.std, 0.0).astype(np.float32)
    high = np.append((space.upper - space.mean) / space.std, len(part)).astype(np.float32)
    clip = (low, high)
    decode = predict(valid=True)
    first = decode(z0)
    classes = first.shape[1]
    labels = decisions(first[:, 1] if classes == 2 else first)
    found: list[tuple[float | None, pd.DataFrame]] = []
    if method == "hopskipjump":
        classifier = BlackBoxClassifier(
            decode, input_shape=(z0.shape[1],), nb_classes=classes, clip_values=clip
        )
        hsj = HopSkipJump(
            classifier,
            norm=np.inf,
            max_iter=max_iter,
            max_eval=max_eval,
            init_eval=20,
            init_size=50,
            verbose=False,
        )
        np.random.seed(int(rng.integers(2**31)))  # HopSkipJump draws from numpy's global generator
        z = hsj.generate(z0, mask=mask)
        return [(None, space.apply(part, z[:, :-1].astype(float)))]
    movable = np.append(np.ones(len(space.numeric), dtype=bool), False)
    smooth = _DifferencedClassifier(
        predict(valid=False), movable, input_shape=(z0.shape[1],), nb_classes=classes, clip_values=clip
    )
    targets = np.eye(classes)[labels]
    for budget in budgets:  # one ε for every feature: the budget is in standard deviations already
        if method == "fgsm":
            runner: Any = FastGradientMethod(smooth, norm=np.inf, eps=budget, eps_step=budget)
        else:
            runner = ProjectedGradientDescentNumpy(
                smooth,
                norm=np.inf,
                eps=budget,
                eps_step=budget * max(0.25, 2.5 / max_iter),
                max_iter=max_iter,
                num_random_init=0,
                verbose=False,
            )  # fmt: skip  (steps of 2.5ε/iterations reach the box's corners, as Madry et al. advise)
        z = runner.generate(z0, y=targets, mask=mask)
        found.append((budget, space.apply(part, z[:, :-1].astype(float))))
    return found
