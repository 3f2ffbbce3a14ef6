"""Fairness: per-group rates, disparities with bootstrap CIs and tests, group sizes, representation, mitigation.

All checks share one audit of the evaluation set (certification/fairness.py), computed once per run.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import clone

from certification.checks.base import Check, Outcome, Status, check, compare
from certification.checks.fairness import audit as engine
from certification.errors import NotApplicable
from certification.plots import interval_chart
from certification.run.context import CacheKey, RunContext
from certification.spec import FairnessPolicy

NON_DISCRIMINATION = ("EU-AI-Act:Art10(2f)", "NIST-AI-RMF:MEASURE-2.11", "ISO-42001:A.7.4")
DATA_GOVERNANCE = ("EU-AI-Act:Art10(3)", "NIST-AI-RMF:MAP-2.3", "ISO-42001:A.7.4")
# disparity -> the spec field holding its threshold (None: reported, not judged)
LIMITS = {
    "demographic_parity": "max_demographic_parity_difference",
    "equalized_odds": "max_equalized_odds_difference",
    "equal_opportunity": "max_equal_opportunity_difference",
    "predictive_parity": "max_predictive_parity_difference",
    "calibration_gap": "max_calibration_gap",
}


AUDIT = CacheKey[dict[str, engine.GroupTable]]("fairness.audit")


def _policy(ctx: RunContext) -> FairnessPolicy:
    return ctx.spec.checks.fairness


def _audit(ctx: RunContext) -> dict[str, engine.GroupTable]:
    policy = _policy(ctx)
    return ctx.cached(
        AUDIT,
        lambda: engine.audit(
            ctx.evaluation,
            ctx.spec.protected_attributes,
            ctx.y_eval,
            ctx.pred_eval,
            ctx.score_eval,
            intersections=policy.intersections != "off",
            resamples=policy.bootstrap_resamples,
            seed=policy.seed,
        ),
    )


def _comparison(ctx: RunContext, grouping: str) -> engine.Comparison:
    policy = _policy(ctx)
    reference = None
    if policy.comparison == "reference":
        parts = grouping.split(engine.JOIN)
        missing = [a for a in parts if a not in policy.reference_groups]
        if missing:
            raise ValueError(f"comparison 'reference' needs reference_groups for {missing}")
        reference = engine.JOIN.join(
            policy.reference_groups[a] for a in parts
        )  # intersections: joint reference
    return engine.Comparison(policy.min_group_size, reference, policy.confidence_level, policy.alpha)


def _judged(ctx: RunContext, grouping: str) -> bool:
    return engine.JOIN not in grouping or _policy(ctx).intersections == "judge"


def _chart(ctx: RunContext, measure: str) -> str:
    """Bar chart of one measure for every group with its bootstrap CI (written once per run and measure)."""
    return ctx.cached(CacheKey[str](f"fairness.chart.{measure}"), lambda: _draw(ctx, measure))


def _draw(ctx: RunContext, measure: str) -> str:
    path = ctx.evidence_path(f"fairness_{measure}.png")
    policy, rows = _policy(ctx), []
    for table in _audit(ctx).values():
        low, high = table.interval(measure, policy.confidence_level)
        for i, label in enumerate(table.labels):
            size = int(table.size(measure)[i])
            flag = f" (n={size}, small)" if size < policy.min_group_size else ""
            rows.append((f"{label}{flag}", table.values[measure][i], low[i], high[i]))
    defined = [r for r in rows if np.isfinite(r[1])]
    title = f"{engine.NAMES.get(measure, measure)} by group, {policy.confidence_level:.0%} bootstrap CI"
    interval_chart(
        defined,
        path,
        title=title,
        xlabel=measure,
        reference=0.0 if measure == "calibration_error" else None,
    )
    return str(path)


def _groups(ctx: RunContext) -> dict[str, dict[str, dict[str, Any]]]:
    return {g: t.rows(_policy(ctx).min_group_size) for g, t in _audit(ctx).items()}


def evaluate(ctx: RunContext, name: str) -> Outcome:
    """One disparity over every grouping; the worst judged grouping meets the spec's threshold."""
    policy = _policy(ctx)
    tables = _audit(ctx)
    if name == "calibration_gap" and ctx.score_eval is None:
        raise NotApplicable("no scores: the predictions table has no score column")
    results = {g: engine.disparity(t, name, _comparison(ctx, g)) for g, t in tables.items()}
    judged = {g: r["value"] for g, r in results.items() if _judged(ctx, g)}
    defined = {g: v for g, v in judged.items() if v is not None}
    worst = max(defined, key=lambda g: defined[g]) if defined else None
    key = f"max_{name}_difference" if name != "calibration_gap" else "max_calibration_gap"
    findings = [
        engine.finding(g, name, r, policy.favourable_outcome)
        for g, r in results.items()
        if r["value"] is not None
        and (r["significant"] or (judged.get(g) or 0) > (getattr(policy, LIMITS[name]) or 1))
    ]
    measured: dict[str, Any] = {
        key: None if worst is None else defined[worst],
        "worst_attribute": worst,
        "by_attribute": {g: r["value"] for g, r in results.items()},
        "judged": sorted(judged),
        "disparities": results,
        "findings": findings,
        "groups": _groups(ctx),
    }
    limits: dict[str, tuple[str, float]] = {}
    if getattr(policy, LIMITS[name]) is not None:
        limits[key] = ("max", getattr(policy, LIMITS[name]))
    if name == "demographic_parity":
        ratios = {g: engine.impact_ratio(t, _comparison(ctx, g)) for g, t in tables.items()}
        lowest = [r["value"] for g, r in ratios.items() if _judged(ctx, g) and r["value"] is not None]
        measured |= {"min_disparate_impact_ratio": min(lowest, default=None), "impact_ratios": ratios}
        if policy.min_disparate_impact_ratio is not None:
            limits["min_disparate_impact_ratio"] = ("min", policy.min_disparate_impact_ratio)
    charts = [_chart(ctx, m) for m in engine.DISPARITIES[name]]
    if not limits:
        message = f"reported, not judged: the spec sets no {LIMITS[name]}"
        return Outcome(Status.PASS, measured, {}, " ".join([message, *findings]), charts)
    outcome = compare(measured, limits)
    message = "; ".join([outcome.message, *findings])
    return Outcome(outcome.status, measured, outcome.threshold, message, charts)


