"""The drifting production stream and the inference log: real Adult rows scored by the real model, written to and
read back from real PostgreSQL and Parquet in chunks, with the drift each scenario promises checked by scipy and
fairlearn rather than by the generator's own arithmetic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import MetricFrame, false_negative_rate, selection_rate
from scipy.stats import ks_2samp
from sqlalchemy import create_engine, text

from certification.demo.drift_stream import production_stream
from certification.monitoring import inference_log
from certification.monitoring.inference_log import TABLE, read_window

FEATURES = [
    "age",
    "workclass",
    "education_num",
    "marital_status",
    "occupation",
    "hours_per_week",
    "capital_gain",
]
PROTECTED = ["sex", "race"]
START = datetime(2027, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def population(adult_files: dict[str, Path]) -> pd.DataFrame:
    return pd.read_csv(adult_files["evaluation"])


@pytest.fixture(scope="module")
def model(adult_files: dict[str, Path]) -> Any:
    return joblib.load(adult_files["model"])


def _stream(population: pd.DataFrame, model: Any, scenario: str, **kw: Any) -> list[pd.DataFrame]:
    features = [c for c in population.columns if c not in ("sex", "race", "income")]
    settings: dict[str, Any] = {"drift_columns": ["age", "hours_per_week"], "tilt": 1.0, **kw}
    return list(
        production_stream(
            population, model, features=features, protected=PROTECTED, label="income", positive=">50K",
            scenario=scenario, windows=6, rows_per_window=4000, model_name="adult", **settings,  # type: ignore[arg-type]
        )
    )  # fmt: skip


def test_windows_are_deterministic_logs_of_real_scores(population: pd.DataFrame, model: Any) -> None:
    first, again = _stream(population, model, "stable"), _stream(population, model, "stable")
    assert all(a.equals(b) for a, b in zip(first, again, strict=True))
    window = first[2]
    assert window["logged_at"].between(START + timedelta(days=2), START + timedelta(days=3)).all()
    assert window["request_id"].is_unique
    features = [c for c in population.columns if c not in ("sex", "race", "income")]
    assert np.allclose(window["score"], model.predict_proba(window[features])[:, 1])
    assert 0.77 < window["label"].notna().mean() < 0.83
    assert (window["labelled_at"].notna() == window["label"].notna()).all()
    assert (window["labelled_at"].dropna() > window["logged_at"][window["label"].notna()]).all()


def test_stable_gradual_and_sudden_drift(population: pd.DataFrame, model: Any) -> None:
    stable, gradual, sudden = (_stream(population, model, s) for s in ("stable", "gradual", "sudden"))
    reference = population["age"]
    assert min(ks_2samp(w["age"], reference).pvalue for w in stable) > 0.001
    ages = [w["age"].mean() for w in gradual]
    assert all(b > a for a, b in zip(ages, ages[1:], strict=False)) and ages[-1] - ages[0] > 5
    assert ks_2samp(gradual[-1]["age"], reference).pvalue < 1e-10
    steps = np.diff([w["age"].mean() for w in sudden])
    assert np.argmax(steps) == 2 and steps[2] > 5 and np.abs(np.delete(steps, 2)).max() < 1
    # the population moved, so the decisions moved with it: prediction drift follows data drift
    assert sudden[-1]["prediction"].mean() > sudden[0]["prediction"].mean() + 0.05


def test_fairness_regression_hits_one_group_only(population: pd.DataFrame, model: Any) -> None:
    windows = _stream(population, model, "fairness_regression", group=("sex", "Female"), flip_share=0.3)

    def by_sex(frame: pd.DataFrame) -> MetricFrame:
        labelled = frame[frame["label"].notna()]
        return MetricFrame(
            metrics={"fnr": false_negative_rate, "selection": selection_rate},
            y_true=labelled["label"].astype(int),
            y_pred=labelled["prediction"],
            sensitive_features=labelled["sex"],
        )

    before, after = by_sex(windows[0]).by_group, by_sex(windows[-1]).by_group
    assert after.loc["Female", "fnr"] > before.loc["Female", "fnr"] + 0.2
    assert abs(after.loc["Male", "fnr"] - before.loc["Male", "fnr"]) < 0.05
    assert abs(after.loc["Female", "selection"] - before.loc["Female", "selection"]) < 0.03  # same inputs
    assert ks_2samp(windows[-1]["age"], population["age"]).pvalue > 0.001  # and no data drift


def test_bad_scenarios_are_refused(population: pd.DataFrame, model: Any) -> None:
    with pytest.raises(ValueError, match="group"):
        _stream(population, model, "fairness_regression")
    with pytest.raises(ValueError, match="scenario"):
        _stream(population, model, "sideways")


def _same_rows(read: pd.DataFrame, written: pd.DataFrame) -> None:
    read = read.sort_values("request_id").reset_index(drop=True)
    written = written.sort_values("request_id").reset_index(drop=True)
    assert list(read.columns) == inference_log.columns(FEATURES, PROTECTED)
    for column in read.columns:
        if column in ("logged_at", "labelled_at"):
            back = pd.to_datetime(read[column], utc=True)
            assert ((back == written[column]) | (back.isna() & written[column].isna())).all(), column
        elif pd.api.types.is_numeric_dtype(
            written[column]
        ):  # PostgreSQL's JSON gives numbers back as doubles
            np.testing.assert_allclose(
                read[column].astype(float), written[column].astype(float), err_msg=column
            )
        else:
            assert read[column].astype(str).tolist() == written[column].astype(str).tolist(), column


def test_postgres_log_round_trip_in_chunks_and_replay(
    population: pd.DataFrame, model: Any, postgres_database: str
) -> None:
    windows = _stream(population, model, "gradual")
    inference_log.init_schema(postgres_database)
    inference_log.init_schema(postgres_database)  # idempotent
    assert [inference_log.write_postgres(w, postgres_database, FEATURES, PROTECTED) for w in windows[:3]] == [
        4000
    ] * 3
    assert (
        inference_log.write_postgres(windows[1], postgres_database, FEATURES, PROTECTED) == 0
    )  # a replay adds nothing
    engine = create_engine(postgres_database)
    with engine.connect() as conn:
        assert conn.execute(text(f"SELECT count(*) FROM {TABLE}")).scalar() == 12_000
    engine.dispose()
    day = START + timedelta(days=1)
    chunks = list(
        read_window(postgres_database, "adult", day, day + timedelta(days=1), FEATURES, PROTECTED,
                    numeric=["age", "education_num", "hours_per_week", "capital_gain"], chunk_rows=1500)
    )  # fmt: skip
    assert [len(c) for c in chunks] == [1500, 1500, 1000]
    _same_rows(pd.concat(chunks), windows[1])
    assert not list(read_window(postgres_database, "other-model", START, day, FEATURES, PROTECTED))


def test_parquet_log_round_trip_in_chunks(population: pd.DataFrame, model: Any, tmp_path: Path) -> None:
    windows = _stream(population, model, "sudden")
    for i, window in enumerate(windows):
        inference_log.write_parquet(window, tmp_path, f"window-{i}")
    inference_log.write_parquet(windows[4], tmp_path, "window-4")  # replayed: replaced, not doubled
    (tmp_path / "README.txt").write_text("other files in the folder are not read")
    day = START + timedelta(days=4)
    chunks = list(
        read_window(tmp_path, "adult", day, day + timedelta(days=1), FEATURES, PROTECTED, chunk_rows=1000)
    )
    assert max(len(c) for c in chunks) <= 1000 and sum(len(c) for c in chunks) == 4000
    _same_rows(pd.concat(chunks), windows[4])
