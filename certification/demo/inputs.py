"""Demo inputs: UCI Adult split into train/evaluation files, a registered MLflow model, the embedded specs, and days of
production for a certified model."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta
from importlib.resources import files
from pathlib import Path
from typing import Any

import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder

from certification import tracking
from certification.config import Settings
from certification.demo.datasets import load_adult, load_compas, load_cps1988, load_hmda, load_nmes1988

MODEL_NAME = "adult-income-classifier"
PROTECTED = ("sex", "race")
# skops (not pickle) stores the model; these are the reviewed types a HistGradientBoosting pipeline needs.
SKOPS_TRUSTED = ["numpy.dtype", "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"]


def adult_model(train: pd.DataFrame, features: list[str], classifier: Any = None) -> Pipeline:
    categorical = [c for c in features if not pd.api.types.is_numeric_dtype(train[c])]
    encode = make_pipeline(
        SimpleImputer(strategy="constant", fill_value="missing"),
        OneHotEncoder(handle_unknown="ignore", sparse_output=False),
    )
    columns = ColumnTransformer([("categorical", encode, categorical)], remainder="passthrough")
    model = make_pipeline(
        columns, HistGradientBoostingClassifier(random_state=0) if classifier is None else classifier
    )
    return model.fit(train[features], train["income"])


def prepare(settings: Settings, folder: Path | None = None) -> Path:
    """Write the demo files, register a freshly trained model as `candidate`, return the spec path."""
    folder = folder or settings.home / "demo"
    folder.mkdir(parents=True, exist_ok=True)
    train, evaluation = load_adult("train"), load_adult("test")
    train.to_csv(folder / "train.csv", index=False)
    evaluation.to_csv(folder / "evaluation.csv", index=False)
    features = [c for c in train.columns if c not in (*PROTECTED, "income")]
    model = adult_model(train, features)

    tracking.register_model(
        settings,
        model,
        MODEL_NAME,
        "candidate",
        train[features].head(3),
        trusted_types=SKOPS_TRUSTED,
        run_name="adult-hgb",
    )
    spec = folder / "adult.yaml"
    shutil.copyfile(str(files("certification.demo") / "specs" / "adult.yaml"), spec)
    return spec


# the applicant's yes/no answers go to the boosters as 0/1; `afam` stays as recorded (audited, never an input)
HMDA_FLAGS = ["phist", "selfemp", "insurance", "condomin", "single", "hschool"]
HMDA_FEATURES = ["pirat", "hirat", "lvrat", "chist", "mhist", "unemp", *HMDA_FLAGS]
HMDA_FLAVOURS = ("lightgbm", "xgboost")


def hmda_files(folder: Path) -> dict[str, Path]:
    """HMDA split 70/30, stratified on the decision, with a fixed seed: the same files on every machine."""
    from sklearn.model_selection import train_test_split

    folder.mkdir(parents=True, exist_ok=True)
    table = load_hmda()
    table[HMDA_FLAGS] = (table[HMDA_FLAGS] == "yes").astype("int64")
    train, evaluation = train_test_split(table, test_size=0.3, stratify=table["deny"], random_state=0)
    paths = {"train": folder / "hmda_train.csv", "evaluation": folder / "hmda_evaluation.csv"}
    train.to_csv(paths["train"], index=False)
    evaluation.to_csv(paths["evaluation"], index=False)
    return paths


def hmda_model(flavour: str, train: pd.DataFrame) -> Any:
    """A denial model as a lender would fit it with the flavour's own scikit-learn interface."""
    denied = (train["deny"] == "yes").astype(int)
    if flavour == "xgboost":
        from xgboost import XGBClassifier

        model: Any = XGBClassifier(
            n_estimators=200, max_depth=3, learning_rate=0.05, random_state=0, n_jobs=1
        )
    else:
        from lightgbm import LGBMClassifier

        model = LGBMClassifier(
            n_estimators=200, learning_rate=0.05, num_leaves=15, random_state=0, n_jobs=1, verbose=-1
        )
    return model.fit(train[HMDA_FEATURES], denied)


