"""Stress and safety checks of the robustness stage: decisions under noisy, incomplete, swapped and shifted inputs;
the confidence fallback the spec promises; and inputs no one planned for (certification.stress)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from certification import plots, stats, stress
from certification.checks.base import Outcome, Status, check, compare
from certification.context import RunContext
from certification.errors import CertificationError, NotApplicable
from certification.perturbation import FeatureSpace


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
    found = {
        name: stress.measure(ctx.predict, base_pred, y, build(), level)
        for name, build in stress.scenarios(feature_space(ctx), base, policy.stress, policy.seed).items()
    }
    if not found:
        raise NotApplicable("the model has no mutable input to stress and the spec declares no shift")
    worst_flip = max(found, key=lambda n: np.nan_to_num(found[n].flip_rate.value, nan=np.inf))
    worst_drop = max(found, key=lambda n: np.nan_to_num(found[n].accuracy_drop.value, nan=np.inf))
    measured = {
        "flip_rate": found[worst_flip].flip_rate.value,
        "accuracy_drop": found[worst_drop].accuracy_drop.value,
        "worst_flip_scenario": worst_flip,
        "worst_accuracy_scenario": worst_drop,
        "accuracy": float((base_pred == y).mean()),
        "rows": len(base),
        "sampled": len(base) < len(ctx.evaluation),
        "scenarios": {name: s.to_dict() for name, s in found.items()},
    }
    outcome = compare(
        measured,
        {
            "flip_rate": ("max", policy.stress.max_flip_rate),
            "accuracy_drop": ("max", policy.stress.max_accuracy_drop),
        },
    )
    png = plots.interval_chart(
        [(name, s.flip_rate.value, s.flip_rate.lower, s.flip_rate.upper) for name, s in found.items()],
        ctx.evidence_path("stress_flip_rates.png"),
        title="Decisions each stress changes",
        xlabel=f"flip rate: share of {len(base):,} evaluation rows whose prediction changes",
        reference=policy.stress.max_flip_rate,
    )
    crashed = [f"{name} ({s.error})" for name, s in found.items() if s.error]
    note = f"; worst: {worst_flip} (flips), {worst_drop} (accuracy)"
    note += f"; scoring failed under {', '.join(crashed)}" if crashed else ""
    return Outcome(outcome.status, measured, outcome.threshold, outcome.message + note, [str(png)])


@check("robustness.confidence_fallback", "robustness", SAFETY)
def confidence_fallback(ctx: RunContext) -> Outcome:
    fallback = ctx.spec.checks.robustness.fallback
    if fallback is None:
        raise NotApplicable("the spec defines no confidence fallback (checks.robustness.fallback)")
    if ctx.score_eval is None:
        raise CertificationError(
            "a confidence fallback needs scores; the predictions file has no score column"
        )
    level = ctx.spec.checks.evaluation.confidence_level
    accepted = np.maximum(ctx.score_eval, 1.0 - ctx.score_eval) >= fallback.abstain_below
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
                scores[name] = float(ctx.scores(case)[0])
            except Exception as exc:  # noqa: BLE001 - a crash on an edge case is the finding
                problems[name] = f"{type(exc).__name__}: {exc}"
    for name, score in scores.items():
        if not (np.isfinite(score) and 0.0 <= score <= 1.0):
            problems[name] = f"score {score!r} is not a probability"
    measured = {"cases": len(cases), "failed_cases": len(problems), "failures": problems}
    if problems:
        shown = "; ".join(f"{k}: {v}" for k, v in list(problems.items())[:5])
        message = f"{len(problems)} of {len(cases)} edge-case inputs break scoring: {shown}"
        return Outcome(Status.FAIL, measured, {"max_failed_cases": 0}, message)
    message = (
        f"all {len(cases)} edge-case inputs (extremes, unseen categories, blanks) score to a probability"
    )
    return Outcome(Status.PASS, measured, {"max_failed_cases": 0}, message)
