"""Checks: fail closed on exceptions, and every reported number matches an independent implementation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from certification.checks import Status
from certification.checks.base import Check, compare
from certification.run.context import RunContext
from tests.conftest import adult_ctx  # noqa: F401 - fixture
from tests.helpers import run_check

ctx = adult_ctx
_result = run_check


def test_exception_inside_a_check_is_an_error_result(ctx: RunContext) -> None:
    def explode(_: RunContext):  # type: ignore[no-untyped-def]
        raise ValueError("boom")

    result = Check("custom.explodes", "evaluation", ("X",), explode).run(ctx)
    assert result.status is Status.ERROR and "boom" in result.message
    assert result.rationale == ctx.spec.checks.evaluation.rationale


def test_compare_boundaries() -> None:
    assert compare({"a": 0.2}, {"a": ("max", 0.2)}).status is Status.PASS
    assert compare({"a": 0.2000001}, {"a": ("max", 0.2)}).status is Status.FAIL
    assert compare({"a": None}, {"a": ("min", 0.1)}).status is Status.FAIL


def test_fairness_matches_a_pandas_computation(ctx: RunContext) -> None:
    frame = pd.DataFrame(
        {"y": ctx.y_eval, "p": ctx.pred_eval, "sex": ctx.evaluation["sex"], "race": ctx.evaluation["race"]}
    )
    minimum = ctx.spec.checks.fairness.min_group_size
    dp = _result(ctx, "fairness.demographic_parity").measured["by_attribute"]
    eo = _result(ctx, "fairness.equalized_odds").measured["by_attribute"]

    def gap(rows: pd.DataFrame, attribute: str) -> float:
        rates = rows.groupby(attribute)["p"].agg(["mean", "size"])
        judged = rates.loc[rates["size"] >= minimum, "mean"]  # rates on fewer rows are reported, not judged
        return float(judged.max() - judged.min())

    for attribute in ("sex", "race"):
        assert dp[attribute] == pytest.approx(gap(frame, attribute), abs=1e-12)
        expected = max(gap(frame[frame.y == 1], attribute), gap(frame[frame.y == 0], attribute))
        assert eo[attribute] == pytest.approx(expected, abs=1e-12)


def test_robustness_attack_never_moves_frozen_features(ctx: RunContext) -> None:
    result = _result(ctx, "robustness.evasion")
    assert result.status in {Status.PASS, Status.FAIL}, result.message
    assert set(result.measured["frozen_features"]) == {"age", "education_num"}
    assert not set(result.measured["perturbed_features"]) & {"age", "education_num", "sex", "race"}
    assert 0.0 <= result.measured["attack_success_rate"] <= 1.0


def test_protected_input_without_justification_fails(ctx: RunContext) -> None:
    class WithSex:
        feature_names_in_ = np.array([*ctx.features, "sex"])

    model = type(ctx.model)(WithSex(), "in-memory", "0" * 64)
    assert (
        _result(
            RunContext(ctx.spec, model, ctx.train, ctx.evaluation, ctx.datasets, ctx.artifact_dir),
            "compliance.protected_inputs",
        ).status
        is Status.FAIL
    )
