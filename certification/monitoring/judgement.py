"""Judging a window's comparison with the baseline against the spec's monitoring policy: which thresholds it breaks,
in sentences naming the measure and the limit, and the root-cause summary (inputs that moved most, groups that
changed most, whether the label/score relationship held)."""

from __future__ import annotations

import math
from typing import Any

from certification.spec import MonitoringPolicy

GROUP_METRICS = ("selection_rate", "tpr", "fpr", "accuracy")
REGRESSION_GROUP_METRICS = ("mean_prediction", "mae")


def _task(comparison: dict[str, Any]) -> str:
    """The task of the model a window comparison judges (profile.compare names it unless the model is binary)."""
    return str(comparison.get("task", "binary"))


def _metrics(comparison: dict[str, Any]) -> tuple[str, ...]:
    if _task(comparison) == "multiclass":  # accuracy and the share predicted in each class
        return ("accuracy", *(f"predicted {c}" for c in comparison["classes"]))
    return REGRESSION_GROUP_METRICS if _task(comparison) == "regression" else GROUP_METRICS


def _scale(comparison: dict[str, Any]) -> float:
    """What a gap is measured in: rate points for a classifier, the certified MAE for a regressor (so that one
    fraction, max_fairness_gap_increase, reads the same for a wage and for a claim amount)."""
    return comparison["baseline_performance"]["mae"]["value"] if _task(comparison) == "regression" else 1.0


def group_rates(comparison: dict[str, Any], min_rows: int) -> list[dict[str, Any]]:
    """Each group metric known on both sides for groups with at least `min_rows` labelled rows on both sides."""
    return [
        {
            "attribute": attribute,
            "group": group,
            "metric": metric,
            "baseline": g["baseline"][metric]["value"],
            "window": g["window"][metric]["value"],
        }
        for attribute, groups in comparison["groups"].items()
        for group, g in groups.items()
        if min(g["baseline"]["rows"], g["window"]["rows"]) >= min_rows
        for metric in _metrics(comparison)
        if all(math.isfinite(g[side][metric]["value"]) for side in ("baseline", "window"))
    ]


def fairness_gaps(comparison: dict[str, Any], min_rows: int) -> list[dict[str, Any]]:
    """Per protected attribute and group metric: the spread between comparable groups, certified against live."""
    rates, scale = group_rates(comparison, min_rows), _scale(comparison)
    gaps = []
    for attribute in comparison["groups"]:
        for metric in _metrics(comparison):
            pairs = {
                r["group"]: (r["baseline"], r["window"])
                for r in rates
                if (r["attribute"], r["metric"]) == (attribute, metric)
            }
            if len(pairs) < 2:
                continue
            before, after = ([v[i] for v in pairs.values()] for i in (0, 1))
            gaps.append(
                {
                    "attribute": attribute,
                    "metric": metric,
                    "baseline_gap": max(before) - min(before),
                    "window_gap": max(after) - min(after),
                    "increase": ((max(after) - min(after)) - (max(before) - min(before))) / scale,
                    "most_changed": max(pairs, key=lambda g: abs(pairs[g][1] - pairs[g][0])),
                }
            )
    return gaps


def judge(comparison: dict[str, Any], drift: dict[str, Any] | None, policy: MonitoringPolicy) -> list[str]:
    """Every threshold of the policy the window breaks, as sentences naming the measure and the limit."""
    breaches = [
        f"data drift: {column} PSI {f['psi']:.3f} > {policy.max_feature_psi}"
        for column, f in comparison["features"].items()
        if f["psi"] > policy.max_feature_psi
    ]
    if drift is not None and (drift["drifted_share"] or 0.0) > policy.max_drift_share:
        breaches.append(
            f"data drift: Evidently finds {len(drift['drifted_columns'])} inputs drifted "
            f"({drift['drifted_share']:.0%} > {policy.max_drift_share:.0%}; {drift['sampled_rows']} sampled rows)"
        )
    score_psi = comparison["prediction"]["score_psi"]
    if score_psi > policy.max_score_psi:
        breaches.append(f"prediction drift: score PSI {score_psi:.3f} > {policy.max_score_psi}")
    live, certified = comparison["performance"], comparison["baseline_performance"]
    if live["rows"] >= policy.min_labelled_rows:
        breaches += _performance(live, certified, policy, _task(comparison))
    unit = " of the certified MAE" if _task(comparison) == "regression" else ""
    breaches += [
        f"fairness: {g['attribute']} {g['metric']} gap {g['window_gap']:.4g} vs {g['baseline_gap']:.4g} certified "
        f"(+{g['increase']:.3f}{unit} > {policy.max_fairness_gap_increase}; most changed: {g['most_changed']})"
        for g in fairness_gaps(comparison, policy.min_group_rows)
        if g["increase"] > policy.max_fairness_gap_increase
    ]
    return breaches


