"""Models registered the ordinary way with their own MLflow flavours (XGBoost, LightGBM) load with the flavour's
native loader and go through `certify run` to a verdict; a custom python_function model is certified under the pyfunc
contract (one positive-class probability per row) and, breaking it, fails closed with the model named."""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest

from certification import Pipeline
from certification.cli import ERROR, main
from certification.config import settings
from certification.demo.inputs import HMDA_FLAVOURS, prepare_hmda
from certification.errors import InputError
from certification.hashing import tree_sha256
from certification.models import load_registered
from certification.spec import load_spec
from tests.helpers import cli_verdict, digest_before_later_fields

# a native booster takes numbers: the owner's model uses Adult's numeric answers (sex and race are not inputs)
NUMERIC = ["age", "fnlwgt", "education_num", "capital_gain", "capital_loss", "hours_per_week"]
FLAVOURS = ["xgboost", "lightgbm"]
# a first certification has no champion; the example declares no consent column or confidence fallback
NOT_JUDGED_HERE = {
    "evaluation.champion_challenger",
    "compliance.consent_retention",
    "robustness.confidence_fallback",
}


def _fit(flavour: str, train: pd.DataFrame) -> Any:
    labels = (train["income"] == ">50K").astype(int)
    if flavour == "xgboost":
        from xgboost import XGBClassifier

        return XGBClassifier(n_estimators=100, max_depth=4, random_state=0).fit(train[NUMERIC], labels)
    from lightgbm import LGBMClassifier

    return LGBMClassifier(n_estimators=100, random_state=0, verbose=-1).fit(train[NUMERIC], labels)


def _register(flavour: str, model: Any, name: str) -> None:
    import mlflow

    with mlflow.start_run():
        importlib.import_module(f"mlflow.{flavour}").log_model(
            model, name="model", registered_model_name=name, pip_requirements=[flavour]
        )


@pytest.fixture
def registered(request: pytest.FixtureRequest, home: Path, adult_files: dict[str, Path]) -> tuple[str, Any]:
    flavour = request.param
    model = _fit(flavour, pd.read_csv(adult_files["train"]))
    _register(flavour, model, f"{flavour}-native")
    return flavour, model