def prepare_hmda(settings: Settings, flavour: str, folder: Path | None = None) -> Path:
    """The HMDA files, a model of `flavour` logged with its own MLflow flavour as `hmda-<flavour>@candidate`, and
    the example spec `hmda-<flavour>.yaml` beside them; returns the spec path."""
    folder = folder or settings.home / "hmda"
    paths = hmda_files(folder)
    train = pd.read_csv(paths["train"])
    tracking.register_model(
        settings,
        hmda_model(flavour, train),
        f"hmda-{flavour}",
        "candidate",
        train[HMDA_FEATURES].head(3),
        flavour=flavour,
        run_name=f"hmda-{flavour}",
    )
    spec = folder / f"hmda-{flavour}.yaml"
    shutil.copyfile(str(files("certification.demo") / "specs" / spec.name), spec)
    return spec


# a wage model sees the worker's education, experience and job, never their ethnicity (audited only)
CPS_FEATURES = ["education", "experience", "smsa", "region", "parttime"]
CPS_MODEL = "cps-wage-regressor"


def cps_files(folder: Path) -> dict[str, Path]:
    """CPS1988 split 70/30 with a fixed seed: the same files on every machine."""
    from sklearn.model_selection import train_test_split

    folder.mkdir(parents=True, exist_ok=True)
    train, evaluation = train_test_split(load_cps1988(), test_size=0.3, random_state=0)
    paths = {"train": folder / "cps_train.csv", "evaluation": folder / "cps_evaluation.csv"}
    train.to_csv(paths["train"], index=False)
    evaluation.to_csv(paths["evaluation"], index=False)
    return paths


def cps_model(train: pd.DataFrame) -> Pipeline:
    """Weekly wage from education, experience and the job: a gradient-boosted regressor with the gamma loss, since
    wages are positive and their spread grows with their level."""
    from sklearn.ensemble import HistGradientBoostingRegressor

    categorical = [c for c in CPS_FEATURES if not pd.api.types.is_numeric_dtype(train[c])]
    columns = ColumnTransformer(
        [("categorical", OneHotEncoder(handle_unknown="ignore", sparse_output=False), categorical)],
        remainder="passthrough",
    )
    regressor = HistGradientBoostingRegressor(loss="gamma", max_iter=200, learning_rate=0.05, random_state=0)
    return make_pipeline(columns, regressor).fit(train[CPS_FEATURES], train["wage"])


def prepare_cps(settings: Settings, folder: Path | None = None) -> Path:
    """The CPS1988 files, a wage regressor registered as `cps-wage-regressor@candidate`, and the example spec
    `cps-wages.yaml` beside them; returns the spec path."""
    folder = folder or settings.home / "cps"
    paths = cps_files(folder)
    train = pd.read_csv(paths["train"])
    tracking.register_model(
        settings,
        cps_model(train),
        CPS_MODEL,
        "candidate",
        train[CPS_FEATURES].head(3),
        trusted_types=SKOPS_TRUSTED,
        run_name="cps-hgb-gamma",
    )
    spec = folder / "cps-wages.yaml"
    shutil.copyfile(str(files("certification.demo") / "specs" / spec.name), spec)
    return spec


# self-rated health of Medicare members from their use of care and their circumstances; `afam` and `gender` are audited
NMES_CLASSES = ("poor", "average", "excellent")
NMES_FEATURES = [
    "visits", "nvisits", "ovisits", "novisits", "emergency", "hospital", "chronic", "adl", "region", "age",
    "married", "school", "income", "employed", "insurance", "medicaid",
]  # fmt: skip
NMES_MODEL = "nmes-health-classifier"


def nmes_files(folder: Path) -> dict[str, Path]:
    """NMES1988 split 70/30, stratified on self-rated health, with a fixed seed: the same files on every machine."""
    from sklearn.model_selection import train_test_split

    folder.mkdir(parents=True, exist_ok=True)
    table = load_nmes1988()
    train, evaluation = train_test_split(table, test_size=0.3, stratify=table["health"], random_state=0)
    paths = {"train": folder / "nmes_train.csv", "evaluation": folder / "nmes_evaluation.csv"}
    train.to_csv(paths["train"], index=False)
    evaluation.to_csv(paths["evaluation"], index=False)
    return paths


