"""Evaluation: accuracy, ROC AUC and F1 on the held-out evaluation set."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

from certification.checks.base import Outcome, check, compare
from certification.context import RunContext

ACCURACY = ("EU-AI-Act:Art15", "NIST-AI-RMF:MEASURE-2.3", "SR-11-7:outcomes-analysis")


def _metric_check(name: str, metric: Callable[[RunContext], float]) -> None:
    @check(f"evaluation.{name}", "evaluation", ACCURACY)
    def body(ctx: RunContext) -> Outcome:
        measured = {
            name: float(metric(ctx)),
            "rows": len(ctx.y_eval),
            "positive_rate": float(np.mean(ctx.y_eval)),
        }
        return compare(measured, {name: ("min", getattr(ctx.spec.checks.evaluation, f"min_{name}"))})


_metric_check("accuracy", lambda ctx: accuracy_score(ctx.y_eval, ctx.pred_eval))
_metric_check("roc_auc", lambda ctx: roc_auc_score(ctx.y_eval, ctx.score_eval))
_metric_check("f1", lambda ctx: f1_score(ctx.y_eval, ctx.pred_eval))
