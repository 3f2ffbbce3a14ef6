"""A regression model on real data (AER's CPS1988 wages) certified end to end by `certify run` and two sign-offs, its
numbers checked against scikit-learn, scipy and fairlearn, and a weaker challenger compared with it; what a regression
spec may and may not say."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from fairlearn.metrics import MetricFrame
from scipy.stats import linregress
from sklearn import metrics as skm

from certification.cli import OK, main
from certification.config import settings
from certification.demo.inputs import CPS_FEATURES, CPS_MODEL, prepare_cps
from certification.errors import SpecError
from certification.spec import Spec, load_spec, parse_spec
from tests.helpers import (
    approve_and_verify,
    challenge,
    cli_verdict,
    digest_before_later_fields,
    quick_example,
)

# a first certification has no champion, the example declares no consent column, and no fairness check fails
NOT_JUDGED = {"evaluation.champion_challenger", "compliance.consent_retention", "fairness.mitigation"}


def test_the_cps_wage_regression_is_certified_end_to_end(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every stage runs for a regressor, no check errs or is skipped but those with nothing to judge, the reported
    numbers equal scikit-learn's, scipy's and fairlearn's on the same rows, two approvers sign and the certificate
    verifies. A weaker challenger is then compared with the certified model on absolute errors and refused."""
    import mlflow

    spec_path = prepare_cps(settings(), tmp_path / "cps")
    quick_example(spec_path)
    code = main(["--json", "run", str(spec_path), "--submitted-by", "dana"])
    status, results = cli_verdict(capsys.readouterr().out, code)
    assert code == OK and status["status"] == "awaiting_signoff", status.get("gate")
    assert {c for c, r in results.items() if r["status"] == "not_applicable"} <= NOT_JUDGED, results
    assert "fairness.demographic_parity" not in results and "robustness.confidence_fallback" not in results

    evaluation = pd.read_csv(tmp_path / "cps" / "cps_evaluation.csv")
    model = mlflow.sklearn.load_model(f"models:/{CPS_MODEL}/1")
    y, pred = evaluation["wage"].to_numpy(), model.predict(evaluation[CPS_FEATURES])
    estimates = results["evaluation.performance"]["measured"]["estimates"]
    reference = {
        "mae": skm.mean_absolute_error(y, pred),
        "rmse": skm.root_mean_squared_error(y, pred),
        "r2": skm.r2_score(y, pred),
        "median_ae": skm.median_absolute_error(y, pred),
        "mape": skm.mean_absolute_percentage_error(y, pred),
        "gamma_deviance": skm.mean_gamma_deviance(y, pred),
        "poisson_deviance": skm.mean_poisson_deviance(y, pred),
    }
    for name, value in reference.items():
        assert estimates[name]["value"] == pytest.approx(value, rel=1e-9), name
        assert estimates[name]["ci_lower"] <= value <= estimates[name]["ci_upper"], name
    calibration = results["evaluation.calibration"]["measured"]
    fit = linregress(pred, y)
    assert calibration["slope"] == pytest.approx(fit.slope, rel=1e-9)
    assert calibration["intercept"] == pytest.approx(fit.intercept, rel=1e-9)

    groups = results["fairness.outcome_parity"]["measured"]["groups"]["ethnicity"]
    frame = MetricFrame(
        metrics={
            "mean_prediction": lambda t, p: float(np.mean(p)),
            "mean_residual": lambda t, p: float(np.mean(p - t)),
            "mae": skm.mean_absolute_error,
            "rmse": skm.root_mean_squared_error,
        },
        y_true=y,
        y_pred=pred,
        sensitive_features=evaluation["ethnicity"],
    )
    for group, row in frame.by_group.iterrows():
        for measure, value in row.items():
            assert groups[str(group)][measure] == pytest.approx(value, abs=1e-9), (group, measure)
    gap = frame.by_group["mean_prediction"].max() - frame.by_group["mean_prediction"].min()
    assert results["fairness.outcome_parity"]["measured"]["max_mean_prediction_difference"] == pytest.approx(
        gap
    )
    # ethnicity is not an input: the model narrows the pay gap in the data, so white workers are under-predicted
    assert "cauc is under-predicted relative to afam" in results["fairness.residual_bias"]["message"]
    assert results["robustness.evasion"]["measured"]["method"] == "constrained black-box search"
    assert "changed_rate" in results["robustness.stress"]["measured"]

    status = approve_and_verify(status["run"]["run_id"], capsys)
    card = Path(status["documents"]["model-card.md"]).read_text()
    assert "Target: `wage` (regression)" in card and "| mae |" in card

    # a challenger predicting the median wage for everyone has larger errors: the paired tests say so, it is refused
    from sklearn.dummy import DummyRegressor

    train = pd.read_csv(tmp_path / "cps" / "cps_train.csv")
    weak = DummyRegressor(strategy="median").fit(train[CPS_FEATURES], train["wage"])
    measured = challenge(spec_path, weak, CPS_MODEL, train[CPS_FEATURES].head(3), capsys)
    assert measured["metric"] == "mae" and measured["champion_version"] == "1"
    assert measured["difference_challenger_minus_champion"]["difference"] == pytest.approx(
        skm.mean_absolute_error(y, weak.predict(evaluation[CPS_FEATURES])) - reference["mae"], rel=1e-9
    )
    assert measured["paired_absolute_errors"]["p_value_worse"] < 0.05


def test_a_regression_spec_says_what_its_task_needs(tmp_path: Path) -> None:
    """The example parses; the other task's label fields, metrics and thresholds are refused with the field named;
    slices and the champion default to mae and keep that through a dump and reload."""
    path = tmp_path / "cps-wages.yaml"
    example = Path(__file__).resolve().parents[3] / "certification" / "demo" / "specs" / "cps-wages.yaml"
    text = example.read_text()
    spec = parse_spec(text, str(path))
    assert spec.task == "regression" and spec.checks.evaluation.slice_metric == "mae"
    assert Spec.model_validate(spec.model_dump(mode="json")).checks.evaluation.champion.metric == "mae"

    def refused(change: str, field: str) -> None:
        raw = yaml.safe_load(text)
        exec(change, {"s": raw})  # noqa: S102 - test edits of the spec dict
        with pytest.raises(SpecError, match=field):
            parse_spec(yaml.safe_dump(raw), str(path))

    refused(
        "s['checks']['evaluation']['thresholds']['roc_auc'] = {'min': 0.7}", "roc_auc is not a regression"
    )
    refused("s['label']['positive'] = 1", "belong to a classification task")
    refused("s['checks']['robustness'].pop('prediction_tolerance')", "prediction_tolerance is required")
    refused(
        "s['checks']['fairness']['max_demographic_parity_difference'] = 0.1", "classification-task threshold"
    )
    refused(
        "s['checks']['evaluation']['slice_metric'] = 'accuracy'",
        "slice_metric must be one of .'mae', 'rmse'.",
    )
    refused("s['checks']['fairness'].pop('decision_threshold')", "needs decision_threshold")
    refused("s['label']['range'] = [10, 1]", "low < high")


def test_fields_added_for_regression_leave_every_binary_spec_digest_alone(write_spec) -> None:  # type: ignore[no-untyped-def]
    """Discovery compares certified specs by digest: a binary spec written before `task` and the other regression
    fields hashes as before, whether or not it now spells out their defaults."""
    spec = load_spec(write_spec(lambda s: None))
    assert spec.digest() == digest_before_later_fields(spec)
    assert load_spec(write_spec(lambda s: s.update(task="binary"))).digest() == spec.digest()
    assert load_spec(write_spec(lambda s: s.update(task="binary"))).task == "binary"
