"""The spec: valid files load; every mistake names the file, the field and the problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from certification.errors import SpecError
from certification.spec import load_spec


def test_valid_spec_loads_and_resolves_paths(write_spec) -> None:
    spec = load_spec(write_spec())
    assert spec.use_case == "adult-income-prescreening"
    assert Path(spec.datasets.train.path).is_absolute()
    assert spec.approvals.roles == ["risk", "compliance"]
    assert len(spec.digest()) == 64


def test_overrides_replace_model_and_data(write_spec, adult_files) -> None:
    spec = load_spec(
        write_spec(), {"model_uri": "models:/other@candidate", "train_path": str(adult_files["train"])}
    )
    assert spec.model.uri == "models:/other@candidate" and spec.model.path is None
    assert load_spec(write_spec()).digest() != spec.digest()


@pytest.mark.parametrize(
    ("change", "field", "fragment"),
    [
        (
            lambda s: s["checks"]["evaluation"].pop("thresholds"),
            "checks.evaluation.thresholds",
            "required",
        ),
        (
            lambda s: s["checks"]["fairness"].update(max_equalized_odds_difference="low"),
            "checks.fairness.max_equalized_odds_difference",
            "number",
        ),
        (lambda s: s.update(colour="blue"), "colour", "Extra inputs"),
        (
            lambda s: s["checks"]["evaluation"]["thresholds"].update(f1={"min": 0.6, "max": 0.9}),
            "checks.evaluation.thresholds.f1",
            "exactly one",
        ),
        (
            lambda s: s["checks"]["evaluation"]["thresholds"].update(auc={"min": 0.6}),
            "checks.evaluation.thresholds.auc.[key]",
            "Input should be",
        ),
        (lambda s: s["model"].update(predictions={"score_column": "p"}), "model", "exactly one"),
        (lambda s: s["model"].pop("sha256"), "model", "sha256"),
        (
            lambda s: s["checks"]["robustness"].update(rationale="x"),
            "checks.robustness.rationale",
            "at least",
        ),
        (lambda s: s["approvals"].update(roles=["risk", "risk"]), "approvals", "distinct"),
        (lambda s: s.update(protected_attributes=["income"]), "(top level)", "label column"),
        (lambda s: s.update(risk_tier="extreme"), "risk_tier", "minimal"),
    ],
)
def test_mistakes_name_file_field_and_problem(write_spec, change, field, fragment) -> None:
    path = write_spec(change)
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    assert caught.value.source == str(path)
    assert caught.value.field == field
    assert fragment in caught.value.problem
    assert str(path) in str(caught.value)


def test_yaml_syntax_error_and_missing_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("use_case: [unclosed\n")
    with pytest.raises(SpecError, match="not valid YAML"):
        load_spec(broken)
    with pytest.raises(SpecError, match="cannot read spec"):
        load_spec(tmp_path / "absent.yaml")


def test_unknown_override_is_refused(write_spec) -> None:
    with pytest.raises(SpecError, match="unknown override"):
        load_spec(write_spec(), {"threshold": "0"})


def test_every_metric_a_spec_may_bound_is_one_the_pipeline_measures() -> None:
    """The spec's metric names (typed literals, checked without importing numpy) and the statistics' lists agree;
    the calibration measures come from evaluation.calibration."""
    from certification.spec import TASK_METRICS
    from certification.stats import METRICS, MULTICLASS_METRICS, REGRESSION_METRICS

    assert TASK_METRICS["binary"] == {*METRICS, "ece"}
    assert TASK_METRICS["multiclass"] == {*MULTICLASS_METRICS, "ece"}
    assert TASK_METRICS["regression"] == {*REGRESSION_METRICS, "calibration_error", "calibration_slope"}
