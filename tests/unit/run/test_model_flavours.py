"""Models registered the ordinary way with their own MLflow flavours (XGBoost, LightGBM) load with the flavour's
native loader and go through `certify run` to a verdict; a version whose flavours give no class probabilities (a
custom pyfunc) is refused with its flavours named and recorded as an `error` run."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from certification import Pipeline
from certification.cli import ERROR, NOT_CERTIFIED, OK, main
from certification.errors import InputError
from certification.hashing import tree_sha256
from certification.run.model import load_registered

# a native booster takes numbers: the owner's model uses Adult's numeric answers (sex and race are not inputs)
NUMERIC = ["age", "fnlwgt", "education_num", "capital_gain", "capital_loss", "hours_per_week"]
FLAVOURS = ["xgboost", "lightgbm"]


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
    status = json.loads(capsys.readouterr().out)
    assert code in (OK, NOT_CERTIFIED) and status["status"] in ("awaiting_signoff", "rejected"), status
    results = {r["check_id"]: r for r in status["results"]}
    assert [c for c, r in results.items() if r["status"] == "error"] == [], results
    for refit_or_query in ("evaluation.cross_validation", "evaluation.latency", "robustness.evasion"):
        assert results[refit_or_query]["status"] in ("pass", "warn", "fail"), results[refit_or_query]
    assert status["run"]["model_reference"] == f"models:/{flavour}-native/1"


def test_a_flavour_without_class_probabilities_is_a_recorded_error_run(
    home: Path, write_spec, capsys: pytest.CaptureFixture[str]
) -> None:
    import mlflow

    class Constant(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
        def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> np.ndarray:
            return np.full(len(model_input), 0.5)

    with mlflow.start_run():
        mlflow.pyfunc.log_model(
            name="model",
            python_model=Constant(),
            registered_model_name="pyfunc-custom",
            pip_requirements=["mlflow"],
        )
    with pytest.raises(InputError, match=r"flavours \['python_function'\]"):
        load_registered("models:/pyfunc-custom/1")
    spec = write_spec(lambda s: s.update(model={"uri": "models:/pyfunc-custom/1"}))
    assert main(["run", str(spec), "--submitted-by", "dana"]) == ERROR
    assert "python_function" in capsys.readouterr().err
    [error] = Pipeline().ledger.query(
        "SELECT d.reasons_json FROM {s}.runs r JOIN {s}.decisions d ON d.run_id = r.run_id "
        "WHERE d.verdict = 'error'"
    )
    assert "models:/pyfunc-custom/1" in error["reasons_json"]
