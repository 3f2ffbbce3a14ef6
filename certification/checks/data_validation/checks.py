"""Data integrity: provenance, schema, quality (Evidently), label sanity, leakage and train/evaluation shift."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from certification.checks.base import Outcome, Status, check, compare
from certification.checks.data_validation import leakage, profiling
from certification.run.context import RunContext

DATA_GOVERNANCE = ("EU-AI-Act:Art10", "NIST-AI-RMF:MAP-2.3", "SR-11-7:data-quality")
PROVENANCE = ("EU-AI-Act:Art10(2)", "EU-AI-Act:Art12", "ISO-42001:A.7.5")
LEAKAGE = ("EU-AI-Act:Art10(3)", "NIST-AI-RMF:MEASURE-2.3", "SR-11-7:conceptual-soundness")


def _columns(ctx: RunContext) -> list[str]:
    return list(dict.fromkeys([*ctx.features, ctx.spec.label.column, *ctx.spec.protected_attributes]))


def _candidate_features(ctx: RunContext) -> list[str]:
    """Model inputs; in score-only mode without declared inputs, every column except label and outputs."""
    if ctx.features:
        return ctx.features
    predictions = ctx.spec.model.predictions
    outputs = predictions.columns if predictions else set()
    return [c for c in ctx.evaluation.columns if c != ctx.spec.label.column and c not in outputs]


def _sample(frame: pd.DataFrame, limit: int | None, seed: int = 0) -> pd.DataFrame:
    return frame if limit is None or len(frame) <= limit else frame.sample(limit, random_state=seed)


@check("data.provenance", "data_validation", PROVENANCE)
def provenance(ctx: RunContext) -> Outcome:
    measured = {name: dict(info) for name, info in ctx.datasets.items()}
    unsourced = [name for name, info in ctx.datasets.items() if not info["source"]]
    bound = "; ".join(f"{n} sha256 {i['sha256'][:12]}… ({i['rows']} rows)" for n, i in ctx.datasets.items())
    if unsourced:
        return Outcome(Status.WARN, measured, {}, f"{bound}; no source URI declared for {unsourced}")
    return Outcome(Status.PASS, measured, {}, bound)


@check("data.schema", "data_validation", DATA_GOVERNANCE)
def schema(ctx: RunContext) -> Outcome:
    """Train and evaluation columns agree in kind; every column of every data set goes into the data dictionary."""
    roles = {
        "model input": _candidate_features(ctx),
        "label": [ctx.spec.label.column],
        "protected attribute": ctx.spec.protected_attributes,
    }
    entries = profiling.dictionary(ctx.frames, roles)
    ctx.evidence_path(profiling.DICTIONARY).write_text(json.dumps(entries, indent=1))
    evidence = [str(ctx.evidence_path(profiling.DICTIONARY))]
    columns = _columns(ctx)
    train = ctx.require_train("the schema check")
    mismatched = {
        c: f"train {train[c].dtype} vs evaluation {ctx.evaluation[c].dtype}"
        for c in columns
        if train[c].dtype.kind != ctx.evaluation[c].dtype.kind
    }
    measured = {"columns": len(columns), "mismatched_dtypes": mismatched}
    if mismatched:
        return Outcome(
            Status.FAIL, measured, {"mismatched_dtypes": 0}, f"dtype mismatch: {mismatched}", evidence
        )
    return Outcome(Status.PASS, measured, {"mismatched_dtypes": 0}, f"{len(columns)} columns agree", evidence)


@check("data.quality", "data_validation", DATA_GOVERNANCE)
def quality(ctx: RunContext) -> Outcome:
    policy = ctx.spec.checks.data_validation
    measured: dict[str, Any] = {}
    evidence = []
    for name, frame in ctx.frames.items():  # whole rows: a duplicate is a record repeated in every column
        html = ctx.evidence_path(f"data_quality_{name}.html")
        profile = profiling.quality_profile(
            _sample(frame, policy.profile_sample),
            label=ctx.spec.label.column,
            almost_constant_share=policy.almost_constant_share,
            html_path=html,
            numeric_label=ctx.task == "regression",
        )
        evidence.append(str(html))
        worst = max(profile["per_column"].items(), key=lambda kv: kv[1]["missing_fraction"])
        measured[name] = {
            "rows_profiled": profile["rows"],
            "max_missing_fraction": worst[1]["missing_fraction"],
            "worst_missing_column": worst[0],
            "duplicate_fraction": profile["duplicated_fraction"],
            "constant_columns": profile["constant_columns"],
            "almost_constant_columns": profile["almost_constant_columns"],
            "per_column": profile["per_column"],
        }
    if ctx.train is not None:
        measured["unseen_categories"] = profiling.category_sets(
            ctx.train, ctx.evaluation, _candidate_features(ctx)
        )
    gated: dict[str, Any] = {}
    limits: dict[str, tuple[str, float]] = {}
    for name in ctx.frames:
        for key, value, limit in (
            ("max_missing_fraction", measured[name]["max_missing_fraction"], policy.max_missing_fraction),
            ("duplicate_fraction", measured[name]["duplicate_fraction"], policy.max_duplicate_fraction),
            ("constant_columns", len(measured[name]["constant_columns"]), policy.max_constant_columns),
        ):
            gated[f"{name}_{key}"], limits[f"{name}_{key}"] = value, ("max", float(limit))
    outcome = compare({**measured, **gated}, limits)
    almost = {n: m["almost_constant_columns"] for n, m in measured.items() if n in ctx.frames}
    status = outcome.status
    message = outcome.message
    if status is Status.PASS and any(almost.values()):
        status, message = Status.WARN, f"{message}; almost-constant columns {almost}"
    return Outcome(status, outcome.measured, outcome.threshold, message, evidence)


@check("data.label_sanity", "data_validation", DATA_GOVERNANCE)
def label_sanity(ctx: RunContext) -> Outcome:
    if ctx.task == "regression":
        return _target_sanity(ctx)
    policy, label = ctx.spec.checks.data_validation, ctx.spec.label
    multiclass = ctx.task == "multiclass"
    measured: dict[str, Any] = {}
    problems = []
    for name, frame in ctx.frames.items():
        values = frame[label.column]
        counts = {str(k): int(v) for k, v in values.value_counts(dropna=False).items()}
        declared = label.values if label.values is not None else None
        unexpected = (
            sorted({str(v) for v in values.dropna().unique()} - {str(v) for v in declared})
            if declared is not None
            else ([] if values.nunique() <= 2 else sorted(counts)[2:])
        )
        positives = int((values == label.positive).sum())
        # the classes the model tells apart: the declared ones, or the positive class against the rest
        sizes = (
            {str(c): int((values == c).sum()) for c in ctx.classes}
            if multiclass
            else {"positive": positives, "negative": int(values.notna().sum()) - positives}
        )
        minority, total = min(sizes.values()), sum(sizes.values())
        measured[name] = {
            "class_counts": counts,
            "missing_labels": int(values.isna().sum()),
            "unexpected_labels": unexpected,
            "min_class_count": minority,
            "minority_share": minority / max(total, 1),
        }
        if multiclass:
            measured[name] |= {
                "absent_classes": [c for c, n in sizes.items() if n == 0],
                "smallest_class": min(sizes, key=lambda c: sizes[c]),
                "class_shares": {c: n / max(total, 1) for c, n in sizes.items()},
                "imbalance_ratio": max(sizes.values()) / minority if minority else None,
            }
            if measured[name]["absent_classes"]:
                problems.append(f"{name}: declared classes without rows: {measured[name]['absent_classes']}")
        else:
            measured[name]["positive_share"] = positives / max(len(values), 1)
        if unexpected:
            problems.append(f"{name}: labels outside the declared set: {unexpected}")
        if measured[name]["missing_labels"]:
            problems.append(f"{name}: {measured[name]['missing_labels']} rows without a label")
        if minority < policy.min_class_count:
            problems.append(f"{name}: smallest class has {minority} rows (< {policy.min_class_count})")
        if measured[name]["minority_share"] < policy.min_minority_share:
            problems.append(f"{name}: minority share {measured[name]['minority_share']:.4f} too small")
    threshold = {"min_class_count": policy.min_class_count, "min_minority_share": policy.min_minority_share}
    if problems:
        return Outcome(Status.FAIL, measured, threshold, "; ".join(problems))
    if multiclass:
        shares = ", ".join(
            f"{n} smallest class {m['smallest_class']!r} {m['minority_share']:.1%}"
            for n, m in measured.items()
        )
        return Outcome(
            Status.PASS, measured, threshold, f"{len(ctx.classes)} declared classes present; {shares}"
        )
    shares = ", ".join(f"{n} {m['positive_share']:.1%} positive" for n, m in measured.items())
    return Outcome(Status.PASS, measured, threshold, f"binary labels as declared; {shares}")


FAR_OUT = 3.0  # Tukey's far-out fences: beyond this many interquartile ranges from the quartiles


def _target_sanity(ctx: RunContext) -> Outcome:
    """A regression target: present, finite, inside the declared range, and how heavy its tails are."""
    policy, label = ctx.spec.checks.data_validation, ctx.spec.label
    measured: dict[str, Any] = {}
    problems, heavy = [], []
    for name, frame in ctx.frames.items():
        values = pd.to_numeric(frame[label.column], errors="coerce")
        finite = values[np.isfinite(values)]
        q1, median, q3 = finite.quantile([0.25, 0.5, 0.75]) if len(finite) else (np.nan,) * 3
        spread = q3 - q1
        far_out = int(((finite < q1 - FAR_OUT * spread) | (finite > q3 + FAR_OUT * spread)).sum())
        outside = 0 if label.range is None else int((~finite.between(*label.range)).sum())
        measured[name] = {
            "rows": len(values),
            "missing_targets": int(values.isna().sum()),
            "non_finite_targets": int(values.notna().sum() - len(finite)),
            "outside_declared_range": outside,
            "declared_range": label.range,
            "min": float(finite.min()),
            "quartiles": [float(q1), float(median), float(q3)],
            "max": float(finite.max()),
            "mean": float(finite.mean()),
            "std": float(finite.std()),
            "skewness": float(finite.skew()),
            "excess_kurtosis": float(finite.kurt()),
            "far_out_share": far_out / max(len(finite), 1),
        }
        for key, what in (
            ("missing_targets", "rows without a target"),
            ("non_finite_targets", "non-finite targets"),
            ("outside_declared_range", f"targets outside the declared range {label.range}"),
        ):
            if measured[name][key]:
                problems.append(f"{name}: {measured[name][key]} {what}")
        share = measured[name]["far_out_share"]
        if policy.max_target_outlier_share is not None and share > policy.max_target_outlier_share:
            problems.append(f"{name}: {share:.2%} of targets beyond the far-out fences")
        elif share > 0.01:
            heavy.append(
                f"{name}: {share:.2%} beyond the far-out fences, excess kurtosis {finite.kurt():.1f}"
            )
    threshold = {"max_target_outlier_share": policy.max_target_outlier_share, "declared_range": label.range}
    if problems:
        return Outcome(Status.FAIL, measured, threshold, "; ".join(problems))
    summary = ", ".join(f"{n} median {m['quartiles'][1]:.4g}" for n, m in measured.items())
    if heavy:
        return Outcome(
            Status.WARN, measured, threshold, f"heavy-tailed target ({'; '.join(heavy)}); {summary}"
        )
    return Outcome(Status.PASS, measured, threshold, f"numeric targets, present and finite; {summary}")


@check("data.leakage_shared_rows", "data_validation", LEAKAGE)
def shared_rows(ctx: RunContext) -> Outcome:
    train = ctx.require_train("the train/evaluation overlap check")
    found = leakage.shared_rows(train, ctx.evaluation, _columns(ctx))
    measured = {
        "exact_overlap_fraction": found["exact"]["fraction"],
        "normalised_overlap_fraction": found["normalised"]["fraction"],
        **found,
    }
    limit = ctx.spec.checks.data_validation.max_overlap_fraction
    return compare(
        measured, {"exact_overlap_fraction": ("max", limit), "normalised_overlap_fraction": ("max", limit)}
    )


@check("data.leakage_single_feature", "data_validation", LEAKAGE)
def single_feature(ctx: RunContext) -> Outcome:
    frame = ctx.train if ctx.train is not None else ctx.evaluation
    found = leakage.single_feature_predictiveness(
        frame,
        ctx.labels(frame),
        _candidate_features(ctx),
        task=ctx.task,
        seed=ctx.spec.checks.evaluation.seed,
    )
    policy = ctx.spec.checks.data_validation
    limit = policy.max_single_feature_r2 if ctx.task == "regression" else policy.max_single_feature_auc
    key = f"max_single_feature_{found['measure']}"
    measured = {key: found["max_value"], **found}
    outcome = compare(measured, {key: ("max", limit)})
    return Outcome(
        outcome.status, measured, outcome.threshold, f"{outcome.message}; strongest: {found['worst_feature']}"
    )


@check("data.identifier_features", "data_validation", LEAKAGE)
def identifier_features(ctx: RunContext) -> Outcome:
    allowed = set(ctx.spec.checks.data_validation.identifier_features_allowed)
    found = leakage.identifier_columns(ctx.evaluation, list(ctx.evaluation.columns))["columns"]
    used = {c: reason for c, reason in found.items() if c in ctx.features and c not in allowed}
    measured = {"identifier_like_columns": found, "used_as_features": used, "allowed": sorted(allowed)}
    threshold = {"max_identifier_features": 0}
    if used:
        return Outcome(Status.FAIL, measured, threshold, f"identifier-like model inputs: {used}")
    if not ctx.features:
        message = "model inputs unknown (score-only); identifier-like columns in the table: "
        return Outcome(
            Status.WARN if found else Status.PASS, measured, threshold, message + str(sorted(found))
        )
    return Outcome(
        Status.PASS, measured, threshold, f"no identifier-like input; in data only: {sorted(found)}"
    )


@check("data.distribution_shift", "data_validation", DATA_GOVERNANCE)
def distribution_shift(ctx: RunContext) -> Outcome:
    policy = ctx.spec.checks.data_validation
    train = ctx.require_train("the train/evaluation shift summary")
    html = ctx.evidence_path("train_vs_evaluation_drift.html")
    found = profiling.shift_summary(
        train,
        ctx.evaluation,
        columns=_candidate_features(ctx),
        html_path=html,
        threshold=policy.drift_threshold,
        sample=policy.profile_sample,
    )
    measured = {"drifted_share": found["drifted_share"], **found}
    outcome = compare(measured, {"drifted_share": ("max", policy.max_drifted_share)})
    top = ", ".join(f"{r['column']} {r['score']:.3f} ({r['method']})" for r in found["ranking"][:3])
    return Outcome(
        outcome.status, measured, outcome.threshold, f"{outcome.message}; largest shifts: {top}", [str(html)]
    )


# in the order they run
CHECKS = (
    provenance,
    schema,
    quality,
    label_sanity,
    shared_rows,
    single_feature,
    identifier_features,
    distribution_shift,
)
