"""Fairness: fairlearn demographic-parity and equalized-odds differences over each protected attribute."""

from __future__ import annotations

from collections.abc import Callable

from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_difference,
    equalized_odds_difference,
    selection_rate,
    true_positive_rate,
)
from sklearn.metrics import confusion_matrix

from certification.checks.base import Outcome, check, compare
from certification.context import RunContext

NON_DISCRIMINATION = ("EU-AI-Act:Art10(2f)", "NIST-AI-RMF:MEASURE-2.11", "ISO-42001:A.7.4")


def false_positive_rate(y_true, y_pred) -> float:
    tn, fp, _, _ = confusion_matrix(y_true, y_pred, labels=[0, 1]).ravel()
    return float(fp / (fp + tn)) if fp + tn else float("nan")


def group_table(ctx: RunContext, attribute: str) -> dict[str, dict[str, float]]:
    frame = MetricFrame(
        metrics={
            "count": lambda t, p: float(len(t)),
            "selection_rate": selection_rate,
            "tpr": true_positive_rate,
            "fpr": false_positive_rate,
        },
        y_true=ctx.y_eval,
        y_pred=ctx.pred_eval,
        sensitive_features=ctx.evaluation[attribute].astype(str),
    )
    return {str(group): {k: float(v) for k, v in row.items()} for group, row in frame.by_group.iterrows()}


def _disparity_check(name: str, difference: Callable) -> None:
    @check(f"fairness.{name}", "fairness", NON_DISCRIMINATION)
    def body(ctx: RunContext) -> Outcome:
        per_attribute = {
            attribute: float(
                difference(
                    ctx.y_eval, ctx.pred_eval, sensitive_features=ctx.evaluation[attribute].astype(str)
                )
            )
            for attribute in ctx.spec.protected_attributes
        }
        worst = max(per_attribute, key=lambda a: per_attribute[a])
        measured = {
            f"max_{name}_difference": per_attribute[worst],
            "worst_attribute": worst,
            "by_attribute": per_attribute,
            "groups": {a: group_table(ctx, a) for a in ctx.spec.protected_attributes},
        }
        limit = getattr(ctx.spec.checks.fairness, f"max_{name}_difference")
        return compare(measured, {f"max_{name}_difference": ("max", limit)})


_disparity_check("demographic_parity", demographic_parity_difference)
_disparity_check("equalized_odds", equalized_odds_difference)
