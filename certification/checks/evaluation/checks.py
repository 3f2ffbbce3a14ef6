"""Evaluation: metrics with bootstrap intervals, calibration, cross-validation, slices, out-of-distribution rows,
latency under load, and a paired comparison with the certified champion."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import is_numeric_dtype

from certification import plots, stats, tracking
from certification.checks.base import Outcome, Status, check, compare
from certification.checks.evaluation import latency as timing
from certification.errors import InputError, NotApplicable
from certification.models import Output, load_registered
from certification.run.context import CacheKey, RunContext
from certification.spec import Bound, LatencyPolicy

ACCURACY = ("EU-AI-Act:Art15", "NIST-AI-RMF:MEASURE-2.3", "SR-11-7:outcomes-analysis")
VALIDITY = ("EU-AI-Act:Art15", "NIST-AI-RMF:MEASURE-2.5", "SR-11-7:ongoing-monitoring")
OOD_QUANTILES = (0.005, 0.995)
CALIBRATION = frozenset({"ece", "calibration_error", "calibration_slope"})  # judged by evaluation.calibration
# errors in the target's units, charted on one axis (R², MAPE and deviances are on other scales)
REGRESSION_CHART = ("mae", "median_ae", "rmse")


ESTIMATES = CacheKey[dict[str, stats.Estimate]]("evaluation.estimates")


def estimates(
    ctx: RunContext, rows: np.ndarray | None = None, metrics: tuple[str, ...] | None = None
) -> dict[str, stats.Estimate]:
    """Metrics with bootstrap intervals on all evaluation rows (computed once per run) or on a subset of them."""
    if rows is None and metrics is None:
        return ctx.cached(ESTIMATES, lambda: _estimates(ctx, slice(None), None))
    return _estimates(ctx, slice(None) if rows is None else rows, metrics)


def _estimates(ctx: RunContext, pick: Any, metrics: tuple[str, ...] | None) -> dict[str, stats.Estimate]:
    policy = ctx.spec.checks.evaluation
    if ctx.task == "regression":
        return stats.regression_estimates(
            ctx.y_eval[pick],
            ctx.pred_eval[pick],
            resamples=policy.bootstrap_resamples,
            level=policy.confidence_level,
            seed=policy.seed,
            metrics=metrics,
            tweedie_power=policy.tweedie_power,
        )
    if ctx.task == "multiclass":
        assert ctx.score_eval is not None  # a multiclass model is never score-only
        return stats.multiclass_estimates(
            ctx.y_eval[pick],
            ctx.score_eval[pick],
            ctx.classes,
            resamples=policy.bootstrap_resamples,
            level=policy.confidence_level,
            seed=policy.seed,
            metrics=metrics,
            top_k=policy.top_k,
        )
    return stats.classification_estimates(
        ctx.y_eval[pick],
        None if ctx.score_eval is None else ctx.score_eval[pick],
        ctx.pred_eval[pick],
        resamples=policy.bootstrap_resamples,
        level=policy.confidence_level,
        seed=policy.seed,
        metrics=metrics,
    )


def gate(values: Mapping[Any, stats.Estimate | float | None], bounds: Mapping[Any, Bound]) -> Outcome:
    """Apply spec bounds to the point estimate or to the conservative end of the interval; a bound on a value
    that could not be measured fails."""
    gated: dict[str, float | None] = {}
    limits: dict[str, tuple[str, float]] = {}
    for name, bound in bounds.items():
        kind, limit = ("min", bound.min) if bound.min is not None else ("max", bound.max)
        assert limit is not None
        value = values.get(name)
        key = name
        if isinstance(value, stats.Estimate):
            if bound.apply_to == "ci_bound":
                key = f"{name}_ci_{'lower' if kind == 'min' else 'upper'}"
                value = value.lower if kind == "min" else value.upper
            else:
                value = value.value
        gated[key], limits[key] = value, (kind, limit)
    return compare(gated, limits)


@check("evaluation.performance", "evaluation", ACCURACY)
def performance_metrics(ctx: RunContext) -> Outcome:
    policy = ctx.spec.checks.evaluation
    found = estimates(ctx)
    wanted = {k: v for k, v in policy.thresholds.items() if k not in CALIBRATION}
    outcome = gate(found, wanted)
    regression = ctx.task == "regression"
    png = plots.interval_chart(
        [
            (name, e.value, e.lower, e.upper)
            for name, e in found.items()
            if (name in REGRESSION_CHART if regression else name != "log_loss")
        ],
        ctx.evidence_path("evaluation_metrics.png"),
        title=f"Evaluation metrics, {policy.confidence_level:.0%} bootstrap intervals (n={len(ctx.y_eval)})",
        xlabel=f"error in {ctx.spec.label.column} units" if regression else "value",
    )
    measured: dict[str, Any] = {
        **outcome.measured,
        "estimates": {name: e.to_dict() for name, e in found.items()},
        "rows": len(ctx.y_eval),
    }
    evidence = [str(png)]
    if regression:
        measured |= {"target_mean": float(np.mean(ctx.y_eval)), **_interval_coverage(ctx)}
    elif ctx.task == "multiclass":
        found_classes, more = _classes(ctx)
        measured |= found_classes
        evidence += more
    else:
        measured["positive_rate"] = float(np.mean(ctx.y_eval))
    return Outcome(outcome.status, measured, outcome.threshold, outcome.message, evidence)


def _classes(ctx: RunContext) -> tuple[dict[str, Any], list[str]]:
    """A multiclass model per class: precision, recall, F1 and support with intervals, and the confusion matrix."""
    policy = ctx.spec.checks.evaluation
    assert ctx.score_eval is not None
    found = stats.per_class(
        ctx.y_eval,
        ctx.score_eval,
        ctx.classes,
        resamples=policy.bootstrap_resamples,
        level=policy.confidence_level,
        seed=policy.seed,
    )
    labels = [str(c) for c in ctx.classes]
    matrix = stats.confusion_matrix(ctx.y_eval, ctx.pred_eval, len(labels))
    png = plots.confusion_matrix(matrix, labels, ctx.evidence_path("confusion_matrix.png"))
    measured = {
        "classes": labels,
        "class_shares": dict(
            zip(labels, np.bincount(ctx.y_eval, minlength=len(labels)) / len(ctx.y_eval), strict=True)
        ),
        "per_class": {c: {name: e.to_dict() for name, e in rates.items()} for c, rates in found.items()},
        "confusion_matrix": {
            "rows": "true class",
            "columns": "predicted class",
            "classes": labels,
            "counts": matrix,
        },
    }
    return measured, [str(png)]


def _interval_coverage(ctx: RunContext) -> dict[str, Any]:
    """Share of targets inside the prediction intervals the model gave (evaluation columns named in the spec)."""
    columns = ctx.spec.checks.evaluation.prediction_intervals
    if columns is None:
        return {}
    try:
        low, high = (pd.to_numeric(ctx.evaluation[c]).to_numpy(dtype=float) for c in columns)
    except (KeyError, ValueError) as exc:
        raise InputError(
            ctx.datasets["evaluation"]["path"],
            f"prediction interval columns {list(columns)}: {exc}",
            field="checks.evaluation.prediction_intervals",
        ) from exc
    inside = (low <= ctx.y_eval) & (ctx.y_eval <= high)
    found = stats.proportion(int(inside.sum()), len(inside), ctx.spec.checks.evaluation.confidence_level)
    return {
        "interval_coverage": found.to_dict(),
        "mean_interval_width": float(np.mean(high - low)),
    }


@check("evaluation.calibration", "evaluation", ACCURACY)
def calibration(ctx: RunContext) -> Outcome:
    policy = ctx.spec.checks.evaluation
    bounds = {k: v for k, v in policy.thresholds.items() if k in CALIBRATION}
    if ctx.task == "regression":
        return _regression_calibration(ctx, bounds)
    if ctx.task == "multiclass":
        return _classwise_calibration(ctx, bounds)
    if ctx.score_eval is None:
        raise NotApplicable("only predicted classes were supplied; calibration needs probabilities")
    ece, table = stats.expected_calibration_error(ctx.y_eval, ctx.score_eval, policy.calibration_bins)
    png = plots.reliability_diagram(table, ece, ctx.evidence_path("reliability_diagram.png"))
    outcome = gate({"ece": ece}, bounds)
    measured = {**outcome.measured, "ece": ece, "bins": table, "brier": estimates(ctx)["brier"].to_dict()}
    return Outcome(
        outcome.status, measured, outcome.threshold, outcome.message or f"ECE {ece:.4f}", [str(png)]
    )


def _classwise_calibration(ctx: RunContext, bounds: Mapping[Any, Bound]) -> Outcome:
    """Each class's probability column against the share of rows of that class (one-vs-rest reliability); the
    classwise ECE (their mean) is judged by the spec's `ece` bound, the worst class reported beside it."""
    assert ctx.score_eval is not None
    found = stats.classwise_calibration(
        ctx.y_eval, ctx.score_eval, ctx.classes, ctx.spec.checks.evaluation.calibration_bins
    )
    png = plots.classwise_reliability(
        {c: v["bins"] for c, v in found["classes"].items()},
        ctx.evidence_path("reliability_diagram.png"),
        title=f"Reliability per class (one vs rest) — classwise ECE {found['mean_ece']:.4f}",
    )
    outcome = gate({"ece": found["mean_ece"]}, bounds)
    worst = max(found["classes"], key=lambda c: found["classes"][c]["ece"])
    summary = f"classwise ECE {found['mean_ece']:.4f}; worst class {worst!r} ECE {found['max_ece']:.4f}"
    message = f"{outcome.message}; {summary}" if outcome.message else summary
    measured = {
        **outcome.measured,
        "ece": found["mean_ece"],
        "worst_class": worst,
        "worst_class_ece": found["max_ece"],
        "classes": found["classes"],
    }
    measured["brier"] = estimates(ctx)["brier"].to_dict()
    return Outcome(outcome.status, measured, outcome.threshold, message, [str(png)])


