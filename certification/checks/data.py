"""Data validation: schema and dtypes, missing values, duplicates, and train/evaluation row overlap."""

from __future__ import annotations

import pandas as pd

from certification.checks.base import Outcome, Status, check, compare
from certification.context import RunContext

DATA_GOVERNANCE = ("EU-AI-Act:Art10", "NIST-AI-RMF:MAP-2.3", "SR-11-7:data-quality")


def _columns(ctx: RunContext) -> list[str]:
    return list(dict.fromkeys([*ctx.features, ctx.spec.label.column, *ctx.spec.protected_attributes]))


@check("data.schema", "data_validation", DATA_GOVERNANCE)
def schema(ctx: RunContext) -> Outcome:
    columns = _columns(ctx)
    train, evaluation = ctx.train[columns].dtypes, ctx.evaluation[columns].dtypes
    mismatched = {
        c: f"train {train[c]} vs evaluation {evaluation[c]}"
        for c in columns
        if train[c].kind != evaluation[c].kind
    }
    measured = {
        "columns": len(columns),
        "dtypes": {c: str(train[c]) for c in columns},
        "mismatched_dtypes": mismatched,
    }
    if mismatched:
        return Outcome(Status.FAIL, measured, {"mismatched_dtypes": 0}, f"dtype mismatch: {mismatched}")
    return Outcome(Status.PASS, measured, {"mismatched_dtypes": 0}, f"{len(columns)} columns agree")


@check("data.missing_values", "data_validation", DATA_GOVERNANCE)
def missing_values(ctx: RunContext) -> Outcome:
    columns = _columns(ctx)
    per_column = pd.concat([ctx.train[columns], ctx.evaluation[columns]]).isna().mean()
    measured = {
        "max_missing_fraction": float(per_column.max()),
        "worst_column": str(per_column.idxmax()),
        "label_missing": int(ctx.evaluation[ctx.spec.label.column].isna().sum()),
    }
    return compare(
        measured, {"max_missing_fraction": ("max", ctx.spec.checks.data_validation.max_missing_fraction)}
    )


@check("data.duplicates", "data_validation", DATA_GOVERNANCE)
def duplicates(ctx: RunContext) -> Outcome:
    columns = _columns(ctx)
    measured = {
        f"{name}_duplicate_fraction": float(frame[columns].duplicated().mean())
        for name, frame in (("train", ctx.train), ("evaluation", ctx.evaluation))
    }
    limit = ctx.spec.checks.data_validation.max_duplicate_fraction
    return compare(measured, {name: ("max", limit) for name in measured})


@check("data.train_eval_overlap", "data_validation", DATA_GOVERNANCE)
def train_eval_overlap(ctx: RunContext) -> Outcome:
    columns = _columns(ctx)
    train_rows = pd.util.hash_pandas_object(ctx.train[columns], index=False)
    eval_rows = pd.util.hash_pandas_object(ctx.evaluation[columns], index=False)
    shared = eval_rows.isin(set(train_rows))
    measured = {"overlap_fraction": float(shared.mean()), "overlapping_rows": int(shared.sum())}
    return compare(
        measured, {"overlap_fraction": ("max", ctx.spec.checks.data_validation.max_overlap_fraction)}
    )
