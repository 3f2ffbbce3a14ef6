"""The robustness stage's checks: what the model's outputs reveal about the people it was trained on (membership
and attribute inference, privacy.py), decisions under noisy, incomplete, swapped and shifted inputs, the confidence
fallback the spec promises and inputs no one planned for (stress.py), and ART evasion attacks inside the feature
schema, judged at the spec's budget with a curve across budgets (evasion.py).

Protected and immutable features, categories and one-hot groups never move (perturbation.py). The stage's checks share
one wall-time budget: the attack runs last and samples fewer rows when the budget runs out, and says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from certification import plots, stats
from certification.checks.base import Outcome, Status, check, compare
from certification.checks.robustness import privacy, regression_search, stress
from certification.checks.robustness.evasion import attack, choose_attack
from certification.checks.robustness.perturbation import FeatureSpace
from certification.errors import CertificationError, NotApplicable
from certification.run.context import RunContext

PRIVACY = ("EU-AI-Act:Art15", "EU-AI-Act:Art10", "NIST-AI-RMF:MEASURE-2.10", "ISO-42001:A.7.4")


def _judge(
    ctx: RunContext,
    name: str,
    attacks: Mapping[str, privacy.MembershipAttack] | Mapping[str, privacy.AttributeAttack],
    limit: float,
    by: str,
    *,
    title: str,
    xlabel: str,
) -> tuple[Outcome, str, str]:
    """Gate on the largest advantage, name every advantage in plain words, and chart every attack's estimates."""
    advantages = {key: a.advantage for key, a in attacks.items()}
    strongest = max(advantages, key=lambda key: advantages[key])
    measured: dict[str, Any] = {f"{name}_advantage": advantages[strongest], by: strongest}
    outcome = compare(measured, {f"{name}_advantage": ("max", limit)})
    details = ", ".join(f"{key} {value:.3f}" for key, value in advantages.items())
    sign = ">" if outcome.status is Status.FAIL else "≤"
    png = plots.interval_chart(
        [
            (f"{key} {bar}", e.value, e.lower, e.upper)
            for key, a in attacks.items()
            for bar, e in a.bars.items()
        ],
        ctx.evidence_path(f"{name}_inference.png"),
        title=title,
        xlabel=xlabel,
    )
    return outcome, f"{name} advantage {advantages[strongest]:.3f} ({details}) {sign} {limit:.2f}", str(png)


@check("robustness.membership_inference", "robustness", PRIVACY)
def membership_inference(ctx: RunContext) -> Outcome:
    ctx.require_model("a membership inference attack")
    train = ctx.require_train("membership inference (its rows are the members)")
    policy = ctx.spec.checks.robustness
    attacks = privacy.membership_inference(
        privacy.membership_sample(train, ctx.evaluation, policy.privacy.sample_size, policy.seed),
        ctx.scores,
        ctx.labels,
        seed=policy.seed,
        level=ctx.spec.checks.evaluation.confidence_level,
        task=ctx.task,
    )
    outcome, verdict, png = _judge(
        ctx,
        "membership",
        attacks,
        policy.privacy.max_membership_advantage,
        by="strongest_attack",
        title="Membership inference: advantage = TPR − FPR",
        xlabel="held-out rows called 'member' (TPR: training rows, FPR: evaluation rows)",
    )
    some = next(iter(attacks.values()))
    measured = {**outcome.measured, "attacks": {name: a.to_dict() for name, a in attacks.items()}}
    note = f"; judged on {some.members} training and {some.non_members} evaluation rows"
    note += " the attacks did not learn from"
    return Outcome(outcome.status, measured, outcome.threshold, verdict + note, [png])


@check("robustness.attribute_inference", "robustness", PRIVACY)
def attribute_inference(ctx: RunContext) -> Outcome:
    ctx.require_model("an attribute inference attack")
    train = ctx.require_train("attribute inference (it attacks training rows)")
    policy = ctx.spec.checks.robustness
    protected = list(ctx.spec.protected_attributes)
    attacks = privacy.attribute_inference(
        privacy.attribute_sample(train, policy.privacy.sample_size, policy.seed),
        ctx.scores,
        protected,
        [f for f in ctx.features if f not in protected],
        seed=policy.seed,
        level=ctx.spec.checks.evaluation.confidence_level,
    )
    outcome, verdict, png = _judge(
        ctx,
        "attribute",
        attacks,
        policy.privacy.max_attribute_advantage,
        by="most_exposed_attribute",
        title="Attribute inference: advantage = with − without score",
        xlabel="attacker accuracy on held-out training rows",
    )
    exposed = outcome.measured["most_exposed_attribute"]
    worst = attacks[exposed]
    measured = {
        **outcome.measured,
        "attributes": {
            # an input the model sees is leaked by its output by construction; measured all the same
            name: {**a.to_dict(), "model_input": name in ctx.features}
            for name, a in attacks.items()
        },
    }
    note = (
        f"; {exposed} guessed right {worst.with_score.value:.0%} of the time with the "
        f"score, {worst.without_score.value:.0%} without, {worst.majority.value:.0%} by the majority value"
    )
    return Outcome(outcome.status, measured, outcome.threshold, verdict + note, [png])