def _regression_calibration(ctx: RunContext, bounds: Mapping[Any, Bound]) -> Outcome:
    """Mean prediction against mean target per quantile bin of the prediction, and the slope and intercept of the
    target regressed on the prediction (1 and 0 when calibrated)."""
    found = stats.regression_calibration(
        ctx.y_eval, ctx.pred_eval, ctx.spec.checks.evaluation.calibration_bins
    )
    target = ctx.spec.label.column
    png = plots.reliability_diagram(
        found["bins"],
        found["calibration_error"],
        ctx.evidence_path("reliability_diagram.png"),
        keys=("mean_predicted", "mean_observed"),
        axes=(f"mean predicted {target}", f"mean observed {target}"),
        title=f"Calibration by bin of the prediction — slope {found['slope']:.3f}, intercept {found['intercept']:.4g}",
    )
    values = {"calibration_error": found["calibration_error"], "calibration_slope": found["slope"]}
    outcome = gate(values, bounds)
    summary = (
        f"mean |predicted − observed| over {len(found['bins'])} bins {found['calibration_error']:.4g}; "
        f"slope {found['slope']:.3f}, intercept {found['intercept']:.4g}"
    )
    message = f"{outcome.message}; {summary}" if outcome.message else summary
    return Outcome(outcome.status, {**outcome.measured, **found}, outcome.threshold, message, [str(png)])


