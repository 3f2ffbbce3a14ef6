"""Evasion on regressors: the largest change of a prediction reachable inside the feature schema's budget.

ART's evasion attacks need a classifier (a decision to flip, class probabilities to differentiate), so a regressor is
attacked by a black-box search instead. The budget is the classification attack's: an L∞ box of ε training standard
deviations around the row over its mutable numeric features (FeatureSpace). Every candidate is turned into the
valid input the model would really receive (`FeatureSpace.apply`: integers in whole steps, values inside the
training range, frozen features, categories and one-hot groups untouched) before it is scored, so every change
reported is reachable.

Per row and budget the search pushes the prediction up and down separately (the row's change is the larger of the
two), spending at most `queries` scored inputs:

1. each mutable feature alone to either edge of the box (2d queries): single-feature jumps and monotone effects;
2. per direction, the features that helped, each at its better edge, added one at a time in order of gain: the
   corner an additive or monotone model moves furthest at;
3. rounds from each direction's incumbent until the queries run out or nothing new is reachable: a line search
   along one feature, sign flips of the incumbent's corner and random corners (restarts on the box's surface), and
   Gaussian steps around the incumbent that shrink round by round (optima inside the box: a tree's narrow leaf).

Valid inputs repeat (integer features move in whole steps, values stop at the training range), so repeats are
scored once and cost nothing, and a row whose reachable inputs are fewer than its queries (integer features only)
is enumerated outright: its maximum is exact. Budgets run from small to large over the inputs already scored (a
smaller box lies inside a larger one) and start from the smaller budget's best moves scaled to the larger edge.
A row's original score is charged to its first budget. The rows of a batch are scored together, one call per
step, because the model may be an HTTP endpoint; `random_search` is the baseline the search must beat.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from certification.checks.robustness.perturbation import FeatureSpace

Predict = Callable[[pd.DataFrame], np.ndarray]

_NUDGE = 1e-6  # aim a hair past a whole step: apply truncates integer moves toward the original
_DIGITS = 9  # valid moves equal to this many decimals of a standard deviation are the same input
_STALL = 5  # rounds in a row without a new input before a row's search ends


@dataclass
class RegressionAttack:
    rows: int  # sampled rows reached before the deadline (a prefix of the sample)
    budgets: list[float]  # ascending
    max_change: dict[float, np.ndarray]  # budget -> per row, the largest |Δ prediction| found
    moved: dict[float, int]  # budget -> rows whose prediction moved by more than the tolerance
    examples: pd.DataFrame  # per row and budget: the valid input reaching that change (the original: none)
    queries_used: int  # inputs scored, the original rows included
    seconds: float
    stopped_early: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "curve": [
                {
                    "epsilon": b,
                    "moved": self.moved[b],
                    "mean_change": float(self.max_change[b].mean()) if self.rows else None,
                    "median_change": float(np.median(self.max_change[b])) if self.rows else None,
                    "max_change": float(self.max_change[b].max()) if self.rows else None,
                }
                for b in self.budgets
            ],
            "queries_used": self.queries_used,
            "seconds": self.seconds,
            "stopped_early": self.stopped_early,
        }


def _scores(predict: Predict, frame: pd.DataFrame) -> np.ndarray:
    return np.asarray(predict(frame.reset_index(drop=True)), dtype=float).reshape(-1)


def _key(move: np.ndarray) -> bytes:
    return (np.round(move, _DIGITS) + 0.0).tobytes()  # + 0.0: -0.0 and 0.0 are one input


class _Rows:
    """A batch of rows under attack: the inputs scored so far (shared by all budgets, as the boxes nest), the
    moves that push each row's prediction highest and lowest, and the queries each row has spent on this budget."""

    def __init__(self, space: FeatureSpace, part: pd.DataFrame, predict: Predict):
        self.space, self.part, self.predict = space, part, predict
        self.x0 = part[space.numeric].to_numpy(dtype=float)
        self.z0 = space.standardize(part)
        self.f0 = _scores(predict, part)
        self.queries = len(part)
        n, d = self.x0.shape
        self.seen: list[dict[bytes, float]] = [{_key(np.zeros(d)): f} for f in self.f0]
        self.best = np.zeros((2, n, d))  # moves (apply's input) to the highest [0] and lowest [1] prediction
        self.extreme = np.vstack([self.f0, self.f0])  # their predictions
        self.spent = np.zeros(n, dtype=int)
        self.epsilon, self.allowance = 0.0, 0
        self.lo = self.hi = np.zeros((n, d))

    def set_budget(self, epsilon: float, allowance: int) -> None:
        """Each row's box of moves, in standard deviations: ε, less where the training range ends first."""
        space, whole = self.space, self.space.integer
        up = np.clip(np.minimum(epsilon * space.std, space.upper - self.x0), 0.0, None)
        down = np.clip(np.minimum(epsilon * space.std, self.x0 - space.lower), 0.0, None)
        up[:, whole], down[:, whole] = np.floor(up[:, whole] + 1e-9), np.floor(down[:, whole] + 1e-9)
        missing = np.isnan(self.x0)  # apply keeps a missing value missing: nothing to move
        self.hi = np.where(missing, 0.0, up / space.std)
        self.lo = np.where(missing, 0.0, -down / space.std)
        self.epsilon, self.allowance = epsilon, allowance
        self.spent[:] = 0

    def snap(self, rows: np.ndarray, delta: np.ndarray) -> np.ndarray:
        delta = np.clip(delta, self.lo[rows], self.hi[rows])
        whole, std = self.space.integer, self.space.std[self.space.integer]
        steps = np.rint(delta[:, whole] * std)
        delta[:, whole] = (steps + _NUDGE * np.sign(steps)) / std
        return delta

    def score(self, rows: np.ndarray, delta: np.ndarray) -> np.ndarray:
        """Predictions at the valid inputs the moves lead to; NaN past a row's allowance. Repeats are free."""
        out = np.full(len(rows), np.nan)
        if not len(rows):
            return out
        delta = self.snap(rows, delta)
        frame = self.space.apply(self.part.iloc[rows].reset_index(drop=True), self.z0[rows] + delta)
        moved = np.nan_to_num(
            (frame[self.space.numeric].to_numpy(dtype=float) - self.x0[rows]) / self.space.std
        )
        # an original outside the training range is clipped into it, which may take more than the budget
        inside = np.abs(moved).max(axis=1, initial=0.0) <= self.epsilon + 1e-9
        fresh: dict[tuple[int, bytes], list[int]] = {}
        for i, r in enumerate(rows.tolist()):
            key = _key(moved[i])
            if key in self.seen[r]:
                out[i] = self.seen[r][key]
            elif (r, key) in fresh:
                fresh[r, key].append(i)
            elif inside[i] and self.spent[r] < self.allowance:
                self.spent[r] += 1
                fresh[r, key] = [i]
        if fresh:
            values = _scores(self.predict, frame.iloc[[group[0] for group in fresh.values()]])
            self.queries += len(values)
            for ((r, key), group), value in zip(fresh.items(), values, strict=True):
                self.seen[r][key] = value
                out[group] = value
        for j in np.flatnonzero(np.isfinite(out)):
            r = rows[j]
            for k, better in ((0, out[j] > self.extreme[0, r]), (1, out[j] < self.extreme[1, r])):
                if better:
                    self.extreme[k, r], self.best[k, r] = out[j], delta[j]
        return out

    def report(self, first_row: int) -> pd.DataFrame:
        up, down = self.extreme[0] - self.f0, self.f0 - self.extreme[1]
        delta = np.where((up >= down)[:, None], self.best[0], self.best[1])
        candidates = self.space.apply(self.part, self.z0 + delta)
        return _report(
            self.part,
            candidates,
            self.f0,
            np.where(up >= down, self.extreme[0], self.extreme[1]),
            first_row,
            self.epsilon,
        )