def _disparity_check(name: str) -> Check:
    @check(f"fairness.{name}", "fairness", NON_DISCRIMINATION)
    def body(ctx: RunContext) -> Outcome:
        return evaluate(ctx, name)

    return body


DISPARITY_CHECKS = tuple(_disparity_check(name) for name in LIMITS)


@check("fairness.group_sizes", "fairness", NON_DISCRIMINATION)
def group_sizes(ctx: RunContext) -> Outcome:
    """Warn about groups or group rates resting on fewer rows than the spec's minimum: reported, not judged."""
    minimum = _policy(ctx).min_group_size
    small, thin = [], []
    for grouping, table in _audit(ctx).items():
        for i, label in enumerate(table.labels):
            count = int(table.counts[i].sum())
            if count < minimum:
                small.append({"grouping": grouping, "group": label, "count": count})
            for measure in ("tpr", "fpr", "ppv"):
                size = int(table.size(measure)[i])
                if count >= minimum and size < minimum:
                    thin.append({"grouping": grouping, "group": label, "measure": measure, "rows": size})
    measured = {"min_group_size": minimum, "small_groups": small, "thin_rates": thin, "groups": _groups(ctx)}
    if not small and not thin:
        return Outcome(
            Status.PASS, measured, {"min_group_size": minimum}, f"every group has ≥ {minimum} rows"
        )
    names = ", ".join(f"{s['group']} (n={s['count']})" for s in small)
    message = (
        f"{len(small)} groups below {minimum} rows{': ' + names if names else ''}; {len(thin)} more group rates "
        "rest on too few rows. They are reported with their intervals but not judged against thresholds."
    )
    return Outcome(Status.WARN, measured, {"min_group_size": minimum}, message)