def feature_space(ctx: RunContext) -> FeatureSpace:
    policy = ctx.spec.checks.robustness
    train = ctx.require_train("perturbations (they are bounded by the training ranges)")
    frozen = set(policy.immutable_features) | set(ctx.spec.protected_attributes)
    return FeatureSpace.build(train, ctx.features, frozen, policy.one_hot_groups)


def evaluation_sample(ctx: RunContext, size: int) -> tuple[np.ndarray, pd.DataFrame]:
    """Positions of `size` evaluation rows drawn with the spec's seed, and those rows' model inputs."""
    sample = np.random.default_rng(ctx.spec.checks.robustness.seed).permutation(len(ctx.evaluation))[:size]
    return sample, ctx.evaluation.iloc[sample][ctx.features].reset_index(drop=True)


SAFETY = ("EU-AI-Act:Art15", "EU-AI-Act:Art14", "NIST-AI-RMF:MEASURE-2.6", "ISO-42001:A.6.2.4")


@check("robustness.stress", "robustness", SAFETY)
def stress_tests(ctx: RunContext) -> Outcome:
    ctx.require_model("stress tests (they score changed inputs)")
    policy = ctx.spec.checks.robustness
    unknown = [s.column for s in policy.stress.shifts if s.column not in ctx.features]
    if unknown:
        raise CertificationError(f"checks.robustness.stress.shifts: {unknown} are not model inputs")
    sample, base = evaluation_sample(ctx, policy.stress.sample_size)
    y, base_pred = ctx.y_eval[sample], ctx.predict(base)
    level = ctx.spec.checks.evaluation.confidence_level
    tolerance = policy.prediction_tolerance if ctx.task == "regression" else None
    found = {
        name: stress.measure(ctx.predict, base_pred, y, build(), level, tolerance)
        for name, build in stress.scenarios(feature_space(ctx), base, policy.stress, policy.seed).items()
    }
    if not found:
        raise NotApplicable("the model has no mutable input to stress and the spec declares no shift")
    worst_flip = max(found, key=lambda n: np.nan_to_num(found[n].flip_rate.value, nan=np.inf))
    worst_drop = max(found, key=lambda n: np.nan_to_num(found[n].accuracy_drop.value, nan=np.inf))
    # a regressor's decisions change when a prediction moves beyond the tolerance, and its error grows
    flip, drop = ("changed_rate", "error_increase") if tolerance else ("flip_rate", "accuracy_drop")
    measured = {
        flip: found[worst_flip].flip_rate.value,
        drop: found[worst_drop].accuracy_drop.value,
        "worst_flip_scenario": worst_flip,
        "worst_accuracy_scenario": worst_drop,
        "rows": len(base),
        "sampled": len(base) < len(ctx.evaluation),
        "scenarios": {name: s.to_dict() for name, s in found.items()},
    }
    if tolerance:
        measured |= {"mae": float(np.abs(base_pred - y).mean()), "prediction_tolerance": tolerance}
    else:
        measured["accuracy"] = float((base_pred == y).mean())
    outcome = compare(
        measured, {flip: ("max", policy.stress.max_flip_rate), drop: ("max", policy.stress.max_accuracy_drop)}
    )
    what = f"moves by more than {tolerance:g}" if tolerance else "changes"
    png = plots.interval_chart(
        [(name, s.flip_rate.value, s.flip_rate.lower, s.flip_rate.upper) for name, s in found.items()],
        ctx.evidence_path("stress_flip_rates.png"),
        title="Decisions each stress changes",
        xlabel=f"share of {len(base):,} evaluation rows whose prediction {what}",
        reference=policy.stress.max_flip_rate,
    )
    crashed = [f"{name} ({s.error})" for name, s in found.items() if s.error]
    note = f"; worst: {worst_flip} ({flip.split('_')[0]}), {worst_drop} ({drop.split('_')[0]})"
    note += f"; scoring failed under {', '.join(crashed)}" if crashed else ""
    return Outcome(outcome.status, measured, outcome.threshold, outcome.message + note, [str(png)])