@check("evaluation.cross_validation", "evaluation", VALIDITY)
def cross_validation(ctx: RunContext) -> Outcome:
    from sklearn.base import clone
    from sklearn.model_selection import KFold, StratifiedKFold, cross_validate

    estimator = ctx.require_refit("cross-validation")
    train = ctx.require_train("cross-validation")
    assert ctx.spec.training is not None  # require_refit refuses a spec without a recipe
    folds, seed = ctx.spec.training.folds, ctx.spec.checks.evaluation.seed
    # a classifier refits on the label values themselves: its recipe may name them (class weights)
    target = train[ctx.spec.label.column] if ctx.task == "multiclass" else ctx.labels(train)
    if ctx.task == "regression":
        scoring = _regression_scorers(target, set(ctx.spec.checks.evaluation.thresholds))
        splitter: Any = KFold(folds, shuffle=True, random_state=seed)
    else:
        scoring = MULTICLASS_SCORERS if ctx.task == "multiclass" else CLASSIFICATION_SCORERS
        splitter = StratifiedKFold(folds, shuffle=True, random_state=seed)
    scores = cross_validate(clone(estimator), train[ctx.features], target, cv=splitter, scoring=scoring)
    per_metric = {}
    for name, scorer in scoring.items():
        values = scores[f"test_{name}"] * (-1 if scorer.startswith("neg_") else 1)
        per_metric[name] = {
            "mean": float(values.mean()),
            "std": float(values.std(ddof=1)),
            "folds": values.tolist(),
        }
    bounds = {
        k: v.model_copy(update={"apply_to": "point"})
        for k, v in ctx.spec.checks.evaluation.thresholds.items()
        if k in per_metric
    }
    outcome = gate({k: v["mean"] for k, v in per_metric.items()}, bounds)
    measured = {**outcome.measured, "folds": folds, "per_metric": per_metric}
    kind = "" if ctx.task == "regression" else "stratified "
    note = f"{folds}-fold {kind}CV of a fresh refit on the training data; thresholds on fold means: "
    return Outcome(outcome.status, measured, outcome.threshold, note + outcome.message)


