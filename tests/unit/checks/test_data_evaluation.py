"""Data-integrity and evaluation checks on real Adult data: every number against pandas, scikit-learn or scipy,
and every leakage detector on data with a planted leak and without one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    f1_score,
    log_loss,
    precision_score,
    recall_score,
    roc_auc_score,
)
from sklearn.model_selection import StratifiedKFold, cross_val_score

from certification.checks import Status
from certification.hashing import file_sha256
from certification.models import LoadedModel
from certification.run.context import RunContext
from tests.conftest import adult_ctx  # noqa: F401 - fixture
from tests.helpers import run_check, with_frames

ctx = adult_ctx


class _Inputs:
    """A stand-in model that only declares its inputs (for checks that read the feature list, not predictions)."""

    def __init__(self, names: list[str]) -> None:
        self.feature_names_in_ = np.array(names)


def _declaring(ctx: RunContext, names: list[str], **frames: pd.DataFrame) -> RunContext:
    return with_frames(ctx, model=LoadedModel(_Inputs(names), "in-memory", "0" * 64), **frames)


def test_provenance_binds_every_dataset(ctx: RunContext) -> None:
    result = run_check(ctx, "data.provenance")
    assert result.status is Status.PASS
    for name, frame in (("train", ctx.train), ("evaluation", ctx.evaluation)):
        info = result.measured[name]
        assert info["sha256"] == file_sha256(Path(info["path"]))
        assert (info["rows"], info["columns"]) == frame.shape
        assert info["schema"] == {c: str(t) for c, t in frame.dtypes.items()}
        assert info["source"].startswith("https://archive.ics.uci.edu")


def test_quality_numbers_match_pandas(ctx: RunContext) -> None:
    result = run_check(ctx, "data.quality")
    assert result.status in {Status.PASS, Status.WARN}, result.message
    for name, frame in (("train", ctx.train), ("evaluation", ctx.evaluation)):
        measured = result.measured[name]
        assert measured["max_missing_fraction"] == pytest.approx(frame.isna().mean().max(), abs=1e-9)
        assert measured["worst_missing_column"] == "occupation"
        assert measured["duplicate_fraction"] == pytest.approx(frame.duplicated().mean(), abs=1e-9)
    assert all(path.endswith(".html") for path in result.evidence)

    holes = ctx.evaluation.copy()
    holes.loc[holes.sample(frac=0.2, random_state=0).index, "hours_per_week"] = np.nan
    failed = run_check(with_frames(ctx, evaluation=holes), "data.quality")
    assert failed.status is Status.FAIL and "evaluation_max_missing_fraction" in failed.message


def test_label_sanity_finds_undeclared_labels(ctx: RunContext) -> None:
    result = run_check(ctx, "data.label_sanity")
    assert result.status is Status.PASS
    counts = ctx.evaluation["income"].value_counts()
    assert result.measured["evaluation"]["min_class_count"] == counts.min()
    odd = ctx.evaluation.copy()
    odd.loc[:9, "income"] = "unknown"
    failed = run_check(with_frames(ctx, evaluation=odd), "data.label_sanity")
    assert failed.status is Status.FAIL and "unknown" in failed.message


def test_shared_rows_exact_and_normalised(ctx: RunContext) -> None:
    assert ctx.train is not None
    clean = run_check(ctx, "data.leakage_shared_rows")
    assert clean.status is Status.PASS
    columns = list(dict.fromkeys([*ctx.features, "income", "sex", "race"]))
    merged = ctx.evaluation[columns].merge(ctx.train[columns].drop_duplicates(), how="left", indicator=True)
    assert clean.measured["exact"]["rows"] == int((merged["_merge"] == "both").sum())

    copied = ctx.train.drop_duplicates().sample(400, random_state=1)
    disguised = copied.assign(workclass=copied["workclass"].str.upper() + "  ")
    leaked = with_frames(ctx, evaluation=pd.concat([ctx.evaluation, copied, disguised], ignore_index=True))
    result = run_check(leaked, "data.leakage_shared_rows")
    assert result.status is Status.FAIL
    baseline = clean.measured["exact"]["rows"]
    assert result.measured["exact"]["rows"] >= baseline + 400
    assert result.measured["normalised"]["rows"] >= baseline + 800


def test_single_feature_leak_is_planted_and_found(ctx: RunContext) -> None:
    assert ctx.train is not None
    clean = run_check(ctx, "data.leakage_single_feature")
    assert clean.status is Status.PASS and clean.measured["max_single_feature_auc"] < 0.9
    y = ctx.labels(ctx.train)
    auc = roc_auc_score(y, ctx.train["age"])
    assert clean.measured["per_feature"]["age"] == pytest.approx(max(auc, 1 - auc), abs=1e-9)

    rng = np.random.default_rng(0)
    train = ctx.train.assign(outcome_code=np.where(rng.random(len(y)) < 0.02, 1 - y, y))
    leaked = _declaring(ctx, [*ctx.features, "outcome_code"], train=train)
    result = run_check(leaked, "data.leakage_single_feature")
    assert result.status is Status.FAIL and result.measured["worst_feature"] == "outcome_code"


def test_identifier_features(ctx: RunContext) -> None:
    assert run_check(ctx, "data.identifier_features").status is Status.PASS
    evaluation = ctx.evaluation.assign(applicant_id=np.arange(len(ctx.evaluation)) + 100_000)
    result = run_check(
        _declaring(ctx, [*ctx.features, "applicant_id"], evaluation=evaluation), "data.identifier_features"
    )
    assert result.status is Status.FAIL and "applicant_id" in result.measured["used_as_features"]


def test_distribution_shift_summary(ctx: RunContext) -> None:
    clean = run_check(ctx, "data.distribution_shift")
    assert clean.status is Status.PASS, clean.message
    assert clean.measured["drifted_columns"] == []
    shifted = ctx.evaluation.assign(age=ctx.evaluation["age"] + 20)
    result = run_check(with_frames(ctx, evaluation=shifted), "data.distribution_shift")
    assert "age" in result.measured["drifted_columns"]


def test_metrics_and_intervals_match_scikit_learn(ctx: RunContext) -> None:
    result = run_check(ctx, "evaluation.performance")
    y, score, pred = ctx.y_eval, ctx.score_eval, ctx.pred_eval
    expected = {
        "accuracy": accuracy_score(y, pred),
        "precision": precision_score(y, pred),
        "recall": recall_score(y, pred),
        "f1": f1_score(y, pred),
        "roc_auc": roc_auc_score(y, score),
        "pr_auc": average_precision_score(y, score),
        "log_loss": log_loss(y, score),
        "brier": brier_score_loss(y, score),
    }
    estimates = result.measured["estimates"]
    for name, value in expected.items():
        assert estimates[name]["value"] == pytest.approx(value, abs=1e-12)
        assert estimates[name]["ci_lower"] <= value <= estimates[name]["ci_upper"]
    assert pred.tolist() == (ctx.model.estimator.predict(ctx.evaluation[ctx.features]) == ">50K").tolist()


def test_thresholds_can_apply_to_the_confidence_bound(ctx: RunContext) -> None:
    accuracy = run_check(ctx, "evaluation.performance").measured["estimates"]["accuracy"]
    just_below = accuracy["value"] - 0.001
    for apply_to, status in (("point", Status.PASS), ("ci_bound", Status.FAIL)):
        policy = ctx.spec.checks.evaluation
        bound = policy.thresholds["accuracy"].model_copy(update={"min": just_below, "apply_to": apply_to})
        spec = ctx.spec.model_copy(
            update={
                "checks": ctx.spec.checks.model_copy(
                    update={"evaluation": policy.model_copy(update={"thresholds": {"accuracy": bound}})}
                )
            }
        )
        assert run_check(with_frames(ctx, spec=spec), "evaluation.performance").status is status


def test_calibration_error_and_reliability_diagram(ctx: RunContext) -> None:
    result = run_check(ctx, "evaluation.calibration")
    assert ctx.score_eval is not None
    bins = np.minimum((ctx.score_eval * 10).astype(int), 9)
    ece = sum(
        (bins == b).mean() * abs(ctx.y_eval[bins == b].mean() - ctx.score_eval[bins == b].mean())
        for b in np.unique(bins)
    )
    assert result.measured["ece"] == pytest.approx(ece, abs=1e-12)
    png = result.evidence[0]
    assert png.endswith(".png") and Path(png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cross_validation_refits_like_scikit_learn(ctx: RunContext) -> None:
    assert ctx.train is not None and ctx.spec.training is not None
    result = run_check(ctx, "evaluation.cross_validation")
    folds = StratifiedKFold(
        ctx.spec.training.folds, shuffle=True, random_state=ctx.spec.checks.evaluation.seed
    )
    expected = cross_val_score(
        clone(ctx.model.estimator),
        ctx.train[ctx.features],
        ctx.labels(ctx.train),
        cv=folds,
        scoring="roc_auc",
    )
    assert result.measured["per_metric"]["roc_auc"]["folds"] == pytest.approx(expected.tolist(), abs=1e-12)
    assert result.status is Status.PASS, result.message
    without = with_frames(ctx, spec=ctx.spec.model_copy(update={"training": None}))
    assert run_check(without, "evaluation.cross_validation").status is Status.NOT_APPLICABLE


def test_slices_report_the_weakest(ctx: RunContext) -> None:
    result = run_check(ctx, "evaluation.slices")
    overall = accuracy_score(ctx.y_eval, ctx.pred_eval)
    gaps = {}
    for name, query in ctx.spec.checks.evaluation.slices.items():
        rows = ctx.evaluation.eval(query).to_numpy()
        value = accuracy_score(ctx.y_eval[rows], ctx.pred_eval[rows])
        assert result.measured["slices"][name]["value"] == pytest.approx(value, abs=1e-12)
        gaps[name] = overall - value
    assert result.measured["weakest_slice"] == max(gaps, key=lambda n: gaps[n])
    broken = ctx.spec.checks.evaluation.model_copy(update={"slices": {"bad": "no_such_column > 1"}})
    spec = ctx.spec.model_copy(update={"checks": ctx.spec.checks.model_copy(update={"evaluation": broken})})
    error = run_check(with_frames(ctx, spec=spec), "evaluation.slices")
    assert error.status is Status.ERROR and "checks.evaluation.slices.bad" in error.message


def test_out_of_distribution_rows_are_counted(ctx: RunContext) -> None:
    assert ctx.train is not None
    result = run_check(ctx, "evaluation.out_of_distribution")
    outside = np.zeros(len(ctx.evaluation), dtype=bool)
    for column in ctx.features:
        values, reference = ctx.evaluation[column], ctx.train[column]
        if pd.api.types.is_numeric_dtype(reference):
            low, high = reference.quantile([0.005, 0.995])
            outside |= ((values < low) | (values > high)).to_numpy()
        else:
            outside |= (values.notna() & ~values.isin(reference.dropna().unique())).to_numpy()
    assert result.measured["ood_rows"] == int(outside.sum()) > 0
    assert result.status in {Status.PASS, Status.FAIL, Status.WARN}


def test_latency_is_measured_per_batch_size(ctx: RunContext) -> None:
    result = run_check(ctx, "evaluation.latency")
    assert result.status is Status.PASS, result.message
    assert result.measured["p99_ms_batch_1"] > 0 and result.measured["throughput_rows_per_s"] > 0


def test_champion_challenger_needs_a_registry(ctx: RunContext) -> None:
    result = run_check(ctx, "evaluation.champion_challenger")
    assert result.status is Status.NOT_APPLICABLE and "registry" in result.message
