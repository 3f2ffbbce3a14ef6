"""The model a run certifies, whatever it is: a version of the MLflow registry (loaded by its own flavour), a local
file pinned by SHA-256 (joblib/pickle, skops, ONNX), a served model known by its identity, or (score-only) the
predictions table that is its only trace."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from certification import tracking
from certification.errors import InputError
from certification.hashing import file_sha256, tree_sha256
from certification.models._endpoint import EndpointClassifier
from certification.models._onnx import OnnxClassifier
from certification.models._pyfunc import PyfuncClassifier
from certification.models._scoring import BINARY, Output, ScoringModel
from certification.run.inputs import read_dataset
from certification.spec import Endpoint, Spec


@dataclass
class LoadedModel:
    estimator: Any  # None in score-only mode: only the model's predictions are available
    reference: str
    sha256: (
        str  # of its bytes; for a served model, of what the server reports and its answers to a probe batch
    )
    registry: tuple[str, str] | None = None  # (name, version) when the model lives in the MLflow registry
    flavour: str = (
        "joblib"  # how it is scored: an MLflow flavour, joblib, skops, onnx, endpoint or predictions
    )

    @property
    def refittable(self) -> bool:
        """Whether a clone of it can be fit on the training data (scikit-learn's estimator API)."""
        return hasattr(self.estimator, "get_params")

    @property
    def remote(self) -> bool:
        return self.flavour == "endpoint"


def load_model(spec: Spec, evaluation_info: dict[str, Any], evaluation: pd.DataFrame) -> LoadedModel:
    ref = spec.model
    if ref.predictions is not None:  # the predictions table is the model's only trace: bind to its bytes
        column = ref.predictions.score_column or ref.predictions.prediction_column
        reference = f"predictions:{evaluation_info['path']}#{column}"
        return LoadedModel(None, reference, evaluation_info["sha256"], flavour="predictions")
    output = Output.of(spec)
    if ref.endpoint is not None:
        return load_endpoint(ref.endpoint, ref.features, ref.score_column, evaluation, output)
    if ref.path is not None:
        return load_file(Path(ref.path), ref.sha256, ref.features, output)
    assert ref.uri is not None
    return load_registered(ref.uri, ref.score_column, output)


def load_file(
    path: Path, sha256: str | None, features: list[str] | None = None, output: Output = BINARY
) -> LoadedModel:
    """A local file, refused unless its bytes are the ones the spec pins; its kind is its suffix."""
    if not path.is_file():
        raise InputError(str(path), "model file not found", field="model.path")
    actual = file_sha256(path)
    if actual != sha256:
        raise InputError(str(path), f"sha256 is {actual}, the spec pins {sha256}", field="model.sha256")
    if path.suffix == ".onnx":
        return LoadedModel(OnnxClassifier(path, features, None, output), str(path), actual, flavour="onnx")
    flavour = "skops" if path.suffix == ".skops" else "joblib"
    try:
        if flavour == "skops":
            import skops.io

            # the pinned hash is the trust decision: the types in these exact bytes are the ones the owner shipped
            estimator = skops.io.load(path, trusted=skops.io.get_untrusted_types(file=path))
        else:
            import joblib

            estimator = joblib.load(path)
    except Exception as exc:
        raise InputError(str(path), f"cannot load model: {exc}", field="model.path") from exc
    require_task(estimator, str(path), output)
    return LoadedModel(estimator, str(path), actual, flavour=flavour)


def load_endpoint(
    endpoint: Endpoint,
    features: list[str] | None,
    score_column: str | None,
    probe: pd.DataFrame,
    output: Output = BINARY,
) -> LoadedModel:
    """A served model, identified by what its server reports and its answers to the probe batch."""
    model = EndpointClassifier(endpoint, features, score_column)
    model.expect(output)
    return LoadedModel(model, f"endpoint:{model.source}", model.identity(probe), flavour="endpoint")


def served_identity(spec: Spec) -> str:
    """A served model's identity now, asked as the run's spec describes it: its endpoint, and the evaluation rows
    whose first answers are the probe. The gate and certificate verification compare it with the recorded one."""
    model, endpoint = spec.model, spec.model.endpoint
    assert endpoint is not None
    probe, _ = read_dataset(spec.datasets.evaluation, "evaluation")
    return load_endpoint(endpoint, model.features, model.score_column, probe, Output.of(spec)).sha256


def load_registered(uri: str, score_column: str | None = None, output: Output = BINARY) -> LoadedModel:
    """A version of the MLflow registry (an alias resolved to its concrete version) of any flavour, hashed file by
    file; a python_function model is held to the contract of `PyfuncClassifier`."""
    model, name, version, local, flavour = tracking.load_version(uri)
    if flavour == "python_function":
        model = PyfuncClassifier(model, uri, score_column)
        model.expect(output)
    require_task(model, f"{uri} ({flavour} flavour)", output)
    reference = f"models:/{name}/{version}"
    return LoadedModel(model, reference, tree_sha256(local), registry=(name, version), flavour=flavour)


def registered_sha256(uri: str) -> str:
    """The SHA-256 of a registry version's files, whatever kind of model it is: what certificate verification and
    registry change control compare with the certified bytes."""
    *_, local, _ = tracking.load_version(uri)
    return tree_sha256(local)


def require_task(estimator: Any, source: str, output: Output) -> None:
    """A classification task needs a classifier with predict_proba (a multiclass one with exactly the declared
    classes); a regression task a regressor's predict."""
    if output.task == "regression":
        if not isinstance(estimator, ScoringModel) and hasattr(estimator, "predict_proba"):
            raise InputError(
                source,
                f"{type(estimator).__name__} is a classifier but the spec's task is regression",
                field="task",
            )
        if not hasattr(estimator, "predict"):
            raise InputError(source, f"{type(estimator).__name__} has no predict", field="model")
        return
    if not (hasattr(estimator, "predict") and hasattr(estimator, "predict_proba")):
        raise InputError(
            source, f"{type(estimator).__name__} is not a classifier with predict_proba", field="model"
        )
    if output.task == "multiclass" and not isinstance(estimator, ScoringModel):
        found, declared = (
            [str(c) for c in getattr(estimator, "classes_", [])],
            [str(c) for c in output.classes],
        )
        if undeclared := [c for c in found if c not in declared]:
            raise InputError(
                source,
                f"predicts classes {undeclared} that label.values does not declare",
                field="label.values",
            )
        if missing := [c for c in declared if c not in found]:
            raise InputError(
                source,
                f"its probability columns are for classes {found}: none for the declared {missing} (label.values)",
                field="label.values",
            )
