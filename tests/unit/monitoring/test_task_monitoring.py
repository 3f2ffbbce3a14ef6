"""Monitoring a regressor (CPS1988 wages) and a multiclass model (NMES1988 health status) window by window: counts
in chunks equal one pass, live measures equal scikit-learn's and fairlearn's on the labelled rows, a stable stream
breaches nothing and a fairness regression in one group is found there, by the thresholds of the task."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import MetricFrame, mean_prediction, selection_rate
from sklearn import metrics as skm

from certification import monitoring
from certification.demo.drift_stream import production_stream
from certification.demo.inputs import (
    CPS_FEATURES,
    NMES_CLASSES,
    NMES_FEATURES,
    cps_files,
    cps_model,
    nmes_files,
    nmes_model,
)
from certification.spec import MonitoringPolicy

POLICY = MonitoringPolicy(rationale="thresholds of the tests", min_labelled_rows=500, min_group_rows=200)


def _setting(task: str, folder: Path) -> dict[str, Any]:
    if task == "regression":
        paths = cps_files(folder)
        train, population = (pd.read_csv(paths[n]) for n in ("train", "evaluation"))
        model, features, protected, label = cps_model(train), CPS_FEATURES, ["ethnicity"], "wage"
        scored = population.assign(prediction=model.predict(population[features]), label=population[label])
        profile = monitoring.RegressionProfile(
            monitoring.bins_for(population, features), protected, sample_size=2000,
            prediction_bins=monitoring.bins_for(scored, ["prediction"])["prediction"],
        )  # fmt: skip
        stream = {"positive": None, "group": ("ethnicity", "afam")}
    else:
        paths = nmes_files(folder)
        train, population = (pd.read_csv(paths[n]) for n in ("train", "evaluation"))
        model, features, protected, label = nmes_model(train), NMES_FEATURES, ["afam", "gender"], "health"
        columns = [list(model.classes_).index(c) for c in NMES_CLASSES]
        scored = population.assign(
            prediction=model.predict_proba(population[features])[:, columns].argmax(axis=1),
            label=pd.Categorical(population[label], categories=NMES_CLASSES).codes,
        )
        profile = monitoring.MulticlassProfile(
            monitoring.bins_for(population, features), protected, sample_size=2000, classes=list(NMES_CLASSES)
        )
        stream = {"positive": None, "classes": NMES_CLASSES, "group": ("gender", "female")}
    baseline = profile.fresh(2000).update(scored.assign(score=np.nan))
    return {
        "population": population, "model": model, "features": features, "protected": protected, "label": label,
        "baseline": baseline, "stream": stream,
    }  # fmt: skip


@pytest.fixture(scope="module", params=["regression", "multiclass"])
def setting(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return _setting(request.param, tmp_path_factory.mktemp(request.param))


def _windows(setting: dict[str, Any], scenario: str, **kw: Any) -> list[pd.DataFrame]:
    stream = {**setting["stream"], **kw}
    return list(
        production_stream(
            setting["population"], setting["model"], features=setting["features"], protected=setting["protected"],
            label=setting["label"], scenario=scenario, windows=4, rows_per_window=6000, **stream,  # type: ignore[arg-type]
        )
    )  # fmt: skip


def test_chunked_counts_equal_one_pass_and_scikit_learn(setting: dict[str, Any]) -> None:
    frames = _windows(setting, "stable")
    window = pd.concat(frames, ignore_index=True)
    chunked = setting["baseline"].fresh(2000).read(frames)
    whole = setting["baseline"].fresh(2000).read([window])
    assert chunked.rows == whole.rows == len(window) and chunked.labelled == whole.labelled
    found = monitoring.compare(setting["baseline"], chunked)
    labelled = window[window["label"].notna()]
    y, pred = labelled["label"].to_numpy(dtype=float), labelled["prediction"].to_numpy(dtype=float)
    groups = labelled[setting["protected"][0]]
    performance = found["performance"]
    if found["task"] == "regression":
        assert performance["mae"]["value"] == pytest.approx(skm.mean_absolute_error(y, pred), rel=1e-9)
        assert performance["rmse"]["value"] == pytest.approx(skm.root_mean_squared_error(y, pred), rel=1e-9)
        frame = MetricFrame(
            metrics={"mae": skm.mean_absolute_error, "mean_residual": lambda t, p: float(np.mean(p - t))},
            y_true=y, y_pred=pred, sensitive_features=groups,
        )  # fmt: skip
        means = window.groupby(setting["protected"][0])["prediction"].mean()
        for group, row in frame.by_group.iterrows():
            live = found["groups"][setting["protected"][0]][str(group)]["window"]
            assert live["mae"]["value"] == pytest.approx(row["mae"], rel=1e-9)
            assert live["mean_residual"]["value"] == pytest.approx(row["mean_residual"], rel=1e-9)
            assert live["mean_prediction"]["value"] == pytest.approx(means[group], rel=1e-9)
        assert mean_prediction(y, pred) == pytest.approx(pred.mean())
    else:
        codes = y.astype(int), pred.astype(int)
        assert performance["accuracy"]["value"] == pytest.approx(skm.accuracy_score(*codes), abs=1e-12)
        assert performance["macro_f1"]["value"] == pytest.approx(
            skm.f1_score(*codes, average="macro", labels=[0, 1, 2]), abs=1e-12
        )
        for k, label in enumerate(NMES_CLASSES):
            frame = MetricFrame(
                metrics=selection_rate, y_true=codes[0] == k, y_pred=codes[1] == k, sensitive_features=groups
            )
            for group, value in frame.by_group.items():
                live = found["groups"][setting["protected"][0]][str(group)]["window"]
                assert live[f"predicted {label}"]["value"] == pytest.approx(value, abs=1e-12)
        shares = np.bincount(window["prediction"].astype(int), minlength=3) / len(window)
        assert list(found["prediction"]["class_shares"].values()) == pytest.approx(shares.tolist())
    assert monitoring.judge(found, None, POLICY) == []  # a stable stream breaks no threshold


def test_a_fairness_regression_in_one_group_is_found_there(setting: dict[str, Any]) -> None:
    late = _windows(setting, "fairness_regression", flip_share=0.4)[3:]
    found = monitoring.compare(setting["baseline"], setting["baseline"].fresh(2000).read(late))
    breaches = monitoring.judge(found, None, POLICY)
    attribute, member = setting["stream"]["group"]
    assert any(b.startswith(f"fairness: {attribute} ") for b in breaches), breaches
    assert not any(b.startswith("data drift") for b in breaches), breaches  # the inputs did not move
    cause = monitoring.root_cause(found, None, POLICY)
    assert (
        cause["degraded_groups"][0]["group"] == member
        and cause["max_gap_increase"] > POLICY.max_fairness_gap_increase
    )
    assert ("MAE" if found["task"] == "regression" else "Predicted classes") in cause["text"]