CLASSIFICATION_SCORERS = {
    "accuracy": "accuracy",
    "precision": "precision",
    "recall": "recall",
    "f1": "f1",
    "roc_auc": "roc_auc",
    "pr_auc": "average_precision",
    "log_loss": "neg_log_loss",
    "brier": "neg_brier_score",
}
MULTICLASS_SCORERS = {
    "accuracy": "accuracy",
    "balanced_accuracy": "balanced_accuracy",
    "macro_f1": "f1_macro",
    "weighted_f1": "f1_weighted",
    "roc_auc_ovr": "roc_auc_ovr",
    "log_loss": "neg_log_loss",
}
# scikit-learn's scorer per regression metric, and what the training targets must be for it to be defined
REGRESSION_SCORERS = {
    "mae": ("neg_mean_absolute_error", None),
    "rmse": ("neg_root_mean_squared_error", None),
    "r2": ("r2", None),
    "median_ae": ("neg_median_absolute_error", None),
    "mape": ("neg_mean_absolute_percentage_error", "positive"),
    "poisson_deviance": ("neg_mean_poisson_deviance", "non-negative"),
    "gamma_deviance": ("neg_mean_gamma_deviance", "positive"),
}


def _regression_scorers(target: np.ndarray, judged: set[str]) -> dict[str, str]:
    """The always-reported errors plus every judged metric scikit-learn scores and the targets allow."""
    allowed = {None: True, "positive": bool((target > 0).all()), "non-negative": bool((target >= 0).all())}
    return {
        name: scorer
        for name, (scorer, needs) in REGRESSION_SCORERS.items()
        if (name in ("mae", "rmse", "r2") or name in judged) and allowed[needs]
    }


def _gap_check(
    ctx: RunContext, groups: dict[str, np.ndarray], limit: float, what: str, evidence: str
) -> Outcome:
    """Compare each group of rows with the whole evaluation set on the spec's slice metric."""
    policy = ctx.spec.checks.evaluation
    metric = policy.slice_metric
    regression = ctx.task == "regression"
    overall = estimates(ctx)[metric]
    table: dict[str, dict[str, Any]] = {}
    for name, mask in groups.items():
        rows = np.flatnonzero(mask)
        entry: dict[str, Any] = {"rows": int(len(rows))}
        if len(rows) >= policy.min_slice_rows and (
            ctx.task != "binary" or len(np.unique(ctx.y_eval[rows])) == 2
        ):
            found = estimates(ctx, rows, (metric,))[metric]
            # an error metric trails by its relative excess over the whole set; a score by its shortfall
            gap = (found.value - overall.value) / overall.value if regression else overall.value - found.value
            entry.update(found.to_dict(), gap=gap)
        else:
            entry["judged"] = False  # reported, never silently dropped
        table[name] = entry
    judged = {n: e for n, e in table.items() if "gap" in e}
    if not judged:
        sizes = {n: e["rows"] for n, e in table.items()}
        rows_of = "rows" if regression else "rows of both classes"
        return Outcome(
            Status.WARN, {"slices": table}, {}, f"no {what} has {policy.min_slice_rows}+ {rows_of}: {sizes}"
        )
    weakest = max(judged, key=lambda n: judged[n]["gap"])
    png = plots.interval_chart(
        [(f"{n} (n={e['rows']})", e["value"], e["ci_lower"], e["ci_upper"]) for n, e in judged.items()],
        ctx.evidence_path(evidence),
        title=f"{metric} per {what} vs all rows ({overall.value:.3f})",
        xlabel=metric,
        reference=overall.value,
    )
    measured = {
        f"max_{what}_gap": judged[weakest]["gap"],
        f"weakest_{what}": weakest,
        "metric": metric,
        "gap": "relative excess error" if regression else "shortfall from all rows",
        "overall": overall.to_dict(),
        "slices": table,
    }
    outcome = compare(measured, {f"max_{what}_gap": ("max", limit)})
    return Outcome(
        outcome.status,
        measured,
        outcome.threshold,
        f"weakest {what}: {weakest}; {outcome.message}",
        [str(png)],
    )


