"""Profiling: Evidently's numbers, read from its snapshot, agree with pandas / scipy on real UCI Adult data."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial import distance

from certification.checks.data_validation.profiling import (
    category_sets,
    dictionary,
    quality_profile,
    shift_summary,
)
from certification.demo.datasets import load_adult
from certification.errors import InputError

TOL = 1e-9


@pytest.fixture(scope="module")
def adult() -> pd.DataFrame:
    return load_adult("train")


@pytest.fixture(scope="module")
def features(adult: pd.DataFrame) -> list[str]:
    return [c for c in adult.columns if c != "income"]


@pytest.fixture(scope="module")
def split(adult: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    shuffled = adult.sample(frac=1.0, random_state=0).reset_index(drop=True)
    cut = int(len(shuffled) * 0.7)
    return shuffled.iloc[:cut], shuffled.iloc[cut:].reset_index(drop=True)


@pytest.fixture(scope="module")
def profiled(adult: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, Any, Path]:
    index = np.arange(len(adult))
    frame = adult.assign(
        const="x",
        const_num=7,
        almost=np.where(index % 25 == 0, "b", "a"),  # most frequent value share 0.96
        flag=adult["sex"] == "Male",
    )
    html = tmp_path_factory.mktemp("profile") / "reports" / "quality.html"
    # hours_per_week (94 distinct values) forced categorical: exercises the override and the 50-category cap.
    return frame, quality_profile(frame, label="income", categorical=["hours_per_week"], html_path=html), html


def test_profile_dataset_numbers_match_pandas(profiled: tuple[pd.DataFrame, Any, Path]) -> None:
    frame, profile, _ = profiled
    json.dumps(profile, allow_nan=False)  # JSON-safe
    assert (profile["rows"], profile["columns"]) == frame.shape
    assert profile["duplicated_rows"] == frame.duplicated().sum() > 0
    assert profile["duplicated_fraction"] == pytest.approx(frame.duplicated().mean(), abs=TOL)
    assert profile["missing_fraction"] == pytest.approx(frame.isna().sum().sum() / frame.size, abs=TOL)


def test_profile_columns_match_pandas(profiled: tuple[pd.DataFrame, Any, Path]) -> None:
    frame, profile, _ = profiled
    per_column = profile["per_column"]
    assert list(per_column) == list(frame.columns)
    for column, stats_ in per_column.items():
        series = frame[column]
        assert stats_["missing_fraction"] == pytest.approx(series.isna().mean(), abs=TOL), column
        assert stats_["unique"] == series.nunique(), column
        assert stats_["top_share"] == pytest.approx(series.value_counts().max() / len(series), abs=TOL), (
            column
        )
        if stats_["type"] == "numerical":
            assert (stats_["min"], stats_["max"]) == (series.min(), series.max()), column
            assert stats_["mean"] == pytest.approx(series.mean(), rel=1e-12), column
    assert per_column["workclass"]["missing_fraction"] > 0.05  # Adult's "?" really is missing
    kinds = {c: s["type"] for c, s in per_column.items()}
    assert kinds["age"] == kinds["fnlwgt"] == "numerical"
    assert kinds["income"] == kinds["flag"] == kinds["hours_per_week"] == kinds["race"] == "categorical"
    assert per_column["race"]["categories"] == sorted(frame["race"].unique())
    assert per_column["flag"]["categories"] == ["False", "True"]
    hours = sorted(frame["hours_per_week"].unique())[:50]
    assert per_column["hours_per_week"]["categories"] == [str(v) for v in hours]  # numeric order, capped
    # fnlwgt has ~21k distinct values: too costly for Evidently's per-value counting.
    assert profile["counted_in_pandas"] == ["fnlwgt"]


def test_profile_lists_constant_and_almost_constant_columns(profiled: tuple[pd.DataFrame, Any, Path]) -> None:
    frame, profile, _ = profiled
    assert profile["constant_columns"] == ["const", "const_num"]
    shares = {c: frame[c].value_counts().max() / len(frame) for c in frame.columns}
    expected = [c for c, share in shares.items() if share >= 0.95]
    assert profile["almost_constant_columns"] == expected
    assert {"const", "const_num", "almost", "capital_loss"} <= set(expected)
    assert "capital_gain" not in expected  # 0.917 zeros


def test_profile_writes_the_evidently_html(profiled: tuple[pd.DataFrame, Any, Path]) -> None:
    _, _, html = profiled
    text = html.read_text(encoding="utf-8")
    assert len(text) > 100_000 and "<html" in text.lower() and "capital_loss" in text


def test_profile_requires_the_label(adult: pd.DataFrame) -> None:
    with pytest.raises(InputError, match="nope"):
        quality_profile(adult, label="nope")


def test_random_split_of_the_same_data_does_not_drift(
    split: tuple[pd.DataFrame, pd.DataFrame], features: list[str]
) -> None:
    train, evaluation = split
    summary = shift_summary(train, evaluation, columns=features)
    json.dumps(summary, allow_nan=False)
    assert summary["drifted_columns"] == [] and summary["drifted_share"] == 0.0
    assert set(summary["per_column"]) == set(features)
    assert all(0 <= s["score"] < 0.05 for s in summary["per_column"].values())
    methods = {c: s["method"] for c, s in summary["per_column"].items()}
    assert methods["age"] == "wasserstein" and methods["race"] == "jensenshannon"
    scores = [r["score"] for r in summary["ranking"]]
    assert scores == sorted(scores, reverse=True)


def test_planted_shifts_drift_and_scores_match_scipy(
    split: tuple[pd.DataFrame, pd.DataFrame], features: list[str], tmp_path: Path
) -> None:
    train, evaluation = split
    shifted = evaluation.copy()
    shifted["age"] = shifted["age"] + 15
    races = sorted(train["race"].unique())
    shifted["race"] = np.random.default_rng(1).choice(
        races, size=len(shifted)
    )  # uniform instead of 85% White
    html = tmp_path / "shift.html"
    summary = shift_summary(train, shifted, columns=features, html_path=html, threshold=0.1)

    assert sorted(summary["drifted_columns"]) == ["age", "race"]
    assert {r["column"] for r in summary["ranking"][:2]} == {"age", "race"}
    assert summary["drifted_share"] == pytest.approx(2 / len(features))
    # Evidently normalises by the population std (ddof=0) of the reference, floored at 0.001.
    for column in ("age", "hours_per_week", "capital_gain"):
        ref, cur = train[column].dropna(), shifted[column].dropna()
        expected = stats.wasserstein_distance(ref, cur) / max(float(np.std(ref)), 0.001)
        assert summary["per_column"][column]["score"] == pytest.approx(expected, abs=1e-6), column
    ref_share = train["race"].value_counts(normalize=True).reindex(races, fill_value=0)
    cur_share = shifted["race"].value_counts(normalize=True).reindex(races, fill_value=0)
    expected_js = distance.jensenshannon(ref_share.to_numpy(), cur_share.to_numpy())
    assert summary["per_column"]["race"]["score"] == pytest.approx(expected_js, abs=1e-6)
    assert html.stat().st_size > 100_000


def test_sampling_is_recorded_and_reproducible(split: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    train, evaluation = split
    first, second = (shift_summary(train, evaluation, columns=["age", "sex"], sample=4000) for _ in range(2))
    assert first["per_column"] == second["per_column"]
    assert first["sample"] == {
        "requested": 4000,
        "seed": 0,
        "reference_rows": 4000,
        "current_rows": 4000,
        "reference_rows_total": len(train),
        "current_rows_total": len(evaluation),
    }


def test_empty_columns_are_skipped_and_bad_columns_rejected(split: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    train, evaluation = split
    emptied = evaluation.assign(occupation=None)
    summary = shift_summary(train, emptied, columns=["age", "occupation"])
    assert summary["skipped"] == {"occupation": "no non-missing values"} and list(summary["per_column"]) == [
        "age"
    ]
    with pytest.raises(InputError, match="nope"):
        shift_summary(train, evaluation, columns=["age", "nope"])


def test_category_sets_report_unseen_and_absent_values(split: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    train, evaluation = split
    changed = evaluation.copy()
    changed.loc[:9, "native_country"] = "Atlantis"
    changed = changed[changed["workclass"] != "Never-worked"]
    sets = category_sets(train, changed, ["age", "native_country", "workclass"])
    assert list(sets) == ["native_country", "workclass"]  # numerical columns are not category sets
    # Real data has its own: "Holand-Netherlands" occurs once in Adult, so one side of a split lacks it.
    expected = set(changed["native_country"].dropna()) - set(train["native_country"].dropna())
    assert "Atlantis" in expected and sets["native_country"]["unseen"] == sorted(expected)
    assert sets["workclass"] == {"unseen": [], "absent": ["Never-worked"]}


def test_importing_the_module_does_not_import_evidently() -> None:
    code = "import sys, certification.checks.data_validation.profiling; assert 'evidently' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_data_dictionary_counts_every_column_of_every_dataset() -> None:
    train = pd.DataFrame(
        {"age": [20, 30, None, 50], "sex": ["F", "M", "M", None], "id": ["a", "b", "c", "d"]}
    )
    evaluation = pd.DataFrame({"age": [40.0, 41.0], "sex": ["F", "F"]})
    roles = {"model input": ["age"], "protected attribute": ["sex"]}
    entries = {e["column"]: e for e in dictionary({"train": train, "evaluation": evaluation}, roles)}
    assert list(entries) == ["age", "sex", "id"]
    age, sex, unused = entries["age"], entries["sex"], entries["id"]
    assert (age["kind"], age["roles"], unused["roles"]) == ("numerical", ["model input"], [])
    assert age["datasets"]["train"] == {
        "missing_share": 0.25,
        "distinct": 3,
        "min": 20.0,
        "median": 30.0,
        "max": 50.0,
    }
    assert sex["kind"] == "categorical" and sex["roles"] == ["protected attribute"]
    assert sex["datasets"]["train"]["top"] == {"M": 2 / 3, "F": 1 / 3}  # shares of the non-missing values
    assert sex["datasets"]["evaluation"] == {"missing_share": 0.0, "distinct": 1, "top": {"F": 1.0}}
    assert set(unused["datasets"]) == {"train"}
