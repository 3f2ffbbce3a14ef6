"""Privacy attacks through a model's outputs: membership inference and attribute inference.

Membership inference runs ART's black-box attacks. ART works on numeric arrays while the model takes a DataFrame
with string categories, so ART is handed one column of row numbers and the predict function looks the rows'
scores up. Attribute inference compares two scikit-learn forests, one of which also sees the score (see
attribute_inference for why not ART). Every attacker is judged on rows it did not learn from, by its advantage:
how much more often it is right than it would be without the information under test.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from art.attacks.inference.membership_inference import (
    MembershipInferenceBlackBox,
    MembershipInferenceBlackBoxRuleBased,
)
from art.estimators.classification import BlackBoxClassifier
from art.estimators.regression import BlackBoxRegressor
from pandas.api.types import is_numeric_dtype
from sklearn.ensemble import RandomForestClassifier
from sklearn.preprocessing import OrdinalEncoder

from certification import stats

Scores = Callable[[pd.DataFrame], np.ndarray]
Labels = Callable[[pd.DataFrame], np.ndarray]


@dataclass(frozen=True)
class MembershipAttack:
    """Guesses on held-out rows; advantage = TPR - FPR (Yeom et al. 2018): 0 for guessing, 1 for certainty."""

    tpr: stats.Estimate  # share of held-out training rows the attack calls members
    fpr: stats.Estimate  # share of held-out evaluation rows the attack calls members
    members: int
    non_members: int

    @property
    def advantage(self) -> float:
        return self.tpr.value - self.fpr.value

    @property
    def bars(self) -> dict[str, stats.Estimate]:
        return {"TPR": self.tpr, "FPR": self.fpr}

    def to_dict(self) -> dict[str, Any]:
        return {
            "advantage": self.advantage,
            "tpr": self.tpr.to_dict(),
            "fpr": self.fpr.to_dict(),
            "held_out_members": self.members,
            "held_out_non_members": self.non_members,
        }


@dataclass(frozen=True)
class AttributeAttack:
    """Held-out accuracy of guessing an attribute with and without the model's score, and of the majority guess."""

    with_score: stats.Estimate
    without_score: stats.Estimate
    majority: stats.Estimate

    @property
    def advantage(self) -> float:
        return self.with_score.value - self.without_score.value

    @property
    def bars(self) -> dict[str, stats.Estimate]:
        return {"with score": self.with_score, "without": self.without_score, "majority": self.majority}

    def to_dict(self) -> dict[str, Any]:
        return {
            "advantage": self.advantage,
            "accuracy_with_score": self.with_score.to_dict(),
            "accuracy_without_score": self.without_score.to_dict(),
            "majority_baseline": self.majority.to_dict(),
        }


@dataclass(frozen=True)
class Sample:
    """Rows under attack: the attacker learns from the `learn` half and is judged on the other half."""

    rows: pd.DataFrame
    member: np.ndarray  # True for rows drawn from the training data
    learn: np.ndarray


def _draw(frame: pd.DataFrame, size: int, rng: np.random.Generator) -> pd.DataFrame:
    rows = rng.choice(len(frame), min(size, len(frame)), replace=False)
    return frame.iloc[np.sort(rows)].reset_index(drop=True)


