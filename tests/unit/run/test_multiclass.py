"""A three-class model on real data (AER's NMES1988 self-rated health of Medicare members) certified end to end by
`certify run` and two sign-offs, its numbers checked against scikit-learn and fairlearn, and a weaker challenger
compared with it; what a multiclass spec may and may not say."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from fairlearn.metrics import MetricFrame, false_positive_rate, selection_rate, true_positive_rate
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve

from certification.cli import OK, main
from certification.config import settings
from certification.demo.inputs import NMES_CLASSES, NMES_FEATURES, NMES_MODEL, prepare_nmes
from certification.errors import SpecError
from certification.spec import parse_spec
from tests.helpers import approve_and_verify, challenge, cli_verdict, quick_example

NOT_JUDGED = {"evaluation.champion_challenger", "compliance.consent_retention", "fairness.mitigation"}
LABELS = list(range(len(NMES_CLASSES)))
EXAMPLE = Path(__file__).resolve().parents[3] / "certification" / "demo" / "specs" / "nmes-health.yaml"


def test_the_nmes_health_classifier_is_certified_end_to_end(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every stage runs for a three-class model, no check errs, the reported numbers equal scikit-learn's and
    fairlearn's on the same rows, two approvers sign and the certificate verifies. A challenger that predicts the
    commonest class for everyone is then compared on macro F1 and refused."""
    import mlflow

    spec_path = prepare_nmes(settings(), tmp_path / "nmes")
    quick_example(spec_path)
    code = main(["--json", "run", str(spec_path), "--submitted-by", "dana"])
    status, results = cli_verdict(capsys.readouterr().out, code)
    assert code == OK and status["status"] == "awaiting_signoff", status.get("gate")
    assert {c for c, r in results.items() if r["status"] == "not_applicable"} <= NOT_JUDGED, results
    assert "fairness.outcome_parity" not in results and "robustness.confidence_fallback" in results

    evaluation = pd.read_csv(tmp_path / "nmes" / "nmes_evaluation.csv")
    model = mlflow.sklearn.load_model(f"models:/{NMES_MODEL}/1")
    columns = [list(model.classes_).index(c) for c in NMES_CLASSES]
    proba = model.predict_proba(evaluation[NMES_FEATURES])[:, columns]
    y = pd.Categorical(evaluation["health"], categories=NMES_CLASSES).codes
    pred = proba.argmax(axis=1)
    assert np.array_equal(np.asarray(NMES_CLASSES)[pred], model.predict(evaluation[NMES_FEATURES]))
    performance = results["evaluation.performance"]["measured"]
    reference = {
        "accuracy": skm.accuracy_score(y, pred),
        "balanced_accuracy": skm.balanced_accuracy_score(y, pred),
        "macro_f1": skm.f1_score(y, pred, average="macro"),
        "weighted_f1": skm.f1_score(y, pred, average="weighted"),
        "log_loss": skm.log_loss(y, proba, labels=LABELS),
        "brier": skm.brier_score_loss(y, proba, labels=LABELS),
        "roc_auc_ovr": skm.roc_auc_score(y, proba, multi_class="ovr"),
        "top_k_accuracy": skm.top_k_accuracy_score(y, proba, k=2),
        "min_class_recall": skm.recall_score(y, pred, average=None).min(),
        "min_class_precision": skm.precision_score(y, pred, average=None).min(),
    }
    for name, value in reference.items():
        estimate = performance["estimates"][name]
        assert estimate["value"] == pytest.approx(value, abs=1e-9), name
        assert estimate["ci_lower"] <= value <= estimate["ci_upper"], name
    precision, recall, f1, support = skm.precision_recall_fscore_support(y, pred)
    for k, label in enumerate(NMES_CLASSES):
        rates = performance["per_class"][label]
        assert rates["precision"]["value"] == pytest.approx(precision[k], abs=1e-12), label
        assert rates["recall"]["value"] == pytest.approx(recall[k], abs=1e-12), label
        assert (
            rates["f1"]["value"] == pytest.approx(f1[k], abs=1e-12)
            and rates["support"]["value"] == support[k]
        )
    assert performance["confusion_matrix"]["counts"] == skm.confusion_matrix(y, pred).tolist()
    calibration = results["evaluation.calibration"]["measured"]
    eces = [calibration["classes"][c]["ece"] for c in NMES_CLASSES]
    assert calibration["ece"] == pytest.approx(np.mean(eces)) and calibration["worst_class_ece"] == max(eces)
    for k, label in enumerate(NMES_CLASSES):  # each class's reliability curve, one vs rest, as scikit-learn's
        observed, predicted = calibration_curve(y == k, proba[:, k], n_bins=10, strategy="uniform")
        bins = calibration["classes"][label]["bins"]
        assert [b["observed_rate"] for b in bins] == pytest.approx(observed, abs=1e-12)
        assert [b["mean_score"] for b in bins] == pytest.approx(predicted, abs=1e-12)

    # one-vs-rest group rates for each class against fairlearn's MetricFrame on the same rows
    groups = results["fairness.demographic_parity"]["measured"]["groups"]
    for k, label in enumerate(NMES_CLASSES):
        frame = MetricFrame(
            metrics={"selection_rate": selection_rate, "tpr": true_positive_rate, "fpr": false_positive_rate},
            y_true=y == k,
            y_pred=pred == k,
            sensitive_features=evaluation["afam"],
        )
        table = groups[f"class {label!r} · afam"]
        for group, row in frame.by_group.iterrows():
            for measure, value in row.items():
                assert table[str(group)][measure] == pytest.approx(value, abs=1e-9), (label, group, measure)
    parity = results["fairness.demographic_parity"]["measured"]
    worst = parity["disparities"]["afam"]
    frame = MetricFrame(
        metrics=selection_rate, y_true=y == 0, y_pred=pred == NMES_CLASSES.index(worst["class"]),
        sensitive_features=evaluation["afam"],
    )  # fmt: skip
    assert worst["value"] == pytest.approx(frame.difference(), abs=1e-9)
    assert "for class 'poor'" in results["fairness.demographic_parity"]["message"]
    confusion = results["fairness.group_sizes"]["measured"]["confusion_by_group"]["gender"]
    for group in ("female", "male"):
        rows = (evaluation["gender"] == group).to_numpy()
        assert confusion[group] == skm.confusion_matrix(y[rows], pred[rows], labels=LABELS).tolist()
    assert results["robustness.evasion"]["measured"]["method"] == "pgd"

    status = approve_and_verify(status["run"]["run_id"], capsys)
    card = Path(status["documents"]["model-card.md"]).read_text()
    assert "Label: `health` (classes `poor`, `average`, `excellent`)" in card and "| macro_f1 |" in card

    # a challenger that calls everyone 'average' is as accurate as it is useless: macro F1 says so, it is refused
    from sklearn.dummy import DummyClassifier

    train = pd.read_csv(tmp_path / "nmes" / "nmes_train.csv")
    weak = DummyClassifier(strategy="prior").fit(train[NMES_FEATURES], train["health"])
    measured = challenge(spec_path, weak, NMES_MODEL, train[NMES_FEATURES].head(3), capsys)
    weak_pred = weak.predict_proba(evaluation[NMES_FEATURES])[
        :, [list(weak.classes_).index(c) for c in NMES_CLASSES]
    ].argmax(axis=1)
    assert measured["metric"] == "macro_f1" and measured["champion_version"] == "1"
    assert measured["difference_challenger_minus_champion"]["difference"] == pytest.approx(
        skm.f1_score(y, weak_pred, average="macro", labels=LABELS) - reference["macro_f1"], abs=1e-9
    )
    assert measured["mcnemar"]["n"] == len(y) and measured["p_value_worse"] < 0.05