def _report(
    part: pd.DataFrame,
    candidates: pd.DataFrame,
    f0: np.ndarray,
    adversarial: np.ndarray,
    first_row: int,
    epsilon: float,
) -> pd.DataFrame:
    """Each row's best valid input (its original where nothing moved the prediction) and its predictions."""
    improved = np.abs(adversarial - f0) > 0
    pieces = [p for p in (candidates[improved], part[~improved]) if len(p)]
    frame = pd.concat(pieces).sort_index() if pieces else part.iloc[:0]
    adversarial = np.where(improved, adversarial, f0)
    return frame.assign(
        attack_row=first_row + np.arange(len(part)),
        epsilon=epsilon,
        original_prediction=f0,
        adversarial_prediction=adversarial,
        change=np.abs(adversarial - f0),
    )


def _enumerate(rows: _Rows) -> np.ndarray:
    """Score every reachable input of the rows that have queries for all of them; True for those rows."""
    space, (n, d) = rows.space, rows.x0.shape
    free = rows.hi > rows.lo
    up, down = np.rint(rows.hi * space.std).astype(int), np.rint(-rows.lo * space.std).astype(int)
    done = np.zeros(n, dtype=bool)
    which, grids = [], []
    for r in range(n):
        columns = np.flatnonzero(free[r])
        if (~space.integer[columns]).any():
            continue
        if math.prod(int(up[r, j] + down[r, j] + 1) for j in columns) - 1 > rows.allowance:
            continue
        axes = [np.arange(-down[r, j], up[r, j] + 1) / space.std[j] for j in columns]
        grid = np.zeros((math.prod(len(a) for a in axes), d))
        grid[:, columns] = np.array(list(itertools.product(*axes))).reshape(len(grid), len(columns))
        which.append(np.full(len(grid), r))
        grids.append(grid)
        done[r] = True
    if grids:
        rows.score(np.concatenate(which), np.vstack(grids))
    return done


