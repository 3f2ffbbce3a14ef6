"""Robustness: ART HopSkipJump evasion under an L2 budget in standardized units on mutable numeric features.

Protected and spec-declared immutable features, and every categorical feature, are masked so the attack never
moves them; integer features are rounded and values clipped to training bounds before a success is counted,
so a reported success is a valid input that the model classifies differently.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from art.attacks.evasion import HopSkipJump
from art.estimators.classification import BlackBoxClassifier
from pandas.api.types import is_integer_dtype, is_numeric_dtype

from certification.checks.base import Outcome, Status, check, compare
from certification.context import RunContext

ROBUSTNESS = ("EU-AI-Act:Art15", "NIST-AI-RMF:MEASURE-2.7", "ISO-42001:A.6.2.4")


@check("robustness.evasion_hopskipjump", "robustness", ROBUSTNESS)
def evasion(ctx: RunContext) -> Outcome:
    ctx.require_model("an evasion attack")
    policy = ctx.spec.checks.robustness
    train_frame = ctx.require_train("an evasion attack (it bounds perturbations by the training ranges)")
    frozen = set(policy.immutable_features) | set(ctx.spec.protected_attributes)
    mutable = [c for c in ctx.features if is_numeric_dtype(train_frame[c]) and c not in frozen]
    if not mutable:
        return Outcome(Status.NOT_APPLICABLE, message="the model has no mutable numeric input to perturb")

    rng = np.random.default_rng(policy.seed)
    correct = np.flatnonzero(ctx.pred_eval == ctx.y_eval)
    rows = np.sort(rng.choice(correct, size=min(policy.sample_size, len(correct)), replace=False))
    base = ctx.evaluation.iloc[rows][ctx.features].reset_index(drop=True)
    original = ctx.pred_eval[rows]

    train = train_frame[mutable].astype(float)
    mean, std = train.mean(), train.std().replace(0.0, 1.0).fillna(1.0)
    lower, upper = train.min(), train.max()

    def decode(z: np.ndarray) -> pd.DataFrame:
        frame = base.iloc[np.rint(z[:, -1]).astype(int)].reset_index(drop=True).copy()
        values = pd.DataFrame(z[:, :-1] * std.to_numpy() + mean.to_numpy(), columns=mutable)
        for column in mutable:
            values[column] = values[column].clip(lower[column], upper[column])
            if is_integer_dtype(train_frame[column]):
                values[column] = np.rint(values[column]).astype(train_frame[column].dtype)
            frame[column] = values[column].to_numpy()
        return frame

    def predict(z: np.ndarray) -> np.ndarray:
        positive = ctx.scores(decode(z))
        return np.column_stack([1.0 - positive, positive])

    index = np.arange(len(base), dtype=float)[:, None]
    z0 = np.hstack([((base[mutable].astype(float) - mean) / std).fillna(0.0).to_numpy(), index])
    clip_low = np.append(((lower - mean) / std).to_numpy(), 0.0).astype(np.float32)
    clip_high = np.append(((upper - mean) / std).to_numpy(), float(len(base))).astype(np.float32)
    classifier = BlackBoxClassifier(
        predict, input_shape=(z0.shape[1],), nb_classes=2, clip_values=(clip_low, clip_high)
    )
    attack = HopSkipJump(
        classifier, norm=2, max_iter=policy.max_iter, max_eval=200, init_eval=20, init_size=50, verbose=False
    )
    mask = np.ones_like(z0, dtype=np.float32)
    mask[:, -1] = 0.0
    started = time.perf_counter()
    np.random.seed(policy.seed)  # HopSkipJump draws from numpy's global generator
    adversarial = attack.generate(z0.astype(np.float32), mask=mask)

    # Count a success only for a valid input (rounded, clipped) within budget that really flips the decision.
    valid = decode(adversarial.astype(float))
    distance = np.linalg.norm((((valid[mutable] - base[mutable]).astype(float)) / std).to_numpy(), axis=1)
    flipped = ctx.predict(valid) != original
    success = flipped & (distance <= policy.epsilon)
    measured = {
        "attack_success_rate": float(success.mean()),
        "robust_accuracy_on_sample": float(1.0 - success.mean()),
        "sample_size": len(base),
        "epsilon_l2_standardized": policy.epsilon,
        "median_adversarial_distance": float(np.median(distance[flipped])) if flipped.any() else None,
        "perturbed_features": mutable,
        "frozen_features": sorted(frozen & set(ctx.features)),
        "seconds": round(time.perf_counter() - started, 2),
    }
    outcome = compare(measured, {"attack_success_rate": ("max", policy.max_attack_success_rate)})
    note = f" over {len(base)} rows (HopSkipJump bounds the minimal perturbation from above, so this is optimistic)"
    return Outcome(outcome.status, measured, outcome.threshold, outcome.message + note)