def test_a_multiclass_spec_says_what_its_task_needs(tmp_path: Path) -> None:
    """The example parses; a positive label, too few classes, another task's metrics and thresholds, an adverse
    class that is not declared and a top-k as large as the classes are refused with the field named."""
    text = EXAMPLE.read_text()
    path = tmp_path / "nmes-health.yaml"
    spec = parse_spec(text, str(path))
    assert spec.task == "multiclass" and spec.label.values == list(NMES_CLASSES)

    def refused(change: str, field: str) -> None:
        raw = yaml.safe_load(text)
        exec(change, {"s": raw})  # noqa: S102 - test edits of the spec dict
        with pytest.raises(SpecError, match=field):
            parse_spec(yaml.safe_dump(raw), str(path))

    refused("s['label']['positive'] = 'poor'", "label.positive belongs to a binary task")
    refused("s['label']['values'] = ['poor', 'average']", "three or more distinct classes")
    refused("s['label'].pop('values')", "three or more distinct classes")
    refused(
        "s['checks']['evaluation']['thresholds']['roc_auc'] = {'min': 0.7}", "roc_auc is not a multiclass"
    )
    refused("s['checks']['evaluation']['thresholds']['mae'] = {'max': 1}", "mae is not a multiclass")
    refused("s['checks']['fairness']['max_mean_prediction_difference'] = 1", "regression-task threshold")
    refused("s['checks']['fairness']['adverse_classes'] = ['sick']", "adverse_classes .'sick'. are not in")
    refused("s['checks']['evaluation']['top_k'] = 3", "top_k must be smaller")
    refused("s['checks']['evaluation']['slice_metric'] = 'roc_auc'", "slice_metric must be one of")
    refused(
        "s['checks']['robustness']['fallback']['abstain_below'] = 0.3",
        "abstain_below must be greater than 0.333",
    )
    refused(
        "s['checks']['robustness']['prediction_tolerance'] = 1",
        "prediction_tolerance belongs to a regression",
    )
    refused("s['checks']['fairness'].pop('max_equalized_odds_difference')", "needs max_demographic_parity")