@pytest.mark.parametrize("registered", FLAVOURS, indirect=True)
def test_a_native_flavour_loads_with_its_own_loader(
    registered: tuple[str, Any], adult_files: dict[str, Path]
) -> None:
    flavour, fitted = registered
    loaded = load_registered(f"models:/{flavour}-native/1")
    assert (loaded.flavour, loaded.reference, loaded.registry) == (
        flavour,
        f"models:/{flavour}-native/1",
        (f"{flavour}-native", "1"),
    )
    assert type(loaded.estimator) is type(fitted)
    import mlflow

    local = Path(mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{flavour}-native/1"))
    assert loaded.sha256 == tree_sha256(local)
    rows = pd.read_csv(adult_files["evaluation"])[NUMERIC]
    np.testing.assert_array_equal(loaded.estimator.predict_proba(rows), fitted.predict_proba(rows))


@pytest.mark.parametrize("registered", FLAVOURS, indirect=True)
def test_a_native_flavour_is_certified_end_to_end(
    registered: tuple[str, Any], write_spec, capsys: pytest.CaptureFixture[str]
) -> None:
    flavour, _ = registered
    spec = write_spec(lambda s: s.update(model={"uri": f"models:/{flavour}-native/1"}))
    code = main(["--json", "run", str(spec), "--submitted-by", "dana"])
    status, results = cli_verdict(capsys.readouterr().out, code)
    for refit_or_query in ("evaluation.cross_validation", "evaluation.latency", "robustness.evasion"):
        assert results[refit_or_query]["status"] in ("pass", "warn", "fail"), results[refit_or_query]
    assert status["run"]["model_reference"] == f"models:/{flavour}-native/1"


def _pyfunc(pipeline: Any, name: str, answer: str = "table") -> None:
    """Register a custom python_function model around a fitted pipeline; `answer` says how it answers."""
    import mlflow

    class Answering(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
        def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> Any:
            score = pipeline.predict_proba(model_input)[:, 1]
            if answer == "NaN":
                score[::7] = np.nan
            if answer == "out of range":
                score = score * 2
            if answer == "three columns":
                return np.column_stack([score, score, score])
            return pd.DataFrame({"approve_probability": score, "band": np.where(score > 0.5, "A", "B")})

    with mlflow.start_run():
        mlflow.pyfunc.log_model(
            name="model", python_model=Answering(), registered_model_name=name, pip_requirements=["mlflow"]
        )


def _pyfunc_spec(model: dict[str, Any], adult_files: dict[str, Path]):  # type: ignore[no-untyped-def]
    features = list(joblib.load(adult_files["model"]).feature_names_in_)
    return lambda s: s.update(model={**model, "features": features})


def test_a_custom_pyfunc_is_certified_under_its_contract(
    home: Path, adult_files: dict[str, Path], write_spec, capsys: pytest.CaptureFixture[str]
) -> None:
    pipeline = joblib.load(adult_files["model"])
    _pyfunc(pipeline, "pyfunc-custom")
    loaded = load_registered("models:/pyfunc-custom/1", "approve_probability")
    assert loaded.flavour == "python_function" and not loaded.refittable
    rows = pd.read_csv(adult_files["evaluation"])[list(pipeline.feature_names_in_)]
    np.testing.assert_array_equal(loaded.estimator.predict_proba(rows), pipeline.predict_proba(rows))

    model = {"uri": "models:/pyfunc-custom/1", "score_column": "approve_probability"}
    code = main(
        ["--json", "run", str(write_spec(_pyfunc_spec(model, adult_files))), "--submitted-by", "dana"]
    )
    status, results = cli_verdict(capsys.readouterr().out, code)
    refit = results["evaluation.cross_validation"]
    assert refit["status"] == "not_applicable" and "python_function model cannot be refit" in refit["message"]
    for query in ("evaluation.performance", "evaluation.latency", "robustness.evasion", "robustness.stress"):
        assert results[query]["status"] in ("pass", "warn", "fail"), results[query]


@pytest.mark.parametrize(
    ("answer", "score_column", "message"),
    [
        ("NaN", "approve_probability", "outside [0, 1] or NaN"),
        ("out of range", "approve_probability", "outside [0, 1] or NaN"),
        ("three columns", None, "one positive-class probability per row"),
        ("table", "probability", "model.score_column must name"),
    ],
)
def test_a_pyfunc_breaking_its_contract_is_named(
    home: Path, adult_files: dict[str, Path], answer: str, score_column: str | None, message: str
) -> None:
    _pyfunc(joblib.load(adult_files["model"]), "pyfunc-broken", answer)
    loaded = load_registered("models:/pyfunc-broken/1", score_column)
    rows = pd.read_csv(adult_files["evaluation"]).head(50)
    with pytest.raises(InputError, match=re.escape(message)) as raised:
        loaded.estimator.predict_proba(rows)
    assert "models:/pyfunc-broken/1" in str(raised.value)


def test_a_pyfunc_answering_nan_is_a_recorded_error_run(
    home: Path, adult_files: dict[str, Path], write_spec, capsys: pytest.CaptureFixture[str]
) -> None:
    """The run probes that the model scores the evaluation set before any check: a broken answer stops it there."""
    _pyfunc(joblib.load(adult_files["model"]), "pyfunc-nan", "NaN")
    model = {"uri": "models:/pyfunc-nan/1", "score_column": "approve_probability"}
    assert main(["run", str(write_spec(_pyfunc_spec(model, adult_files))), "--submitted-by", "dana"]) == ERROR
    assert "models:/pyfunc-nan/1: model: answered scores outside [0, 1] or NaN" in capsys.readouterr().err
    [error] = Pipeline().ledger.query(
        "SELECT d.reasons_json FROM {s}.runs r JOIN {s}.decisions d ON d.run_id = r.run_id "
        "WHERE d.verdict = 'error'"
    )
    assert "answered scores outside [0, 1] or NaN" in error["reasons_json"]


def test_score_column_needs_a_registry_model(
    home: Path, write_spec, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_spec(lambda s: s["model"].update(score_column="approve_probability"))  # a joblib file
    assert main(["run", str(spec), "--submitted-by", "dana"]) == ERROR
    assert "'score_column' names an output column of a python_function model" in capsys.readouterr().err


def test_an_unused_score_column_leaves_the_spec_digest_alone(write_spec) -> None:
    """Specs that do not use an optional field keep the digest they had before it existed."""
    spec = load_spec(write_spec())
    without = spec.model_dump(mode="json", exclude_none=True)
    assert "score_column" not in without["model"]
    assert spec.digest() == digest_before_later_fields(spec)
    assert load_spec(
        write_spec(lambda s: s.update(model={"uri": "models:/m/1", "score_column": "p"}))
    ).digest() != (load_spec(write_spec(lambda s: s.update(model={"uri": "models:/m/1"}))).digest())


@pytest.mark.parametrize("flavour", HMDA_FLAVOURS)
def test_the_hmda_example_spec_reaches_a_verdict_on_real_data(
    home: Path, flavour: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The shipped example as shipped: Boston mortgage denials, a booster logged with its own MLflow flavour, every
    check run (cross-validation refits the booster), and the race gap in predicted denials found and worded for a
    model whose positive prediction harms the applicant."""
    spec = prepare_hmda(settings(), flavour)
    code = main(["--json", "run", str(spec), "--submitted-by", "dana"])
    status, results = cli_verdict(capsys.readouterr().out, code)
    assert status["run"]["model_reference"] == f"models:/hmda-{flavour}/1"
    assert status["results"] and all(
        r["status"] != "not_applicable" or r["check_id"] in NOT_JUDGED_HERE for r in status["results"]
    ), results
    assert results["evaluation.cross_validation"]["measured"]["folds"] == 5
    parity = results["fairness.demographic_parity"]
    assert (
        parity["status"] == "fail" and "afam: yes is disadvantaged on demographic parity" in parity["message"]
    )


def test_a_version_of_an_unknown_flavour_is_an_error_run_naming_it(
    home: Path, write_spec, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A version whose MLmodel offers only a flavour this installation has no loader for (here `h2o`, without
    python_function) is refused with its flavours named, never guessed at."""
    import mlflow
    from mlflow.models import Model

    folder = tmp_path / "h2o-model"
    folder.mkdir()
    Model(flavors={"h2o": {"h2o_version": "3.46", "data": "model.h2o"}}).save(str(folder / "MLmodel"))
    (folder / "model.h2o").write_bytes(b"a model only H2O can read")
    with mlflow.start_run() as run:
        mlflow.log_artifacts(str(folder), "model")
    mlflow.register_model(f"runs:/{run.info.run_id}/model", "h2o-only")
    spec = write_spec(lambda s: s.update(model={"uri": "models:/h2o-only/1"}))
    assert main(["run", str(spec), "--submitted-by", "dana"]) == ERROR
    assert (
        "models:/h2o-only/1: model.uri: flavours ['h2o']: neither a native loader nor python_function"
        in capsys.readouterr().err
    )