@check("evaluation.slices", "evaluation", VALIDITY)
def slices(ctx: RunContext) -> Outcome:
    policy = ctx.spec.checks.evaluation
    if not policy.slices:
        raise NotApplicable("the spec defines no evaluation slices")
    masks = {}
    for name, query in policy.slices.items():
        try:
            masks[name] = ctx.evaluation.eval(query).to_numpy(dtype=bool)
        except Exception as exc:
            raise InputError(
                "spec", f"slice query {query!r} failed: {exc}", field=f"checks.evaluation.slices.{name}"
            ) from exc
    return _gap_check(ctx, masks, policy.max_slice_gap, "slice", "slices.png")


def outside_training_range(ctx: RunContext, train: pd.DataFrame) -> tuple[np.ndarray, dict[str, int]]:
    """Evaluation rows with a numeric input beyond the central 99% of training or an unseen category."""
    outside = np.zeros(len(ctx.evaluation), dtype=bool)
    per_feature = {}
    for column in ctx.features:
        values = ctx.evaluation[column]
        if is_numeric_dtype(train[column]) and is_numeric_dtype(values):
            low, high = train[column].quantile(list(OOD_QUANTILES))
            beyond = ((values < low) | (values > high)).to_numpy()
        else:
            beyond = (~values.isin(set(train[column].dropna())) & values.notna()).to_numpy()
        per_feature[column] = int(beyond.sum())
        outside |= beyond
    return outside, per_feature


@check("evaluation.out_of_distribution", "evaluation", VALIDITY)
def out_of_distribution(ctx: RunContext) -> Outcome:
    train = ctx.require_train("the out-of-distribution check")
    if not ctx.features:
        raise NotApplicable(
            "the model's inputs are not declared (model.features), so 'outside range' is undefined"
        )
    outside, per_feature = outside_training_range(ctx, train)
    outcome = _gap_check(
        ctx,
        {"outside training range": outside, "inside training range": ~outside},
        ctx.spec.checks.evaluation.max_ood_gap,
        "region",
        "out_of_distribution.png",
    )
    measured = {
        **outcome.measured,
        "ood_rows": int(outside.sum()),
        "ood_rows_by_feature": per_feature,
        "definition": f"numeric beyond training quantiles {OOD_QUANTILES} or unseen category",
    }
    return Outcome(
        outcome.status,
        measured,
        outcome.threshold,
        f"{int(outside.sum())} rows outside the training range; {outcome.message}",
        outcome.evidence,
    )