def _search_budget(rows: _Rows, rng: np.random.Generator, scale: float | None) -> None:
    n, d = rows.x0.shape
    live = np.flatnonzero(~_enumerate(rows))
    if not len(live) or not d:
        return
    if scale is not None:  # the smaller budget's best moves, pushed out to the larger box
        rows.score(np.tile(live, 2), np.vstack([rows.best[0, live], rows.best[1, live]]) * scale)

    # 1. each feature alone at either edge, in a random order: a row short of queries tries a random subset
    order = rng.permutation(d)
    lo, hi = rows.lo[live], rows.hi[live]
    edges = np.zeros((len(live), d, 2, d))
    edges[:, np.arange(d), 0, np.arange(d)] = lo
    edges[:, np.arange(d), 1, np.arange(d)] = hi
    edges = edges[:, order]
    scored = rows.score(np.repeat(live, 2 * d), edges.reshape(-1, d)).reshape(len(live), d, 2)
    scored[:, order] = scored.copy()

    # 2. per direction, the helpful edges combined in order of gain
    combined = []
    for sign in (1.0, -1.0):
        gain = np.nan_to_num(sign * (scored - rows.f0[live, None, None]), nan=-np.inf)
        edge = np.where(gain[:, :, 0] >= gain[:, :, 1], lo, hi)
        helps = gain.max(axis=2)
        rank = np.argsort(np.argsort(-helps, axis=1), axis=1)
        for size in range(2, d + 1):  # a row with fewer helpful features repeats a shorter combination: free
            combined.append(np.where((rank < size) & (helps > 0), edge, 0.0))
    if combined:
        rows.score(np.repeat(live, len(combined)), np.stack(combined, axis=1).reshape(-1, d))

    # 3. rounds from the incumbents
    stall = np.zeros(n, dtype=int)
    sigma = 0.5
    active = live[rows.spent[live] < rows.allowance]
    while len(active):
        lo, hi = rows.lo[active], rows.hi[active]
        free = hi > lo
        at = np.arange(len(active))
        candidates = []
        for k in (0, 1):
            incumbent = rows.best[k, active]
            feature = np.argmax(np.where(free, rng.random(free.shape), -1.0), axis=1)
            for _ in range(2):  # a line search along one feature, the others held
                line = incumbent.copy()
                line[at, feature] = rng.uniform(lo[at, feature], hi[at, feature])
                candidates.append(line)
            signs = np.where(incumbent != 0, np.sign(incumbent), rng.choice([-1.0, 1.0], free.shape))
            flip = rng.random(free.shape) < 1.0 / np.maximum(free.sum(axis=1, keepdims=True), 1)
            flip[at, feature] = True  # at least one flip: a new corner next to the incumbent's
            candidates.append(np.where(np.where(flip, -signs, signs) > 0, hi, lo))
            candidates.append(
                np.where(rng.random(free.shape) < 0.5, lo, hi)
            )  # a restart anywhere on the surface
            for _ in range(2):
                candidates.append(incumbent + rng.normal(0.0, sigma * rows.epsilon, free.shape))
        before = rows.spent[active].copy()
        rows.score(np.repeat(active, len(candidates)), np.stack(candidates, axis=1).reshape(-1, d))
        stall[active] = np.where(rows.spent[active] > before, 0, stall[active] + 1)
        active = active[(rows.spent[active] < rows.allowance) & (stall[active] < _STALL)]
        sigma = max(0.8 * sigma, 0.05)


