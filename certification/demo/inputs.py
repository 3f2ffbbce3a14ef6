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
from certification.demo.datasets import load_adult, load_compas

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

    tracking.register_sklearn(
        settings, model, MODEL_NAME, "candidate", train[features].head(3), SKOPS_TRUSTED, run_name="adult-hgb"
    )
    spec = folder / "adult.yaml"
    shutil.copyfile(str(files("certification.demo") / "specs" / "adult.yaml"), spec)
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
            drift_columns=["age", "hours_per_week"], tilt=1.5, windows=days, rows_per_window=rows, start=start,
            window=timedelta(days=1), model_name=certified.name,
            model_version=certified.registry[1] if certified.registry else "local", **kw,
        )
    )  # fmt: skip