@check("fairness.representation", "fairness", DATA_GOVERNANCE)
def representation(ctx: RunContext) -> Outcome:
    """Group shares in the training and evaluation data against the spec's reference population shares."""
    policy = _policy(ctx)
    table = engine.representation(ctx.frames, ctx.spec.protected_attributes, policy.reference_shares)
    gaps = [t["max_reference_gap"] for t in table.values() if t["max_reference_gap"] is not None]
    shift = {
        a: max(abs(row["train"] - row["evaluation"]) for row in t["groups"].values())
        for a, t in table.items()
        if "train" in ctx.frames
    }
    measured = {
        "max_representation_gap": max(gaps) if gaps else None,
        "max_train_evaluation_share_difference": max(shift.values(), default=None),
        "representation": table,
    }
    if policy.max_representation_gap is None or not policy.reference_shares:
        return Outcome(
            Status.PASS, measured, {}, "reported, not judged: the spec sets no reference shares or gap"
        )
    return compare(measured, {"max_representation_gap": ("max", policy.max_representation_gap)})


def _refit(ctx: RunContext, attributes: list[str]) -> engine.Refit | None:
    """The spec's training recipe on a sample of training rows, or None when the run cannot refit the model (no
    recipe, no training data, or a model that does not clone: `RunContext.require_refit`)."""
    try:
        estimator, everything = ctx.require_refit("mitigation"), ctx.require_train("mitigation")
    except NotApplicable:
        return None
    policy = _policy(ctx)
    train = everything
    if len(train) > policy.mitigation_max_rows:
        train = train.sample(policy.mitigation_max_rows, random_state=policy.seed)
    note = f"refit on {len(train)} of {len(everything)} training rows"
    return engine.Refit(
        clone(estimator),
        train[ctx.features],
        ctx.labels(train),
        train[attributes].astype("string").fillna(engine.MISSING),
        ctx.evaluation[ctx.features],
        note,
    )


@check("fairness.mitigation", "fairness", NON_DISCRIMINATION)
def mitigation(ctx: RunContext) -> Outcome:
    """When a fairness check fails, the fairness/accuracy trade-off of mitigation options, side by side.

    Evidence for reviewers only: the certified model is never replaced, so this check warns rather than passes.
    """
    policy = _policy(ctx)
    outcomes = {n: evaluate(ctx, n) for n in LIMITS} if policy.mitigation else {}
    failing = [n for n, o in outcomes.items() if o.status is Status.FAIL]
    if not failing:
        raise NotApplicable(
            "no fairness check failed" if policy.mitigation else "mitigation is off in the spec"
        )
    if ctx.score_eval is None:
        raise NotApplicable("post-processing needs scores; the predictions table has none")
    # mitigate for the grouping where the first failing check is worst: finer joint groups can be too small
    # to fit group thresholds on half of the evaluation rows
    attributes = str(outcomes[failing[0]].measured["worst_attribute"]).split(engine.JOIN)
    refit = _refit(ctx, attributes)
    in_processing = [c for c in engine.EG_CONSTRAINTS if c in failing] or ["equalized_odds"]
    rows = engine.mitigations(
        ctx.y_eval,
        ctx.score_eval,
        ctx.pred_eval,
        ctx.evaluation[attributes].astype("string").fillna(engine.MISSING),
        min_size=policy.min_group_size,
        seed=policy.seed,
        refit=refit,
        in_processing=in_processing,
    )
    message = (
        f"failing: {', '.join(failing)}. Mitigation options measured on a held-out half of the evaluation rows "
        f"over the groups of {engine.JOIN.join(attributes)}"
        + (
            ""
            if refit
            else "; no training recipe applies to this model, so only post-processing was evaluated"
        )
        + ". The certified model is unchanged."
    )
    measured = {"failing_checks": failing, "sensitive_features": attributes, "mitigations": rows}
    return Outcome(Status.WARN, measured, {}, message)


# in the order they run
CHECKS = (*DISPARITY_CHECKS, group_sizes, representation, mitigation)
