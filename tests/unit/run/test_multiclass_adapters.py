"""A multiclass model through every kind of adapter: an ONNX export (ZipMap and a plain tensor), a KServe v2 server
on 127.0.0.1 and a python_function model answering a table of class columns, each scoring the declared classes in
the spec's order as the scikit-learn model does; answers that are not the declared classes are errors naming them."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from certification.demo.inputs import NMES_CLASSES, nmes_files
from certification.demo.serving import ModelServer
from certification.errors import InputError
from certification.hashing import file_sha256
from certification.models import Output, class_probabilities, load_endpoint, load_file, load_registered
from certification.spec import Endpoint

NUMERIC = [
    "visits",
    "nvisits",
    "ovisits",
    "novisits",
    "emergency",
    "hospital",
    "chronic",
    "age",
    "school",
    "income",
]
DECLARED = Output("multiclass", NMES_CLASSES)  # poor, average, excellent: not the model's alphabetical order


@pytest.fixture(scope="module")
def nmes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    folder = tmp_path_factory.mktemp("nmes")
    paths = nmes_files(folder)
    train, evaluation = (pd.read_csv(paths[name]) for name in ("train", "evaluation"))
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(
        train[NUMERIC], train["health"]
    )
    assert list(model.classes_) == ["average", "excellent", "poor"]
    expected = model.predict_proba(evaluation[NUMERIC])[
        :, [list(model.classes_).index(c) for c in NMES_CLASSES]
    ]
    return {"folder": folder, "model": model, "rows": evaluation[NUMERIC], "expected": expected}


def test_class_probabilities_match_the_declared_classes_by_name_or_position() -> None:
    table = pd.DataFrame({"excellent": [0.1, 0.2], "poor": [0.3, 0.5], "average": [0.6, 0.3]})
    found = class_probabilities(table, 2, "m", list(NMES_CLASSES))
    np.testing.assert_array_equal(found, [[0.3, 0.6, 0.1], [0.5, 0.3, 0.2]])
    assert (
        class_probabilities(table.to_numpy(), 2, "m", list(NMES_CLASSES)).tolist()
        == table.to_numpy().tolist()
    )
    refused = {
        "probability columns ['excellent', 'poor', 'sick'], which are not the declared classes": table.rename(
            columns={"average": "sick"}
        ),
        "answered 2 probability columns for the 3 declared classes": table.iloc[:, :2].to_numpy(),
        "do not sum to 1": table.to_numpy() * 0.9,
        "outside [0, 1] or NaN": np.where(table.to_numpy() > 0.55, np.nan, table.to_numpy()),
        "answered shape (3,) for 2 rows": np.array([0.2, 0.3, 0.5]),
    }
    for message, answer in refused.items():
        with pytest.raises(InputError, match=re.escape(message)) as caught:
            class_probabilities(answer, 2, "model-x", list(NMES_CLASSES))
        assert caught.value.source == "model-x"


def test_an_onnx_export_scores_the_declared_classes(nmes: dict[str, Any]) -> None:
    from skl2onnx import to_onnx

    sample = nmes["rows"].to_numpy(np.float32)[:1]
    for name, options in (("zipmap", {}), ("tensor", {"zipmap": False})):
        path = nmes["folder"] / f"{name}.onnx"
        path.write_bytes(to_onnx(nmes["model"], sample, options=options).SerializeToString())
        if name == "tensor":  # a bare tensor is read in the declared order: declare the model's own
            output = Output("multiclass", tuple(nmes["model"].classes_))
            order = [NMES_CLASSES.index(c) for c in nmes["model"].classes_]
        else:  # ZipMap names each column: any declared order works
            output, order = DECLARED, list(range(3))
        loaded = load_file(path, file_sha256(path), NUMERIC, output)
        found = loaded.estimator.predict_proba(nmes["rows"])
        np.testing.assert_allclose(found, nmes["expected"][:, order], atol=1e-5)
        assert list(loaded.estimator.classes_) == list(output.classes)


def test_a_served_multiclass_model_scores_the_declared_classes(nmes: dict[str, Any]) -> None:
    rows = nmes["rows"]
    with ModelServer(nmes["model"], NUMERIC, name="nmes") as server:
        endpoint = Endpoint(url=server.url, protocol="kserve_v2", model_name="nmes")
        served = load_endpoint(
            endpoint, None, None, rows, Output("multiclass", tuple(nmes["model"].classes_))
        )
        np.testing.assert_allclose(served.estimator.predict_proba(rows), nmes["model"].predict_proba(rows))
        assert (served.estimator.predict(rows) == nmes["model"].predict(rows)).all()
        with pytest.raises(InputError, match="answered 3 probability columns for the 4 declared classes"):
            load_endpoint(endpoint, None, None, rows, Output("multiclass", (*NMES_CLASSES, "fair")))


def test_a_python_function_model_answering_class_columns(
    home: Path, nmes: dict[str, Any], tmp_path: Path
) -> None:
    """A custom pyfunc answers a table with one column per class name, in its own order: matched by name."""
    import mlflow

    class ClassTable(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
        def __init__(self, model: Any) -> None:
            self.model = model

        def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> pd.DataFrame:
            return pd.DataFrame(self.model.predict_proba(model_input), columns=self.model.classes_)

    with mlflow.start_run():
        mlflow.pyfunc.log_model(
            name="model", python_model=ClassTable(nmes["model"]), registered_model_name="nmes-pyfunc",
            input_example=nmes["rows"].head(2), pip_requirements=["scikit-learn"],
        )  # fmt: skip
    loaded = load_registered("models:/nmes-pyfunc/1", output=DECLARED)
    np.testing.assert_allclose(loaded.estimator.predict_proba(nmes["rows"]), nmes["expected"], atol=1e-12)
    with pytest.raises(InputError, match="not the declared classes"):
        load_registered(
            "models:/nmes-pyfunc/1", output=Output("multiclass", ("poor", "fair", "good"))
        ).estimator.score(nmes["rows"])
