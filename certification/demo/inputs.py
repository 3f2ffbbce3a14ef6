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


def split_files(table: pd.DataFrame, folder: Path, prefix: str, stratify: str | None) -> dict[str, Path]:
    """`table` split 70/30 (stratified on the column `stratify`, if any) with a fixed seed, written as
    `<prefix>_train.csv` and `<prefix>_evaluation.csv`: the same files on every machine."""
    from sklearn.model_selection import train_test_split

    folder.mkdir(parents=True, exist_ok=True)
    classes = None if stratify is None else table[stratify]
    train, evaluation = train_test_split(table, test_size=0.3, stratify=classes, random_state=0)
    paths = {"train": folder / f"{prefix}_train.csv", "evaluation": folder / f"{prefix}_evaluation.csv"}
    train.to_csv(paths["train"], index=False)
    evaluation.to_csv(paths["evaluation"], index=False)
    return paths


def _example(
    settings: Settings,
    paths: dict[str, Path],
    spec_name: str,
    fit: Any,
    name: str,
    features: list[str],
    **log: Any,
) -> Path:
    """Register the model `fit` makes of the training file as `<name>@candidate` and copy the example spec
    `spec_name` beside the files; returns its path."""
    train = pd.read_csv(paths["train"])
    tracking.register_model(settings, fit(train), name, "candidate", train[features].head(3), **log)
    spec = paths["train"].parent / spec_name
    shutil.copyfile(str(files("certification.demo") / "specs" / spec_name), spec)
    return spec


def hmda_files(folder: Path) -> dict[str, Path]:
    """HMDA split 70/30, stratified on the decision."""
    table = load_hmda()
    table[HMDA_FLAGS] = (table[HMDA_FLAGS] == "yes").astype("int64")
    return split_files(table, folder, "hmda", "deny")


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
    paths = hmda_files(folder or settings.home / "hmda")
    return _example(
        settings, paths, f"hmda-{flavour}.yaml", lambda train: hmda_model(flavour, train), f"hmda-{flavour}",
        HMDA_FEATURES, flavour=flavour, run_name=f"hmda-{flavour}",
    )  # fmt: skip


# a wage model sees the worker's education, experience and job, never their ethnicity (audited only)
CPS_FEATURES = ["education", "experience", "smsa", "region", "parttime"]
CPS_MODEL = "cps-wage-regressor"


def cps_files(folder: Path) -> dict[str, Path]:
    """CPS1988 split 70/30."""
    return split_files(load_cps1988(), folder, "cps", None)


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
    paths = cps_files(folder or settings.home / "cps")
    return _example(
        settings, paths, "cps-wages.yaml", cps_model, CPS_MODEL, CPS_FEATURES, trusted_types=SKOPS_TRUSTED,
        run_name="cps-hgb-gamma",
    )  # fmt: skip


# self-rated health of Medicare members from their use of care and their circumstances; `afam` and `gender` are audited
NMES_CLASSES = ("poor", "average", "excellent")
NMES_FEATURES = [
    "visits", "nvisits", "ovisits", "novisits", "emergency", "hospital", "chronic", "adl", "region", "age",
    "married", "school", "income", "employed", "insurance", "medicaid",
]  # fmt: skip
NMES_MODEL = "nmes-health-classifier"


def nmes_files(folder: Path) -> dict[str, Path]:
    """NMES1988 split 70/30, stratified on self-rated health."""
    return split_files(load_nmes1988(), folder, "nmes", "health")


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
    paths = nmes_files(folder or settings.home / "nmes")
    return _example(
        settings, paths, "nmes-health.yaml", nmes_model, NMES_MODEL, NMES_FEATURES, trusted_types=["numpy.dtype"],
        run_name="nmes-logit",
    )  # fmt: skip


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
