"""Fairness: per-group rates, disparities with bootstrap CIs and tests, group sizes, representation, mitigation.

All checks share one audit of the evaluation set (certification/fairness.py), computed once per run.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
from sklearn.base import clone

from certification.checks.base import Check, Outcome, Status, check, compare
from certification.checks.fairness import audit as engine
from certification.checks.fairness import multiclass, regression
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


# regression disparity -> the spec field holding its threshold
REGRESSION_LIMITS = {
    "outcome_parity": "max_mean_prediction_difference",
    "residual_bias": "max_mean_residual_difference",
    "bounded_group_loss": "max_group_loss_difference",
    "threshold_parity": "max_share_above_difference",
}
REGRESSION_NAMES = {
    "mean_prediction": "mean prediction",
    "mean_residual": "mean residual (prediction − truth)",
    "mae": "mean absolute error",
    "rmse": "root mean squared error",
    "share_above": "share at or above the decision threshold",
}

# class -> grouping -> table: a multiclass model's one-vs-rest tables per class, the single class None otherwise
AUDIT = CacheKey[Mapping[str | None, Mapping[str, engine.Table]]]("fairness.audit")


def _policy(ctx: RunContext) -> FairnessPolicy:
    return ctx.spec.checks.fairness


def _limits(ctx: RunContext) -> dict[str, str]:
    return REGRESSION_LIMITS if ctx.task == "regression" else LIMITS


def _audit(ctx: RunContext) -> Mapping[str | None, Mapping[str, engine.Table]]:
    """The run's one audit of the evaluation rows, by class (see AUDIT)."""
    return ctx.cached(AUDIT, lambda: _compute_audit(ctx))


def _compute_audit(ctx: RunContext) -> Mapping[str | None, Mapping[str, engine.Table]]:
    policy = _policy(ctx)
    common: dict[str, Any] = {
        "intersections": policy.intersections != "off",
        "resamples": policy.bootstrap_resamples,
        "seed": policy.seed,
    }
    rows, attributes = ctx.evaluation, ctx.spec.protected_attributes
    if ctx.task == "regression":
        threshold = policy.decision_threshold
        return {
            None: regression.audit(rows, attributes, ctx.y_eval, ctx.pred_eval, threshold=threshold, **common)
        }
    if ctx.task == "multiclass":
        found = multiclass.audit(
            rows, attributes, ctx.y_eval, ctx.pred_eval, ctx.score_eval, ctx.classes, **common
        )
        by_class: dict[str | None, Mapping[str, engine.Table]] = dict(found.items())
        return by_class
    return {None: engine.audit(rows, attributes, ctx.y_eval, ctx.pred_eval, ctx.score_eval, **common)}


def _tables(ctx: RunContext) -> Iterator[tuple[str | None, str, engine.Table]]:
    """(class, grouping, table) for every class (None but for a multiclass model) and grouping."""
    for label, tables in _audit(ctx).items():
        for grouping, table in tables.items():
            yield label, grouping, table


def _groupings(ctx: RunContext) -> list[str]:
    return list(next(iter(_audit(ctx).values())))


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
    for cls, grouping, table in _tables(ctx):
        if cls is not None and engine.JOIN in grouping:
            continue  # a multiclass chart shows each class's single attributes; intersections are in the tables
        low, high = table.interval(measure, policy.confidence_level)
        for i, label in enumerate(table.labels):
            size = int(table.size(measure)[i])
            flag = f" (n={size}, small)" if size < policy.min_group_size else ""
            scope = "" if cls is None else f"{cls} · "
            rows.append((f"{scope}{grouping}: {label}{flag}", table.values[measure][i], low[i], high[i]))
    defined = [r for r in rows if np.isfinite(r[1])]
    names = REGRESSION_NAMES if ctx.task == "regression" else engine.NAMES
    title = f"{names.get(measure, measure)} by group, {policy.confidence_level:.0%} bootstrap CI"
    interval_chart(
        defined,
        path,
        title=title,
        xlabel=measure,
        reference=0.0 if measure in ("calibration_error", "mean_residual") else None,
    )
    return str(path)


def _groups(ctx: RunContext) -> dict[str, dict[str, dict[str, Any]]]:
    """Grouping (for a multiclass model: class and grouping) -> group -> its measures, for documents."""
    return {
        grouping if cls is None else f"class {cls!r} · {grouping}": table.rows(_policy(ctx).min_group_size)
        for cls, grouping, table in _tables(ctx)
    }


def _disparities(ctx: RunContext, name: str) -> dict[str, dict[str, Any]]:
    """Grouping -> the disparity `name` with its interval and test, by the task's engine (a multiclass model's:
    the worst class's, named in `class`)."""
    by_class = _audit(ctx)
    if ctx.task == "multiclass":
        return {
            g: multiclass.disparity(multiclass.for_grouping(by_class, g), name, _comparison(ctx, g))  # type: ignore[arg-type]
            for g in _groupings(ctx)
        }
    measure = regression.disparity if ctx.task == "regression" else engine.disparity
    return {g: measure(t, name, _comparison(ctx, g)) for g, t in by_class[None].items()}  # type: ignore[arg-type]


