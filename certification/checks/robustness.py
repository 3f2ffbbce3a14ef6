"""Robustness: ART evasion attacks inside the feature schema, judged at the spec's budget, curve across budgets.

Protected and immutable features, categories and one-hot groups never move (certification.perturbation); the
attack follows the model type (certification.evasion). This stage's checks share one wall-time budget; this check
runs last and samples fewer rows when the budget runs out, and says so.
"""

from __future__ import annotations

import time

import numpy as np

from certification import plots, stats

# privacy and stress register first, so that the attack runs last and spends what is left of the stage's time
from certification.checks import privacy  # noqa: F401
from certification.checks.base import Outcome, Status, check, compare
from certification.checks.stress import evaluation_sample, feature_space
from certification.context import RunContext
from certification.errors import CertificationError
from certification.evasion import attack, choose_attack

ROBUSTNESS = ("EU-AI-Act:Art15", "NIST-AI-RMF:MEASURE-2.7", "ISO-42001:A.6.2.4")


@check("robustness.evasion", "robustness", ROBUSTNESS)
def evasion(ctx: RunContext) -> Outcome:
    estimator = ctx.require_model("an evasion attack")
    policy = ctx.spec.checks.robustness
    space = feature_space(ctx)
    if not space.numeric:
        return Outcome(Status.NOT_APPLICABLE, message="the model has no mutable numeric input to perturb")
    deadline = ctx.cache.get("robustness_started", time.monotonic()) + policy.time_budget_seconds
    sample, base = evaluation_sample(ctx, policy.sample_size)
    method = choose_attack(estimator, policy.attack)
    found = attack(
        space, base, ctx.y_eval[sample], ctx.scores, method, policy.budgets, policy.max_iter, policy.max_eval,
        deadline, policy.seed,
    )  # fmt: skip
    originals = base.iloc[found.examples["attack_row"].to_numpy()].reset_index(drop=True)
    invalid = space.violations(originals, found.examples.reset_index(drop=True))
    if invalid:  # a bug in the attack's constraints must never pass as evidence
        raise CertificationError(f"the attack produced invalid inputs: {'; '.join(invalid)}")
    examples = found.examples.assign(
        evaluation_row=ctx.evaluation.index[sample][found.examples["attack_row"]]
    )
    csv = ctx.evidence_path("adversarial_examples.csv")
    examples.to_csv(csv, index=False)

    level = ctx.spec.checks.evaluation.confidence_level
    shares = {
        b: {
            "attack_success_rate": stats.proportion(found.successes[b], found.correct, level),
            "robust_accuracy": stats.proportion(found.correct - found.successes[b], found.rows, level),
        }
        for b in found.budgets
    }
    curve = [{"epsilon": b, **{k: e.to_dict() for k, e in v.items()}} for b, v in shares.items()]
    limits = {"attack_success_rate": ("max", policy.max_attack_success_rate)}
    if policy.min_robust_accuracy is not None:
        limits["robust_accuracy"] = ("min", policy.min_robust_accuracy)
    flips = found.distance[np.isfinite(found.distance)]
    measured = {
        "attack_success_rate": shares[policy.epsilon]["attack_success_rate"].value,
        "robust_accuracy": shares[policy.epsilon]["robust_accuracy"].value,
        "epsilon": policy.epsilon,
        "method": method,
        "curve": curve,
        "rows_requested": len(base),
        "rows_attacked": found.rows,
        "correctly_classified": found.correct,
        "stopped_by_time_budget": found.stopped_early,
        "median_flip_distance": float(np.median(flips)) if len(flips) else None,
        "perturbed_features": space.numeric,
        "frozen_features": space.frozen,
        "seconds": found.seconds,
        "time_budget_seconds": policy.time_budget_seconds,
    }
    outcome = compare(measured, limits)
    png = plots.robustness_curve(
        {
            name: [(b, v[name].value, v[name].lower, v[name].upper) for b, v in shares.items()]
            for name in ("robust_accuracy", "attack_success_rate")
        },
        ctx.evidence_path("robustness_curve.png"),
        title=f"{method} on {found.rows} rows ({found.correct} correctly classified)",
        budget=policy.epsilon,
    )
    note = f" at ε={policy.epsilon:g} ({method}, {found.rows} of {len(base)} sampled rows"
    note += ", stopped by the stage's time budget)" if found.stopped_early else ")"
    if method == "hopskipjump":
        note += "; a decision attack bounds the smallest flipping move from above, so this is optimistic"
    return Outcome(outcome.status, measured, outcome.threshold, outcome.message + note, [str(png), str(csv)])
