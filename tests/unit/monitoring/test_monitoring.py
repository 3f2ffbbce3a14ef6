"""Window profiles against the certified baseline: counted in chunks exactly as in one pass, distances equal to
scipy's, group rates equal to fairlearn's, and each drifting scenario found where the generator put it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import MetricFrame, selection_rate, true_positive_rate
from scipy.spatial.distance import jensenshannon
from sklearn.metrics import accuracy_score

from certification import monitoring
from certification.demo.drift_stream import production_stream

PROTECTED = ["sex", "race"]


@pytest.fixture(scope="module")
def setting(adult_files: dict[str, Path]) -> dict[str, Any]:
    population = pd.read_csv(adult_files["evaluation"])
    model = joblib.load(adult_files["model"])
    features = [c for c in population.columns if c not in ("sex", "race", "income")]
    return {"population": population, "model": model, "features": features}


def _windows(setting: dict[str, Any], scenario: str, **kw: Any) -> list[pd.DataFrame]:
    return list(
        production_stream(
            setting["population"], setting["model"], features=setting["features"], protected=PROTECTED,
            label="income", positive=">50K", scenario=scenario, windows=4, rows_per_window=6000,  # type: ignore[arg-type]
            drift_columns=["age", "hours_per_week"], **kw,
        )
    )  # fmt: skip


def _profile(setting: dict[str, Any], frames: list[pd.DataFrame], bins: Any = None) -> monitoring.Profile:
    bins = bins or monitoring.bins_for(setting["population"], setting["features"])
    return monitoring.Profile(bins, PROTECTED, sample_size=3000).read(frames)


@pytest.fixture(scope="module")
def baseline(setting: dict[str, Any]) -> monitoring.Profile:
    """The certified picture: the evaluation population as the model scored it, every row labelled."""
    population, model, features = setting["population"], setting["model"], setting["features"]
    scored = population.assign(
        prediction=(model.predict(population[features]) == ">50K").astype(int),
        score=model.predict_proba(population[features])[:, 1],
        label=(population["income"] == ">50K").astype(int),
    )
    return _profile(setting, [scored])


def test_chunked_counts_equal_one_pass_and_independent_formulas(
    setting: dict[str, Any], baseline: Any
) -> None:
    window = pd.concat(_windows(setting, "gradual"), ignore_index=True)
    chunks = [window.iloc[i : i + 1700] for i in range(0, len(window), 1700)]
    chunked, whole = _profile(setting, chunks), _profile(setting, [window])
    for column in setting["features"]:
        assert (chunked.features[column] == whole.features[column]).all(), column
    assert chunked.groups == whole.groups and chunked.confusion == whole.confusion
    assert len(chunked.sample) == 3000 and chunked.sample["request_id"].is_unique  # type: ignore[index, arg-type]

    found = monitoring.compare(baseline, chunked)
    edges = baseline.bins["age"].edges
    assert edges is not None
    counts = [np.histogram(frame["age"], np.concatenate([[-np.inf], edges, [np.inf]]))[0] for frame in
              (setting["population"], window)]  # fmt: skip
    assert found["features"]["age"]["jensen_shannon"] == pytest.approx(
        jensenshannon(counts[0], counts[1], base=2)
    )
    shares = [np.maximum(c / c.sum(), 1e-4) for c in counts]
    assert found["features"]["age"]["psi"] == pytest.approx(
        float(np.sum((shares[1] - shares[0]) * np.log(shares[1] / shares[0])))
    )
    labelled = window[window["label"].notna()]
    truth = labelled["label"].astype(int)
    assert found["performance"]["accuracy"]["value"] == pytest.approx(
        accuracy_score(truth, labelled["prediction"])
    )
    by_race = MetricFrame(
        metrics={"selection_rate": selection_rate, "tpr": true_positive_rate},
        y_true=truth, y_pred=labelled["prediction"], sensitive_features=labelled["race"],
    ).by_group  # fmt: skip
    for group, rates in found["groups"]["race"].items():
        for metric in ("selection_rate", "tpr"):
            assert rates["window"][metric]["value"] == pytest.approx(by_race.loc[group, metric], abs=1e-12)


def test_each_scenario_is_found_where_it_was_put(setting: dict[str, Any], baseline: Any) -> None:
    stable = monitoring.compare(baseline, _profile(setting, _windows(setting, "stable")))
    assert max(f["psi"] for f in stable["features"].values()) < 0.05
    assert stable["prediction"]["score_psi"] < 0.05

    sudden = _windows(setting, "sudden")
    before, after = (monitoring.compare(baseline, _profile(setting, sudden[i : i + 1])) for i in (0, 3))
    assert max(f["psi"] for f in before["features"].values()) < 0.05
    assert set(after["most_drifted"][:2]) == {"age", "hours_per_week"}
    assert after["features"]["age"]["psi"] > 0.2 and after["prediction"]["score_psi"] > 0.1
    report = monitoring.evidently_drift(baseline, _profile(setting, sudden[3:]), setting["features"])
    assert (
        "age" in report["drifted_columns"]
        and report["sampled_rows"] == 3000
        and report["window_rows"] == 6000
    )

    regression = _windows(setting, "fairness_regression", group=("sex", "Female"), flip_share=0.3)
    late = monitoring.compare(baseline, _profile(setting, regression[3:]))
    women, men = late["groups"]["sex"]["Female"], late["groups"]["sex"]["Male"]
    assert women["window"]["accuracy"]["ci_upper"] < women["baseline"]["accuracy"]["ci_lower"]
    live = men["window"]["accuracy"]
    assert live["ci_lower"] <= men["baseline"]["accuracy"]["value"] <= live["ci_upper"]
    assert max(f["psi"] for f in late["features"].values()) < 0.05  # the inputs did not move