def _finding(ctx: RunContext, grouping: str, name: str, result: dict[str, Any]) -> str:
    """The task's plain sentence for one grouping's disparity."""
    policy = _policy(ctx)
    if ctx.task == "regression":
        side = "higher" if policy.favourable_outcome == "positive" else "lower"
        return regression.finding(grouping, name, result, side, target=ctx.spec.label.column)
    if ctx.task == "multiclass":
        adverse = {str(c) for c in policy.adverse_classes}
        sides = {str(c): "negative" if str(c) in adverse else "positive" for c in ctx.classes}
        return multiclass.finding(grouping, name, result, sides)
    return engine.finding(grouping, name, result, policy.favourable_outcome)


def _impact_ratios(ctx: RunContext) -> dict[str, dict[str, Any]]:
    """Grouping -> the lowest ratio of selection rates (a multiclass model's: over its classes)."""
    ratios: dict[str, dict[str, Any]] = {}
    for cls, grouping, table in _tables(ctx):
        found = engine.impact_ratio(table, _comparison(ctx, grouping))  # type: ignore[arg-type]
        kept = ratios.get(grouping)
        if kept is None or (
            found["value"] is not None and (kept["value"] is None or found["value"] < kept["value"])
        ):
            ratios[grouping] = found if cls is None else {**found, "class": cls}
    return ratios


def evaluate(ctx: RunContext, name: str) -> Outcome:
    """One disparity over every grouping; the worst judged grouping meets the spec's threshold."""
    policy = _policy(ctx)
    field = _limits(ctx)[name]
    limit = getattr(policy, field)
    if name == "calibration_gap" and ctx.score_eval is None:
        raise NotApplicable("no scores: the predictions table has no score column")
    if name == "threshold_parity" and policy.decision_threshold is None:
        raise NotApplicable("the spec names no decision threshold (checks.fairness.decision_threshold)")
    results = _disparities(ctx, name)
    judged = {g: r["value"] for g, r in results.items() if _judged(ctx, g)}
    defined = {g: v for g, v in judged.items() if v is not None}
    worst = max(defined, key=lambda g: defined[g]) if defined else None
    findings = [
        _finding(ctx, g, name, r)
        for g, r in results.items()
        if r["value"] is not None
        and (r["significant"] or (limit is not None and (judged.get(g) or 0) > limit))
    ]
    measured: dict[str, Any] = {
        field: None if worst is None else defined[worst],
        "worst_attribute": worst,
        "by_attribute": {g: r["value"] for g, r in results.items()},
        "judged": sorted(judged),
        "disparities": results,
        "findings": findings,
        "groups": _groups(ctx),
    }
    limits: dict[str, tuple[str, float]] = {}
    if limit is not None:
        limits[field] = ("max", limit)
    if name == "demographic_parity":
        ratios = _impact_ratios(ctx)
        lowest = [r["value"] for g, r in ratios.items() if _judged(ctx, g) and r["value"] is not None]
        measured |= {"min_disparate_impact_ratio": min(lowest, default=None), "impact_ratios": ratios}
        if policy.min_disparate_impact_ratio is not None:
            limits["min_disparate_impact_ratio"] = ("min", policy.min_disparate_impact_ratio)
    disparities = regression.DISPARITIES if ctx.task == "regression" else engine.DISPARITIES
    charts = [_chart(ctx, m) for m in disparities[name]]
    if not limits:
        message = f"reported, not judged: the spec sets no {field}"
        return Outcome(Status.PASS, measured, {}, " ".join([message, *findings]), charts)
    outcome = compare(measured, limits)
    message = "; ".join([outcome.message, *findings])
    return Outcome(outcome.status, measured, outcome.threshold, message, charts)


def _disparity_check(name: str, *tasks: str) -> Check:
    @check(f"fairness.{name}", "fairness", NON_DISCRIMINATION, tasks=tasks)
    def body(ctx: RunContext) -> Outcome:
        return evaluate(ctx, name)

    return body


DISPARITY_CHECKS = (
    *(_disparity_check(name, "binary", "multiclass") for name in LIMITS),
    *(_disparity_check(name, "regression") for name in REGRESSION_LIMITS),
)