def search(
    space: FeatureSpace,
    base: pd.DataFrame,
    predict: Predict,
    budgets: list[float],
    *,
    queries: int = 200,
    tolerance: float,
    deadline: float | None = None,
    seed: int = 0,
    batch: int = 20,
) -> RegressionAttack:
    """Attack `base` batch by batch in sample order until done or `deadline` (time.monotonic()).

    `queries` is each row's allowance per budget, in inputs scored. Stopping early keeps a prefix of the (random)
    sample, so the shares stay unbiased, with wider intervals.
    """
    started = time.monotonic()
    base = base.reset_index(drop=True)
    budgets = sorted(budgets)
    rng = np.random.default_rng(seed)
    pieces: list[pd.DataFrame] = []
    used = done = 0

    def time_left_for_a_batch() -> bool:  # judged by the batches so far, so the search ends inside its budget
        per_batch = (time.monotonic() - started) * batch / done
        return deadline is None or time.monotonic() + per_batch <= deadline

    while done < len(base) and (done == 0 or time_left_for_a_batch()):  # one batch at least: some evidence
        rows = _Rows(space, base.iloc[done : done + batch].reset_index(drop=True), predict)
        previous = None
        for budget in budgets:
            rows.set_budget(budget, queries - (previous is None))
            _search_budget(rows, rng, budget / previous if previous else None)
            pieces.append(rows.report(done))
            previous = budget
        used += rows.queries
        done += len(rows.part)
    return _result(base, pieces, budgets, done, tolerance, used, started)


def random_search(
    space: FeatureSpace,
    base: pd.DataFrame,
    predict: Predict,
    budgets: list[float],
    *,
    queries: int = 200,
    tolerance: float = 0.0,
    seed: int = 0,
    batch: int = 20,
) -> RegressionAttack:
    """The baseline: `queries` uniform draws in each row's box per budget (the original's score charged to the
    first), every one scored, the best kept."""
    started = time.monotonic()
    base = base.reset_index(drop=True)
    budgets = sorted(budgets)
    rng = np.random.default_rng(seed)
    pieces: list[pd.DataFrame] = []
    used = 0
    for first in range(0, len(base), batch):
        part = base.iloc[first : first + batch].reset_index(drop=True)
        f0, z0 = _scores(predict, part), space.standardize(part)
        used += len(part)
        for i, budget in enumerate(budgets):
            draws = max(queries - (i == 0), 0)
            which = np.repeat(np.arange(len(part)), draws)
            frame = space.apply(
                part.iloc[which].reset_index(drop=True),
                z0[which] + rng.uniform(-budget, budget, (len(which), len(space.numeric))),
            )
            inside = space.distance(part.iloc[which].reset_index(drop=True), frame) <= budget + 1e-9
            scored = _scores(predict, frame) if len(frame) else np.zeros(0)
            used += len(frame)
            change = np.where(inside, np.abs(scored - f0[which]), -1.0).reshape(len(part), draws)
            pick = np.arange(len(part)) * draws + (change.argmax(axis=1) if draws else 0)
            adversarial = scored[pick] if draws else f0
            candidates = frame.iloc[pick].set_axis(part.index) if draws else part
            adversarial = np.where(change.max(axis=1, initial=-1.0) >= 0, adversarial, f0)
            pieces.append(_report(part, candidates, f0, adversarial, first, budget))
    return _result(base, pieces, budgets, len(base), tolerance, used, started)


def _result(
    base: pd.DataFrame,
    pieces: list[pd.DataFrame],
    budgets: list[float],
    rows: int,
    tolerance: float,
    used: int,
    started: float,
) -> RegressionAttack:
    empty = _report(base.iloc[:0], base.iloc[:0], np.zeros(0), np.zeros(0), 0, 0.0)
    examples = pd.concat(pieces, ignore_index=True) if pieces else empty
    examples = examples.sort_values(["epsilon", "attack_row"], kind="stable").reset_index(drop=True)
    max_change = {b: examples.loc[examples["epsilon"] == b, "change"].to_numpy() for b in budgets}
    return RegressionAttack(
        rows=rows,
        budgets=budgets,
        max_change=max_change,
        moved={b: int((c > tolerance).sum()) for b, c in max_change.items()},
        examples=examples,
        queries_used=used,
        seconds=round(time.monotonic() - started, 2),
        stopped_early=rows < len(base),
    )
