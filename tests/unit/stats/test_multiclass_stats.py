"""Multiclass statistics cross-checked against scikit-learn on real data: ProPublica COMPAS with a three-class
outcome (0 no recidivism within two years, 1 non-violent recidivism, 2 violent recidivism)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from certification.demo.datasets import load_compas
from certification.stats import (
    LOWER_IS_BETTER,
    MULTICLASS_METRICS,
    _chunk,
    classwise_calibration,
    confusion_matrix,
    expected_calibration_error,
    multiclass_estimates,
    multiclass_metrics_from_counts,
    paired_bootstrap,
    per_class,
    resample_counts,
)

CLASSES = ("no_recidivism", "non_violent", "violent")
LABELS = [0, 1, 2]
WITHOUT_TOP_K = tuple(m for m in MULTICLASS_METRICS if m != "top_k_accuracy")
FEATURES = ["age", "priors_count", "juv_fel_count", "juv_misd_count", "juv_other_count"]


@pytest.fixture(scope="module")
def compas() -> dict[str, np.ndarray]:
    """One random half of COMPAS (3,086 rows) scored by models fitted on the other half."""
    frame = load_compas()
    x = np.column_stack([frame[FEATURES].to_numpy(float), (frame["c_charge_degree"] == "F").to_numpy(float)])
    y = np.where(frame["two_year_recid"] == 0, 0, np.where(frame["is_violent_recid"] == 1, 2, 1))
    train = np.random.default_rng(0).permutation(y.size) < y.size // 2
    with threadpool_limits(1):  # OpenMP threads spinning on a busy 2-core runner can take 100x longer
        tree = HistGradientBoostingClassifier(max_iter=40, random_state=0).fit(x[train], y[train])
        logit = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(x[train], y[train])
    return {"y": y[~train], "tree": tree.predict_proba(x[~train]), "logit": logit.predict_proba(x[~train])}


def sklearn_value(name: str, y: np.ndarray, proba: np.ndarray, **weight: Any) -> float:
    """Each of MULTICLASS_METRICS straight from scikit-learn, its own multiclass call where there is one."""
    pred = proba.argmax(axis=1)
    support = np.bincount(y, weights=weight.get("sample_weight"), minlength=len(LABELS))
    calls = {
        "accuracy": lambda: skm.accuracy_score(y, pred, **weight),
        "balanced_accuracy": lambda: skm.balanced_accuracy_score(y, pred, **weight),
        "macro_f1": lambda: skm.f1_score(y, pred, labels=LABELS, average="macro", zero_division=0, **weight),
        "weighted_f1": lambda: skm.f1_score(
            y, pred, labels=LABELS, average="weighted", zero_division=0, **weight
        ),
        "log_loss": lambda: skm.log_loss(y, proba, labels=LABELS, **weight),
        "brier": lambda: skm.brier_score_loss(y, proba, labels=LABELS, **weight),  # unhalved for K >= 3
        "roc_auc_ovr": lambda: skm.roc_auc_score(y, proba, multi_class="ovr", labels=LABELS, **weight),
        "top_k_accuracy": lambda: skm.top_k_accuracy_score(y, proba, k=2, labels=LABELS, **weight),
        "min_class_precision": lambda: skm.precision_score(
            y, pred, labels=LABELS, average=None, zero_division=0, **weight
        ).min(),
        "min_class_recall": lambda: skm.recall_score(
            y, pred, labels=[c for c in LABELS if support[c] > 0], average=None, zero_division=0, **weight
        ).min(),
    }
    return float(calls[name]())


@pytest.mark.parametrize("model", ["tree", "logit"])
def test_point_values_equal_sklearn(compas: dict[str, np.ndarray], model: str) -> None:
    y, proba = compas["y"], compas[model]
    assert np.bincount(y).tolist() == [1663, 1081, 342]
    estimates = multiclass_estimates(y, proba, CLASSES, resamples=20)
    assert tuple(estimates) == MULTICLASS_METRICS
    for name, estimate in estimates.items():
        assert estimate.value == pytest.approx(sklearn_value(name, y, proba), abs=1e-9), name
        assert estimate.lower <= estimate.upper and estimate.resamples == 20, name
    # the original Brier score: per row the squared distance to the one-hot outcome, summed over classes
    original = np.mean(np.sum((proba - np.eye(3)[y]) ** 2, axis=1))
    assert estimates["brier"].value == pytest.approx(original, abs=1e-12)
    top3 = multiclass_estimates(y, proba, CLASSES, resamples=0, top_k=1, metrics=["top_k_accuracy"])
    assert top3["top_k_accuracy"].value == skm.top_k_accuracy_score(y, proba, k=1, labels=LABELS)


@pytest.mark.parametrize("model", ["tree", "logit"])
def test_resample_values_equal_weighted_sklearn(compas: dict[str, np.ndarray], model: str) -> None:
    y, proba = compas["y"], compas[model]
    if model == "tree":
        assert np.unique(proba[:, 2]).size < y.size / 2  # tied scores: the OvR rank ties are exercised
    counts = next(resample_counts(y.size, 4, seed=7, chunk=4))
    values = multiclass_metrics_from_counts(y, proba, counts)
    assert tuple(values) == MULTICLASS_METRICS
    for i, weights in enumerate(counts):
        for name in MULTICLASS_METRICS:
            weighted = sklearn_value(name, y, proba, sample_weight=weights)
            assert values[name][i] == pytest.approx(weighted, abs=1e-9), name


def test_intervals_are_the_percentiles_of_the_resample_values(compas: dict[str, np.ndarray]) -> None:
    y, proba = compas["y"], compas["logit"]
    estimates = multiclass_estimates(y, proba, CLASSES, resamples=300, seed=3, level=0.9)
    draws = [
        multiclass_metrics_from_counts(y, proba, c) for c in resample_counts(y.size, 300, 3, _chunk(y.size))
    ]
    for name, estimate in estimates.items():
        values = np.concatenate([d[name] for d in draws])
        assert (estimate.lower, estimate.upper) == pytest.approx(tuple(np.quantile(values, [0.05, 0.95]))), (
            name
        )
        assert estimate.lower <= estimate.value <= estimate.upper and estimate.level == 0.9, name
    again = multiclass_estimates(y, proba, CLASSES, resamples=300, seed=3, level=0.9)
    assert {k: v.to_dict() for k, v in again.items()} == {k: v.to_dict() for k, v in estimates.items()}


def test_resamples_missing_a_class(compas: dict[str, np.ndarray]) -> None:
    """A few violent rows among 40: some resamples lose class 2, where AUC is excluded and the rest follows
    scikit-learn (balanced accuracy over the classes present, F1 of the absent class 0)."""
    y, proba = compas["y"], compas["tree"]
    rows = np.concatenate([np.flatnonzero(y != 2)[:38], np.flatnonzero(y == 2)[:2]])
    y, proba = y[rows], proba[rows]
    counts = np.concatenate(list(resample_counts(y.size, 200, 1, 200)))
    missing = counts[:, y == 2].sum(axis=1) == 0
    assert 0 < missing.sum() < 200
    values = multiclass_metrics_from_counts(y, proba, counts)
    assert np.array_equal(np.isnan(values["roc_auc_ovr"]), missing)
    for i in [*np.flatnonzero(missing)[:3], *np.flatnonzero(~missing)[:2]]:
        for name in MULTICLASS_METRICS[1:]:
            if name == "roc_auc_ovr":
                continue
            weighted = sklearn_value(name, y, proba, sample_weight=counts[i])
            assert values[name][i] == pytest.approx(weighted, abs=1e-9), name
    estimates = multiclass_estimates(y, proba, CLASSES, resamples=200, seed=1)
    assert estimates["roc_auc_ovr"].resamples == (~missing).sum() and estimates["accuracy"].resamples == 200


def test_undefined_metrics_are_left_out_and_two_classes_work(compas: dict[str, np.ndarray]) -> None:
    y, proba = compas["y"], compas["logit"]
    no_violent = y != 2
    estimates = multiclass_estimates(y[no_violent], proba[no_violent], CLASSES, resamples=10)
    assert "roc_auc_ovr" not in estimates and "top_k_accuracy" in estimates
    assert "top_k_accuracy" not in multiclass_estimates(y, proba, CLASSES, resamples=10, top_k=3)
    # K = 2 (recidivism of any kind): the multiclass Brier score is twice the binary one
    binary = (y > 0).astype(int)
    two = np.column_stack([proba[:, 0], 1 - proba[:, 0]])
    estimates = multiclass_estimates(binary, two, ["no", "yes"], resamples=10)
    assert tuple(estimates) == WITHOUT_TOP_K
    assert estimates["brier"].value == pytest.approx(2 * skm.brier_score_loss(binary, two[:, 1]), abs=1e-12)
    assert estimates["roc_auc_ovr"].value == pytest.approx(skm.roc_auc_score(binary, two[:, 1]), abs=1e-12)
    assert estimates["log_loss"].value == pytest.approx(skm.log_loss(binary, two[:, 1]), abs=1e-12)


@pytest.mark.parametrize("model", ["tree", "logit"])
def test_per_class_equals_precision_recall_fscore_support(compas: dict[str, np.ndarray], model: str) -> None:
    y, proba = compas["y"], compas[model]
    pred = proba.argmax(axis=1)
    found = per_class(y, proba, CLASSES, resamples=40, seed=2)
    assert list(found) == list(CLASSES)
    points = skm.precision_recall_fscore_support(y, pred, labels=LABELS, zero_division=0)
    weighted = np.array(
        [
            skm.precision_recall_fscore_support(y, pred, labels=LABELS, zero_division=0, sample_weight=w)
            for w in np.concatenate(list(resample_counts(y.size, 40, 2, _chunk(y.size))))
        ]
    )  # (resample, metric, class)
    for c, label in enumerate(CLASSES):
        assert set(found[label]) == {"precision", "recall", "f1", "support"}
        for m, name in enumerate(("precision", "recall", "f1", "support")):
            estimate = found[label][name]
            assert estimate.value == pytest.approx(points[m][c], abs=1e-12), (label, name)
            interval = np.quantile(weighted[:, m, c], [0.025, 0.975])
            assert (estimate.lower, estimate.upper) == pytest.approx(tuple(interval), abs=1e-9), (label, name)
    assert found["violent"]["support"].value == 342


def test_confusion_matrix_equals_sklearn_and_a_crosstab(compas: dict[str, np.ndarray]) -> None:
    y, pred = compas["y"], compas["tree"].argmax(axis=1)
    matrix = confusion_matrix(y, pred, 3)
    assert matrix == skm.confusion_matrix(y, pred, labels=LABELS).tolist()
    crosstab = pd.crosstab(y, pred).reindex(index=LABELS, columns=LABELS, fill_value=0)
    assert matrix == crosstab.to_numpy().tolist()
    assert [sum(row) for row in matrix] == np.bincount(y).tolist()
    assert confusion_matrix([0, 0], [3, 0], 4) == [[1, 0, 0, 1], *[[0] * 4] * 3]


@pytest.mark.parametrize("model", ["tree", "logit"])
def test_classwise_calibration_is_one_vs_rest_ece(compas: dict[str, np.ndarray], model: str) -> None:
    y, proba = compas["y"], compas[model]
    found = classwise_calibration(y, proba, CLASSES, bins=15)
    assert list(found["classes"]) == list(CLASSES)
    for c, label in enumerate(CLASSES):
        ece, table = expected_calibration_error(y == c, proba[:, c], bins=15)
        assert found["classes"][label] == {"ece": ece, "bins": table}
    eces = [found["classes"][label]["ece"] for label in CLASSES]
    assert found["mean_ece"] == pytest.approx(np.mean(eces)) and found["max_ece"] == max(eces)


def test_paired_bootstrap_multiclass(compas: dict[str, np.ndarray]) -> None:
    y, a, b = compas["y"], compas["tree"], compas["logit"]
    counts = list(resample_counts(y.size, 150, 4, _chunk(y.size)))
    for metric in WITHOUT_TOP_K:
        result = paired_bootstrap(y, a, b, metric, resamples=150, seed=4)
        expected = sklearn_value(metric, y, b) - sklearn_value(metric, y, a)
        assert result["difference"] == pytest.approx(expected, abs=1e-9), metric
        diffs = np.concatenate(
            [
                multiclass_metrics_from_counts(y, b, c, (metric,))[metric]
                - multiclass_metrics_from_counts(y, a, c, (metric,))[metric]
                for c in counts
            ]
        )
        assert (result["ci_lower"], result["ci_upper"]) == pytest.approx(
            tuple(np.quantile(diffs, [0.025, 0.975]))
        )
        better = diffs <= 0 if metric in LOWER_IS_BETTER else diffs >= 0
        assert result["p_value_worse"] == pytest.approx(better.mean()), metric
    # a blurred copy of a model is worse by every measure of its probabilities
    blurred = 0.5 * b + 0.5 / 3
    for metric in ("log_loss", "brier", "roc_auc_ovr"):
        assert paired_bootstrap(y, b, b, metric, resamples=50)["p_value_worse"] == 1.0
    assert paired_bootstrap(y, b, blurred, "log_loss", resamples=100)["p_value_worse"] < 0.01
    assert paired_bootstrap(y, b, blurred, "roc_auc_ovr", resamples=100)["difference"] == pytest.approx(0.0)


def test_invalid_input_is_rejected(compas: dict[str, np.ndarray]) -> None:
    y, proba = compas["y"][:50], compas["logit"][:50]
    cases: list[tuple[Any, Any, Any, dict[str, Any]]] = [
        (y, proba * 1.01, CLASSES, {}),  # rows do not sum to 1
        (y, proba[:, :2], CLASSES, {}),  # two columns for three classes
        (y, np.column_stack([proba, np.zeros(50)]), CLASSES, {}),
        (y, proba[:, 0], CLASSES, {}),  # 1-D
        (np.where(y == 2, 3, y), proba, CLASSES, {}),  # a code out of range
        (y + 0.5, proba, CLASSES, {}),  # not integer codes
        (y[:-1], proba, CLASSES, {}),  # length
        (np.zeros(50, int), np.ones((50, 1)), ["only"], {}),  # K = 1
        (y, proba, ["a", "a", "b"], {}),  # duplicate labels
        (y, proba, CLASSES, {"metrics": ["roc_auc"]}),  # a binary metric
        (y, proba, CLASSES, {"top_k": 0}),
        (y, proba, CLASSES, {"level": 1.0}),
    ]
    for y_true, p, classes, kwargs in cases:
        with pytest.raises(ValueError):
            multiclass_estimates(y_true, p, classes, resamples=5, **kwargs)
    with pytest.raises(ValueError):
        per_class(y, proba * 0.5, CLASSES)
    with pytest.raises(ValueError):
        classwise_calibration(y, proba, CLASSES[:2])
    with pytest.raises(ValueError):
        confusion_matrix([0, 1], [0, 1], 1)
    with pytest.raises(ValueError):
        confusion_matrix([0, 1], [0, 2], 2)
    with pytest.raises(ValueError, match="unknown multiclass metric 'top_k_accuracy'"):
        paired_bootstrap(y, proba, proba, "top_k_accuracy")
    with pytest.raises(ValueError):
        paired_bootstrap(y, proba, proba[:, :2], "accuracy")
    with pytest.raises(ValueError):
        paired_bootstrap(y, proba, proba[:-1], "accuracy")