@check("fairness.prediction_distribution", "fairness", NON_DISCRIMINATION, tasks=("regression",))
def prediction_distribution(ctx: RunContext) -> Outcome:
    """How far apart groups' whole prediction distributions are (Wasserstein, target units), with a KS test."""
    policy = _policy(ctx)
    found = regression.distribution_gap(
        ctx.evaluation,
        ctx.spec.protected_attributes,
        ctx.pred_eval,
        intersections=policy.intersections != "off",
        min_size=policy.min_group_size,
        seed=policy.seed,
        alpha=policy.alpha,
    )
    judged = {g: r["value"] for g, r in found.items() if _judged(ctx, g) and r["value"] is not None}
    worst = max(judged, key=lambda g: judged[g]) if judged else None
    findings = [
        f"{g}: predictions for {r['groups'][0]} and {r['groups'][1]} differ in distribution — Wasserstein "
        f"distance {r['value']:.4g}, KS statistic {r['ks_statistic']:.3f}, p = {r['p_value_adjusted']:.2g} after "
        "adjustment"
        for g, r in found.items()
        if r["value"] is not None and r["significant"]
    ]
    measured = {
        "max_prediction_distance": None if worst is None else judged[worst],
        "worst_attribute": worst,
        "distances": found,
        "findings": findings,
    }
    if policy.max_prediction_distance is None:
        message = "reported, not judged: the spec sets no max_prediction_distance"
        return Outcome(Status.PASS, measured, {}, " ".join([message, *findings]))
    outcome = compare(measured, {"max_prediction_distance": ("max", policy.max_prediction_distance)})
    return Outcome(outcome.status, measured, outcome.threshold, "; ".join([outcome.message, *findings]))


@check("fairness.group_sizes", "fairness", NON_DISCRIMINATION)
def group_sizes(ctx: RunContext) -> Outcome:
    """Warn about groups or group rates resting on fewer rows than the spec's minimum: reported, not judged."""
    minimum = _policy(ctx).min_group_size
    small, thin = [], []
    rates = () if ctx.task == "regression" else ("tpr", "fpr", "ppv")  # a regressor's measures use every row
    first = next(iter(_audit(ctx)))
    for cls, grouping, table in _tables(ctx):
        for i, label in enumerate(table.labels):
            count = int(table.counts[i].sum())
            if count < minimum and cls == first:  # every class's table has the same groups
                small.append({"grouping": grouping, "group": label, "count": count})
            for measure in rates:
                size = int(table.size(measure)[i])
                if count >= minimum and size < minimum:
                    where = {} if cls is None else {"class": cls}
                    thin.append(
                        {"grouping": grouping, "group": label, **where, "measure": measure, "rows": size}
                    )
    measured = {"min_group_size": minimum, "small_groups": small, "thin_rates": thin, "groups": _groups(ctx)}
    if ctx.task == "multiclass":
        measured["confusion_by_group"] = multiclass.group_confusion(
            ctx.evaluation, ctx.spec.protected_attributes, ctx.y_eval, ctx.pred_eval, ctx.classes,
            intersections=_policy(ctx).intersections != "off",
        )  # fmt: skip
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
    outcomes = {n: evaluate(ctx, n) for n in _limits(ctx)} if policy.mitigation else {}
    failing = [n for n, o in outcomes.items() if o.status is Status.FAIL]
    if not failing:
        raise NotApplicable(
            "no fairness check failed" if policy.mitigation else "mitigation is off in the spec"
        )
    if ctx.task == "regression":
        return _bounded_group_loss(ctx, failing, outcomes)
    if ctx.task == "multiclass":
        raise NotApplicable(
            f"failing: {', '.join(failing)}; no library mitigates a multiclass classifier: fairlearn's "
            "post-processing picks group thresholds on one binary score and its reductions constrain binary "
            "classifiers or regression losses, and applied class by class they would assign some rows several "
            "classes or none, a classifier the certificate could not describe"
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


def _bounded_group_loss(ctx: RunContext, failing: list[str], outcomes: dict[str, Outcome]) -> Outcome:
    """A regressor's mitigation: fairlearn's ExponentiatedGradient under BoundedGroupLoss, refit from the recipe
    (no post-processing method exists for regression)."""
    policy = _policy(ctx)
    attributes = str(outcomes[failing[0]].measured["worst_attribute"]).split(engine.JOIN)
    refit = _refit(ctx, attributes)
    if refit is None:
        raise NotApplicable(
            f"failing: {', '.join(failing)}; bounded-group-loss mitigation refits the model, and this run cannot "
            "(no training recipe, no training data or a model that does not clone)"
        )
    sensitive = ctx.evaluation[attributes].astype("string").fillna(engine.MISSING)
    rows = regression.mitigate(
        refit.estimator, refit.x, refit.y, refit.sensitive, refit.x_eval, ctx.y_eval, ctx.pred_eval, sensitive,
        min_size=policy.min_group_size, seed=policy.seed,
    )  # fmt: skip
    message = (
        f"failing: {', '.join(failing)}. ExponentiatedGradient under BoundedGroupLoss ({refit.note}) over the groups "
        f"of {engine.JOIN.join(attributes)}, measured on the evaluation rows. The certified model is unchanged."
    )
    measured = {"failing_checks": failing, "sensitive_features": attributes, "mitigations": rows}
    return Outcome(Status.WARN, measured, {}, message)


# in the order they run
CHECKS = (*DISPARITY_CHECKS, prediction_distribution, group_sizes, representation, mitigation)