@check("robustness.confidence_fallback", "robustness", SAFETY, tasks=("binary", "multiclass"))
def confidence_fallback(ctx: RunContext) -> Outcome:
    fallback = ctx.spec.checks.robustness.fallback
    if fallback is None:
        raise NotApplicable("the spec defines no confidence fallback (checks.robustness.fallback)")
    if ctx.score_eval is None:
        raise CertificationError(
            "a confidence fallback needs scores; the predictions file has no score column"
        )
    level = ctx.spec.checks.evaluation.confidence_level
    # confidence: the probability of the predicted class
    score = ctx.score_eval
    confidence = score.max(axis=1) if score.ndim == 2 else np.maximum(score, 1.0 - score)
    accepted = confidence >= fallback.abstain_below
    right = ctx.pred_eval == ctx.y_eval
    coverage = stats.proportion(int(accepted.sum()), len(accepted), level)
    accuracy = stats.proportion(int(right[accepted].sum()), int(accepted.sum()), level)
    measured = {
        "coverage": coverage.value,
        "accepted_accuracy": accuracy.value,
        "coverage_interval": coverage.to_dict(),
        "accepted_accuracy_interval": accuracy.to_dict(),
        "routed_to_human": int((~accepted).sum()),
        "routed_accuracy": float(right[~accepted].mean()) if (~accepted).any() else None,
        "overall_accuracy": float(right.mean()),
        "abstain_below": fallback.abstain_below,
    }
    outcome = compare(
        measured,
        {
            "coverage": ("min", fallback.min_coverage),
            "accepted_accuracy": ("min", fallback.min_accepted_accuracy),
        },
    )
    note = (
        f"; {measured['routed_to_human']} of {len(accepted)} cases go to a human "
        f"(confidence below {fallback.abstain_below:g})"
    )
    return Outcome(outcome.status, measured, outcome.threshold, outcome.message + note)


@check("robustness.edge_cases", "robustness", SAFETY)
def edge_cases(ctx: RunContext) -> Outcome:
    ctx.require_model("edge-case scoring")
    train = ctx.require_train("edge cases (extremes are set from the training ranges)")
    cases = stress.edge_cases(train, ctx.features, ctx.evaluation.iloc[0])
    problems = {}
    try:  # one call for all; one per case only to name the ones that break
        batch = ctx.scores(pd.concat(cases.values(), ignore_index=True))
        scores = dict(zip(cases, batch, strict=True))
    except Exception:  # noqa: BLE001 - recorded per case below
        scores = {}
        for name, case in cases.items():
            try:
                scores[name] = ctx.scores(case)[0]
            except Exception as exc:  # noqa: BLE001 - a crash on an edge case is the finding
                problems[name] = f"{type(exc).__name__}: {exc}"
    regression = ctx.task == "regression"
    for name, score in scores.items():
        if not (np.isfinite(score).all() and (regression or ((score >= 0.0) & (score <= 1.0)).all())):
            what = "finite" if regression else "a probability"
            problems[name] = f"score {np.round(score, 6).tolist()!r} is not {what}"
    measured = {"cases": len(cases), "failed_cases": len(problems), "failures": problems}
    if problems:
        shown = "; ".join(f"{k}: {v}" for k, v in list(problems.items())[:5])
        message = f"{len(problems)} of {len(cases)} edge-case inputs break scoring: {shown}"
        return Outcome(Status.FAIL, measured, {"max_failed_cases": 0}, message)
    message = f"all {len(cases)} edge-case inputs (extremes, unseen categories, blanks) score to " + (
        "a finite prediction" if regression else "a probability"
    )
    return Outcome(Status.PASS, measured, {"max_failed_cases": 0}, message)


ROBUSTNESS = ("EU-AI-Act:Art15", "NIST-AI-RMF:MEASURE-2.7", "ISO-42001:A.6.2.4")