def nmes_model(train: pd.DataFrame) -> Pipeline:
    """A multinomial logistic regression on the quantiles of the counts (a member with 80 visits is not
    extrapolated) and one-hot answers, gaps imputed, each class weighted by the inverse square root of its share:
    'poor' and 'excellent' are rare (13% and 8%), and unweighted the model would hardly ever predict them."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import QuantileTransformer

    shares = train["health"].value_counts(normalize=True)
    weights = {str(c): float(shares[c] ** -0.5) for c in NMES_CLASSES}
    categorical = [c for c in NMES_FEATURES if not pd.api.types.is_numeric_dtype(train[c])]
    numeric = [c for c in NMES_FEATURES if c not in categorical]
    answers = make_pipeline(
        SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore", sparse_output=False)
    )
    counts = make_pipeline(SimpleImputer(strategy="median"), QuantileTransformer(n_quantiles=100))
    columns = ColumnTransformer([("categorical", answers, categorical), ("numeric", counts, numeric)])
    classifier = LogisticRegression(max_iter=3000, class_weight=weights)
    return make_pipeline(columns, classifier).fit(train[NMES_FEATURES], train["health"])


def prepare_nmes(settings: Settings, folder: Path | None = None) -> Path:
    """The NMES1988 files, a health-status classifier registered as `nmes-health-classifier@candidate`, and the
    example spec `nmes-health.yaml` beside them; returns the spec path."""
    folder = folder or settings.home / "nmes"
    paths = nmes_files(folder)
    train = pd.read_csv(paths["train"])
    tracking.register_model(
        settings,
        nmes_model(train),
        NMES_MODEL,
        "candidate",
        train[NMES_FEATURES].head(3),
        trusted_types=["numpy.dtype"],
        run_name="nmes-logit",
    )
    spec = folder / "nmes-health.yaml"
    shutil.copyfile(str(files("certification.demo") / "specs" / spec.name), spec)
    return spec


COMPAS_COLUMNS = [
    "id",
    "sex",
    "age",
    "race",
    "juv_fel_count",
    "juv_misd_count",
    "juv_other_count",
    "priors_count",
    "c_charge_degree",
    "decile_score",
    "score_text",
    "two_year_recid",
]


def write_compas_predictions(folder: Path) -> Path:
    """The score-only demo: ProPublica's COMPAS table as a vendor predictions file, plus its spec."""
    folder.mkdir(parents=True, exist_ok=True)
    table = load_compas()[COMPAS_COLUMNS]
    table.assign(risk_score=table["decile_score"] / 10).to_csv(folder / "compas_predictions.csv", index=False)
    spec = folder / "compas.yaml"
    shutil.copyfile(str(files("certification.demo") / "specs" / "compas.yaml"), spec)
    return spec


def production_days(
    pipeline: Any, run_id: str, scenario: str, start: datetime, *, days: int = 2, rows: int = 5_000, **kw: Any
) -> list[pd.DataFrame]:
    """Days of production for a certified run's model from the drifting-stream generator, the change (if any) from
    the middle day on: the certified evaluation population, scored by the certified model."""
    from certification.demo.drift_stream import production_stream
    from certification.monitoring import monitored

    certified = next(c for c in monitored(pipeline.ledger) if c.run_id == run_id)
    ctx = pipeline.open_context(run_id)
    return list(
        production_stream(
            ctx.evaluation, ctx.model.estimator, features=ctx.features, protected=ctx.spec.protected_attributes,
            label=ctx.spec.label.column, positive=ctx.spec.label.positive, scenario=scenario,  # type: ignore[arg-type]
            classes=ctx.classes if ctx.task == "multiclass" else None,
            drift_columns=kw.pop("drift_columns", ["age", "hours_per_week"]), tilt=kw.pop("tilt", 1.5),
            windows=days, rows_per_window=rows, start=start,
            window=timedelta(days=1), model_name=certified.name,
            model_version=certified.registry[1] if certified.registry else "local", **kw,
        )
    )  # fmt: skip