def _half(n: int, rng: np.random.Generator) -> np.ndarray:
    chosen = np.zeros(n, dtype=bool)
    chosen[rng.permutation(n)[: n // 2]] = True
    return chosen


def membership_sample(train: pd.DataFrame, evaluation: pd.DataFrame, size: int, seed: int) -> Sample:
    """`size` training rows (members) then as many evaluation rows, each group halved at random."""
    rng = np.random.default_rng(seed)
    n = min(size, len(train), len(evaluation))  # balanced, so that guessing by the base rate is worth nothing
    rows = pd.concat([_draw(train, n, rng), _draw(evaluation, n, rng)], ignore_index=True)
    return Sample(rows, np.repeat([True, False], n), np.concatenate([_half(n, rng), _half(n, rng)]))


def attribute_sample(train: pd.DataFrame, size: int, seed: int) -> Sample:
    rng = np.random.default_rng(seed)
    rows = _draw(train, size, rng)
    return Sample(rows, np.ones(len(rows), dtype=bool), _half(len(rows), rng))


def _share(hits: np.ndarray, level: float) -> stats.Estimate:
    return stats.proportion(int(hits.sum()), int(hits.size), level)


def membership_inference(
    sample: Sample, scores: Scores, labels: Labels, *, seed: int, level: float, task: str = "binary"
) -> dict[str, MembershipAttack]:
    """ART's learned black-box attack (a random forest on the class probabilities and label; for a regressor on its
    loss and the target, ART's only input for regressors) and a rule: a correct prediction means member (ART's
    rule-based attack; for a regressor, Yeom et al.'s: a squared error no larger than the members' mean on the
    learning half). `scores` gives a binary model's positive-class probability, a multiclass model's (n, K)
    probabilities with class codes from `labels`, a regressor's prediction."""
    y = labels(sample.rows)
    output = scores(sample.rows)
    regression = task == "regression"

    def looked_up(x: np.ndarray) -> np.ndarray:
        return output[np.rint(x[:, 0]).astype(int)]

    def probabilities(x: np.ndarray) -> np.ndarray:
        p = looked_up(x)
        return p if p.ndim == 2 else np.column_stack([1.0 - p, p])

    model: Any = (
        BlackBoxRegressor(looked_up, input_shape=(1,))
        if regression
        else BlackBoxClassifier(
            probabilities, input_shape=(1,), nb_classes=output.shape[1] if output.ndim == 2 else 2
        )
    )
    x = np.arange(len(sample.rows), dtype=np.float32)[:, None]
    member, learn, judge = sample.member, sample.learn, ~sample.learn
    learned = MembershipInferenceBlackBox(
        model, input_type="loss" if regression else "prediction", attack_model_type="rf"
    )
    learned.attack_model.set_params(random_state=seed)  # ART leaves its default forest unseeded
    learned.fit(x[learn & member], y[learn & member], x[learn & ~member], y[learn & ~member])
    if regression:
        loss = (output - y) ** 2
        rule = ("loss threshold", loss[judge] <= loss[learn & member].mean())
    else:
        rule = ("rule-based", MembershipInferenceBlackBoxRuleBased(model).infer(x[judge], y[judge]))
    guesses = {"black-box rf": learned.infer(x[judge], y[judge]), rule[0]: rule[1]}
    truth = member[judge]
    attacks = {}
    for name, guess in guesses.items():
        said_member = np.ravel(guess) > 0.5
        attacks[name] = MembershipAttack(
            _share(said_member[truth], level),
            _share(said_member[~truth], level),
            int(truth.sum()),
            int((~truth).sum()),
        )
    return attacks


def _encode(frame: pd.DataFrame) -> np.ndarray:
    """Numbers as they are, categories as codes: a forest needs no one-hot columns to split on them."""
    categorical = [c for c in frame.columns if not is_numeric_dtype(frame[c])]
    encoded = frame.astype({c: float for c in frame.columns if c not in categorical})
    if categorical:
        codes = OrdinalEncoder().fit_transform(frame[categorical].astype(str))
        encoded[categorical] = codes
    return encoded.to_numpy(dtype=float)


def _accuracy(
    x: np.ndarray, target: np.ndarray, learn: np.ndarray, seed: int, level: float
) -> stats.Estimate:
    forest = RandomForestClassifier(n_estimators=100, min_samples_leaf=5, random_state=seed)
    forest.fit(x[learn], target[learn])
    return _share(forest.predict(x[~learn]) == target[~learn], level)


def attribute_inference(
    sample: Sample, scores: Scores, attributes: list[str], known: list[str], *, seed: int, level: float
) -> dict[str, AttributeAttack]:
    """How much better an attacker who knows a row's `known` features guesses each attribute when it also sees
    the model's score: two random forests, alike but for the score column, learn on one half of the sample and
    are judged on the other.

    Written with scikit-learn, not ART's AttributeInferenceBlackBox: for a classifier ART's attacker sees only the
    predicted class, not the score, and ART scores the very matrix it attacks, so the attacked attribute and every
    model input would have to be numeric columns of it, known to the attacker.
    """
    rows, learn = sample.rows, sample.learn
    without = _encode(rows[known])
    with_score = np.column_stack([without, scores(rows)])
    attacks = {}
    for attribute in attributes:
        target = rows[attribute].astype(str).to_numpy()
        values, counts = np.unique(target[learn], return_counts=True)
        attacks[attribute] = AttributeAttack(
            _accuracy(with_score, target, learn, seed, level),
            _accuracy(without, target, learn, seed, level),
            _share(target[~learn] == values[np.argmax(counts)], level),
        )
    return attacks