def _performance(
    live: dict[str, Any], certified: dict[str, Any], policy: MonitoringPolicy, task: str
) -> list[str]:
    """A classifier's accuracy drop (a multiclass one's macro F1 drop too), or a regressor's growth of the mean
    absolute error, beyond the policy."""
    limits = {
        "binary": {"accuracy": policy.max_accuracy_drop},
        "multiclass": {"accuracy": policy.max_accuracy_drop, "macro_f1": policy.max_macro_f1_drop},
        "regression": {"mae": policy.max_error_increase},
    }[task]
    found = []
    for name, limit in limits.items():
        now, then = live[name], certified[name]
        growth = name == "mae"
        change = (now["value"] - then["value"]) / then["value"] if growth else then["value"] - now["value"]
        if not change > limit:
            continue
        interval = f" [{now['ci_lower']:.4g}, {now['ci_upper']:.4g}]" if "ci_lower" in now else ""
        what = f"growth {change:.1%}" if growth else f"drop {change:.3f}"
        found.append(
            f"performance: {name} {now['value']:.4g}{interval} on {live['rows']} labelled rows vs "
            f"{then['value']:.4g} certified ({what} > {limit:g})"
        )
    return found


def _prediction_text(comparison: dict[str, Any]) -> str:
    prediction, task = comparison["prediction"], _task(comparison)
    if task == "regression":
        return (
            f"Predictions: PSI {prediction['score_psi']:.3f}; mean {prediction['mean_prediction']:.4g} vs "
            f"{prediction['baseline_mean_prediction']:.4g} certified."
        )
    if task == "multiclass":
        shares = ", ".join(
            f"{c} {prediction['class_shares'][c]:.1%} (certified {prediction['baseline_class_shares'][c]:.1%})"
            for c in comparison["classes"]
        )
        return f"Predicted classes: PSI {prediction['score_psi']:.3f}; {shares}."
    return (
        f"Scores: PSI {prediction['score_psi']:.3f}; positive rate {prediction['positive_rate']['value']:.3f} vs "
        f"{prediction['baseline_positive_rate']:.3f} certified."
    )


def root_cause(
    comparison: dict[str, Any], drift: dict[str, Any] | None, policy: MonitoringPolicy
) -> dict[str, Any]:
    """Which inputs moved most, which groups degraded most, and whether the label/score relationship changed."""
    drifted = set(drift["drifted_columns"]) if drift else set()
    features = [
        {"feature": c, "psi": comparison["features"][c]["psi"], "evidently_drifted": c in drifted}
        for c in comparison["most_drifted"][:3]
    ]
    changes = group_rates(comparison, policy.min_group_rows)
    groups = sorted(changes, key=lambda c: -abs(c["window"] - c["baseline"]))[:3]
    shift = comparison["label_score"]["shift"]
    relationship = {
        **comparison["label_score"],
        "changed": None if shift is None else shift > policy.max_calibration_shift,
    }
    prediction = comparison["prediction"]
    measure = "mae" if _task(comparison) == "regression" else "accuracy"
    accuracy = comparison["performance"][measure]["value"]
    gaps = fairness_gaps(comparison, policy.min_group_rows)
    text = [
        "Inputs that moved most: "
        + ", ".join(
            f"{f['feature']} (PSI {f['psi']:.3f}{', Evidently: drifted' if f['evidently_drifted'] else ''})"
            for f in features
        )
        + ".",
        _prediction_text(comparison),
    ]
    if math.isfinite(accuracy):
        text.append(
            f"{'MAE' if measure == 'mae' else 'Accuracy'} on {comparison['labelled_rows']} labelled rows "
            f"{accuracy:.4g} vs {comparison['baseline_performance'][measure]['value']:.4g} certified."
        )
    if groups:
        text.append(
            "Groups that changed most: "
            + "; ".join(
                f"{c['attribute']}={c['group']} {c['metric']} {c['baseline']:.4g} → {c['window']:.4g}"
                for c in groups
            )
            + "."
        )
    text.append(
        "Label/score relationship: "
        + (
            "not measured (too few labelled rows per score bin)"
            if shift is None
            else f"{'changed' if relationship['changed'] else 'unchanged'} (label rate at equal scores moved by "
            f"{shift:.3f} on average)."
        )
    )
    return {
        "text": " ".join(text),
        "drifted_features": features,
        "feature_psi": {c: f["psi"] for c, f in comparison["features"].items()},
        "score_psi": prediction["score_psi"],
        "evidently": None
        if drift is None
        else {k: drift[k] for k in ("drifted_columns", "drifted_share", "sampled_rows", "window_rows")},
        measure: accuracy if math.isfinite(accuracy) else None,
        f"baseline_{measure}": comparison["baseline_performance"][measure]["value"],
        "max_gap_increase": max((g["increase"] for g in gaps), default=None),
        "degraded_groups": groups,
        "label_score": relationship,
    }