@check("evaluation.latency", "evaluation", ("EU-AI-Act:Art15", "ISO-42001:A.6.2.6"))
def latency(ctx: RunContext) -> Outcome:
    estimator = ctx.require_model("latency measurement")
    policy = ctx.spec.checks.evaluation.latency or LatencyPolicy()
    found = timing.measure_latency(
        lambda frame: ctx.scores(frame, estimator),
        ctx.evaluation,
        batch_sizes=tuple(policy.batch_sizes),
        concurrency=policy.concurrency,
        min_calls=policy.min_calls,
        time_budget_s=policy.time_budget_seconds,
        seed=ctx.spec.checks.evaluation.seed,
    )
    batches = found["batches"]
    gated: dict[str, Any] = {
        f"p99_ms_batch_{size}": batches[str(size)]["p99_ms"] for size in policy.batch_sizes
    }
    limits = {f"p99_ms_batch_{size}": ("max", bound) for size, bound in policy.max_p99_ms.items()}
    gated["throughput_rows_per_s"] = batches[str(max(policy.batch_sizes))]["throughput_rows_per_s"]
    limits["throughput_rows_per_s"] = ("min", policy.min_throughput_rows_per_s)
    if policy.max_peak_rss_mb is not None:
        gated["peak_rss_mb"], limits["peak_rss_mb"] = found["peak_rss_mb"], ("max", policy.max_peak_rss_mb)
    outcome = compare(gated, limits)
    path = {"call_path": "http" if ctx.model.remote else "in-process", "flavour": ctx.model.flavour}
    return Outcome(outcome.status, {**gated, **found, **path}, outcome.threshold, outcome.message)


@check(
    "evaluation.champion_challenger",
    "evaluation",
    ("SR-11-7:benchmarking", "EU-AI-Act:Art15", "NIST-AI-RMF:MEASURE-2.13"),
)
def champion_challenger(ctx: RunContext) -> Outcome:
    ctx.require_model("a champion/challenger comparison")
    if ctx.model.registry is None:
        raise NotApplicable("the model is not in the MLflow registry, so it has no certified champion")
    name, version = ctx.model.registry
    champion_version = tracking.certified_version(None, name)
    if champion_version is None:
        raise NotApplicable(f"{name} has no certified version yet: this is its first certification")
    if champion_version == version:
        raise NotApplicable(f"the certified version of {name} is this candidate (version {version})")
    policy = ctx.spec.checks.evaluation
    champion = load_registered(f"models:/{name}/{champion_version}", output=Output.of(ctx.spec)).estimator
    metric = policy.champion.metric
    uses_scores = ctx.task == "multiclass" or metric not in {
        "accuracy",
        "f1",
    }  # argmax of a probability matrix
    old = ctx.scores(ctx.evaluation, champion) if uses_scores else ctx.predict(ctx.evaluation, champion)
    new = ctx.score_eval if uses_scores else ctx.pred_eval
    assert new is not None
    paired = stats.paired_bootstrap(
        ctx.y_eval,
        old,
        new,
        metric,
        resamples=policy.bootstrap_resamples,
        level=policy.confidence_level,
        seed=policy.seed,
    )
    if ctx.task == "regression":
        exact = stats.paired_absolute_errors(ctx.y_eval, old, ctx.pred_eval)
        test = f"Wilcoxon p(larger errors)={exact['p_value_worse']:.3g}"
    else:
        exact = stats.mcnemar(ctx.y_eval, ctx.predict(ctx.evaluation, champion), ctx.pred_eval)
        test = f"McNemar p={exact['p_value']:.3g}"
    p_worse = paired["p_value_worse"]  # direction-aware: losses (Brier, log loss) are worse when they grow
    worse = p_worse < policy.champion.alpha
    measured = {
        "champion_version": champion_version,
        "challenger_version": version,
        "metric": metric,
        "difference_challenger_minus_champion": paired,
        "significantly_worse": worse,
        "p_value_worse": p_worse,
        "paired_absolute_errors" if ctx.task == "regression" else "mcnemar": exact,
    }
    threshold = {
        "alpha": policy.champion.alpha,
        "require_not_significantly_worse": policy.champion.require_not_significantly_worse,
    }
    message = (
        f"{metric} change {paired['difference']:+.4f} [{paired['ci_lower']:+.4f}, {paired['ci_upper']:+.4f}] vs "
        f"certified v{champion_version}; one-sided p(worse)={p_worse:.3g}; {test}"
    )
    failed = worse and policy.champion.require_not_significantly_worse
    return Outcome(Status.FAIL if failed else Status.PASS, measured, threshold, message)


# in the order they run
CHECKS = (
    performance_metrics,
    calibration,
    cross_validation,
    slices,
    out_of_distribution,
    latency,
    champion_challenger,
)