@check("robustness.evasion", "robustness", ROBUSTNESS)
def evasion(ctx: RunContext) -> Outcome:
    estimator = ctx.require_model("an evasion attack")
    policy = ctx.spec.checks.robustness
    space = feature_space(ctx)
    if not space.numeric:
        return Outcome(Status.NOT_APPLICABLE, message="the model has no mutable numeric input to perturb")
    deadline = ctx.started("robustness") + policy.time_budget_seconds
    sample, base = evaluation_sample(ctx, policy.sample_size)
    if ctx.task == "regression":
        return _regression_evasion(ctx, space, sample, base, deadline)
    method = choose_attack(estimator, policy.attack)
    found = attack(
        space, base, ctx.y_eval[sample], ctx.scores, method, policy.budgets, policy.max_iter, policy.max_eval,
        deadline, policy.seed,
    )  # fmt: skip
    csv = _examples(ctx, space, sample, base, found.examples)

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


def _examples(
    ctx: RunContext, space: FeatureSpace, sample: np.ndarray, base: pd.DataFrame, examples: pd.DataFrame
) -> Path:
    """The adversarial inputs as evidence, refused if any breaks the feature space's constraints."""
    originals = base.iloc[examples["attack_row"].to_numpy()].reset_index(drop=True)
    invalid = space.violations(originals, examples.reset_index(drop=True))
    if invalid:  # a bug in the attack's constraints must never pass as evidence
        raise CertificationError(f"the attack produced invalid inputs: {'; '.join(invalid)}")
    csv = ctx.evidence_path("adversarial_examples.csv")
    examples.assign(evaluation_row=ctx.evaluation.index[sample][examples["attack_row"]]).to_csv(
        csv, index=False
    )
    return csv


def _regression_evasion(
    ctx: RunContext, space: FeatureSpace, sample: np.ndarray, base: pd.DataFrame, deadline: float
) -> Outcome:
    """The largest prediction change a constrained black-box search reaches in each budget (ART has no evasion
    attack on regressors): a row is moved when its prediction shifts by more than the spec's tolerance."""
    policy = ctx.spec.checks.robustness
    tolerance = policy.prediction_tolerance
    assert tolerance is not None  # the spec requires it for a regression task
    found = regression_search.search(
        space, base, ctx.scores, policy.budgets, queries=policy.max_eval, tolerance=tolerance, deadline=deadline,
        seed=policy.seed,
    )  # fmt: skip
    csv = _examples(ctx, space, sample, base, found.examples)
    level = ctx.spec.checks.evaluation.confidence_level
    shares = {b: stats.proportion(found.moved[b], found.rows, level) for b in found.budgets}
    changes = {b: found.max_change[b] for b in found.budgets}
    measured = {
        "attack_success_rate": shares[policy.epsilon].value,
        "epsilon": policy.epsilon,
        "prediction_tolerance": tolerance,
        "method": "constrained black-box search",
        "curve": [
            {
                "epsilon": b,
                "moved_share": shares[b].to_dict(),
                "median_max_change": float(np.median(changes[b])) if len(changes[b]) else None,
                "largest_change": float(np.max(changes[b])) if len(changes[b]) else None,
            }
            for b in found.budgets
        ],
        "rows_requested": len(base),
        "rows_attacked": found.rows,
        "queries_per_row_and_budget": policy.max_eval,
        "queries_used": found.queries_used,
        "stopped_by_time_budget": found.stopped_early,
        "perturbed_features": space.numeric,
        "frozen_features": space.frozen,
        "seconds": found.seconds,
        "time_budget_seconds": policy.time_budget_seconds,
    }
    outcome = compare(measured, {"attack_success_rate": ("max", policy.max_attack_success_rate)})
    png = plots.robustness_curve(
        {
            f"rows moved by more than {tolerance:g}": [
                (b, e.value, e.lower, e.upper) for b, e in shares.items()
            ]
        },
        ctx.evidence_path("robustness_curve.png"),
        title=f"Constrained search on {found.rows} rows: predictions moved beyond the tolerance",
        budget=policy.epsilon,
    )
    note = (
        f" at ε={policy.epsilon:g} (share of {found.rows} of {len(base)} sampled rows whose prediction moves"
    )
    note += f" by more than {tolerance:g}"
    note += ", stopped by the stage's time budget)" if found.stopped_early else ")"
    return Outcome(outcome.status, measured, outcome.threshold, outcome.message + note, [str(png), str(csv)])


# in the order they run: the attack last, so that it spends what is left of the stage's time
CHECKS = (membership_inference, attribute_inference, stress_tests, confidence_fallback, edge_cases, evasion)
