"""Leakage detectors on real UCI Adult data, with planted leaks of known size."""

from __future__ import annotations

import json
import uuid

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from certification.checks.data_validation.leakage import (
    identifier_columns,
    shared_rows,
    single_feature_predictiveness,
)
from certification.demo.datasets import load_adult


@pytest.fixture(scope="module")
def adult() -> pd.DataFrame:
    return load_adult("train")


@pytest.fixture(scope="module")
def split(adult: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A clean 70/30 random split: Adult's 24 duplicate rows are dropped first so no row is on both sides."""
    rows = adult.drop_duplicates().sample(frac=1.0, random_state=0)
    cut = int(len(rows) * 0.7)
    return rows.iloc[:cut], rows.iloc[cut:]


def _planted(copies: pd.DataFrame, prefix: str) -> pd.DataFrame:
    return copies.set_axis([f"{prefix}-{i}" for i in range(len(copies))])


def test_clean_split_shares_no_rows(split: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    train, evaluation = split
    result = shared_rows(train, evaluation, list(train.columns))
    assert result["exact"]["rows"] == result["normalised"]["rows"] == 0
    assert result["exact"]["examples"] == []
    json.dumps(result)


def test_exact_copies_and_disguised_copies(split: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    # Adult's values hold hyphens, not spaces: "Adm clerical" gives the whitespace collapse something to do.
    train, evaluation = (f.assign(occupation=f["occupation"].str.replace("-", " ")) for f in split)
    sample = train.sample(80, random_state=1)
    exact = _planted(sample.iloc[:50], "copy")
    disguised = _planted(sample.iloc[50:], "disguised").assign(
        occupation=lambda f: f["occupation"].str.replace(" ", " \t  "),
        sex=lambda f: f["sex"].str.upper(),
        relationship=lambda f: "  " + f["relationship"].str.swapcase() + " ",
        native_country=lambda f: f["native_country"] + "\n",
    )
    planted = pd.concat([evaluation, exact, disguised])

    result = shared_rows(train, planted, list(train.columns))

    assert result["exact"]["rows"] == 50
    assert result["exact"]["fraction"] == pytest.approx(50 / len(planted))
    assert all(label.startswith("copy-") for label in result["exact"]["examples"])
    assert len(result["exact"]["examples"]) == 5
    assert result["normalised"]["rows"] == 80
    json.dumps(result)


def test_numbers_compare_across_dtypes_and_rounding(split: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    train, evaluation = split
    sample = train.sample(40, random_state=2)
    same = _planted(sample.iloc[:20], "same")
    nudged = _planted(sample.iloc[20:], "nudged").assign(fnlwgt=lambda f: f["fnlwgt"] * (1 + 1e-12))
    planted = pd.concat([evaluation, same, nudged]).astype({"fnlwgt": "float64"})  # int in train, float here

    result = shared_rows(train, planted, list(train.columns))

    assert result["exact"]["rows"] == 20  # 5 (int) equals 5.0 (float) exactly
    assert result["normalised"]["rows"] == 40  # a 1e-12 relative change is below 9 significant digits


@pytest.fixture(scope="module")
def income(adult: pd.DataFrame) -> np.ndarray:
    return (adult["income"] == ">50K").to_numpy()


def test_no_single_feature_leaks_in_adult(adult: pd.DataFrame, income: np.ndarray) -> None:
    features = [c for c in adult.columns if c != "income"]
    result = single_feature_predictiveness(adult, income, features)

    # Measured: relationship 0.777, marital_status 0.767, occupation 0.729 lead; fnlwgt is ~0.51.
    assert result["measure"] == "auc" and 0.7 < result["max_value"] < 0.9
    assert result["worst_feature"] in {"relationship", "marital_status"}
    assert [name for name, _ in result["ranking"]] == sorted(
        features, key=lambda c: -result["per_feature"][c]
    )
    assert result["rows_used"] == len(adult)
    json.dumps(result)


def test_numeric_auc_matches_sklearn(adult: pd.DataFrame, income: np.ndarray) -> None:
    numeric = ["age", "education_num", "capital_gain", "capital_loss", "hours_per_week", "fnlwgt"]
    result = single_feature_predictiveness(adult, income, numeric)
    for column in numeric:
        auc = roc_auc_score(income, adult[column])
        assert result["per_feature"][column] == pytest.approx(max(auc, 1 - auc), abs=1e-12)
        assert result["encoding"][column] == "raw_value"


def test_label_copy_tops_ranking_but_an_id_does_not(adult: pd.DataFrame, income: np.ndarray) -> None:
    rng = np.random.default_rng(0)
    noisy = np.where(rng.random(len(income)) < 0.02, ~income, income).astype(int)
    planted = adult.assign(
        outcome_flag=noisy,
        outcome_text=np.where(noisy == 1, "approved", "declined"),
        record_uuid=[str(uuid.UUID(int=int(rng.integers(2**63)))) for _ in range(len(adult))],
    )
    features = [c for c in planted.columns if c != "income"]

    result = single_feature_predictiveness(planted, income, features)

    assert result["worst_feature"] in {"outcome_flag", "outcome_text"}
    assert {name for name, _ in result["ranking"][:2]} == {"outcome_flag", "outcome_text"}
    assert result["per_feature"]["outcome_flag"] > 0.95
    assert result["per_feature"]["outcome_text"] > 0.95  # target encoding catches a text copy too
    # A unique id would be perfectly "predictive" if encoded in-sample; out of fold it carries nothing.
    assert result["per_feature"]["record_uuid"] == pytest.approx(0.5, abs=0.03)


def test_predictiveness_subsamples_and_handles_missing(adult: pd.DataFrame, income: np.ndarray) -> None:
    assert adult["occupation"].isna().any()  # Adult's '?' values
    result = single_feature_predictiveness(adult, income, ["occupation", "age"], max_rows=5_000, seed=3)
    assert result["rows_used"] == 5_000
    assert 0.6 < result["per_feature"]["occupation"] < 0.8


def test_identifier_columns(adult: pd.DataFrame) -> None:
    assert identifier_columns(adult, list(adult.columns))["columns"] == {}

    rng = np.random.default_rng(0)
    planted = adult.sample(frac=1.0, random_state=0).assign(
        uuid=[str(uuid.UUID(int=int(rng.integers(2**63)))) for _ in range(len(adult))],
        row_number=np.arange(len(adult)),
        customer_id=rng.integers(0, 40_000, len(adult)),  # repeats, but an id by name and cardinality
    )
    flagged = identifier_columns(planted, list(planted.columns))["columns"]

    assert set(flagged) == {"uuid", "row_number", "customer_id"}
    assert "monotone integer sequence" in flagged["row_number"]
    assert "distinct value" in flagged["uuid"]
    assert "id-like name" in flagged["customer_id"]


def test_single_feature_r2_finds_a_planted_leak_in_wages() -> None:
    """Regression: the cross-fitted R² of one feature alone. In CPS1988 no input explains much of the wage on its
    own; a copy of the wage with noise does, and a row id (every value unseen out of fold) explains nothing."""
    from sklearn.metrics import r2_score

    from certification.demo.datasets import load_cps1988

    wages = load_cps1988().sample(5000, random_state=0).reset_index(drop=True)
    rng = np.random.default_rng(0)
    planted = wages.assign(
        wage_band=wages["wage"] * rng.normal(1.0, 0.05, len(wages)),
        row_id=[uuid.uuid4().hex for _ in wages.index],
    )
    features = ["education", "experience", "smsa", "region", "parttime", "wage_band", "row_id"]
    result = single_feature_predictiveness(planted, planted["wage"].to_numpy(), features, task="regression")

    assert result["measure"] == "r2" and result["worst_feature"] == "wage_band"
    assert result["max_value"] > 0.9 and result["per_feature"]["row_id"] < 0.01
    assert max(v for f, v in result["per_feature"].items() if f not in ("wage_band", "row_id")) < 0.2
    # a categorical input's R² is that of its out-of-fold group means: close to the in-sample one for few levels
    in_sample = r2_score(wages["wage"], wages.groupby("region")["wage"].transform("mean"))
    assert result["per_feature"]["region"] == pytest.approx(in_sample, abs=0.01)
    assert set(result["mutual_information"]) == set(features)
    json.dumps(result)
