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
    if ref.endpoint is not None:
        return load_endpoint(ref.endpoint, ref.features, ref.score_column, evaluation)
    if ref.path is not None:
        return load_file(Path(ref.path), ref.sha256, ref.features)
    assert ref.uri is not None
    return load_registered(ref.uri, ref.score_column)


def load_file(path: Path, sha256: str | None, features: list[str] | None = None) -> LoadedModel:
    """A local file, refused unless its bytes are the ones the spec pins; its kind is its suffix."""
    if not path.is_file():
        raise InputError(str(path), "model file not found", field="model.path")
    actual = file_sha256(path)
    if actual != sha256:
        raise InputError(str(path), f"sha256 is {actual}, the spec pins {sha256}", field="model.sha256")
    if path.suffix == ".onnx":
        return LoadedModel(OnnxClassifier(path, features, None), str(path), actual, flavour="onnx")
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
    require_classifier(estimator, str(path))
    return LoadedModel(estimator, str(path), actual, flavour=flavour)


def load_endpoint(
    endpoint: Endpoint, features: list[str] | None, score_column: str | None, probe: pd.DataFrame
) -> LoadedModel:
    """A served model, identified by what its server reports and its answers to the probe batch."""
    model = EndpointClassifier(endpoint, features, score_column)
    return LoadedModel(model, f"endpoint:{model.source}", model.identity(probe), flavour="endpoint")


def served_identity(spec: Spec) -> str:
    """A served model's identity now, asked as the run's spec describes it: its endpoint, and the evaluation rows
    whose first answers are the probe. The gate and certificate verification compare it with the recorded one."""
    assert spec.model.endpoint is not None
    probe, _ = read_dataset(spec.datasets.evaluation, "evaluation")
    return load_endpoint(spec.model.endpoint, spec.model.features, spec.model.score_column, probe).sha256


def load_registered(uri: str, score_column: str | None = None) -> LoadedModel:
    """A version of the MLflow registry (an alias resolved to its concrete version) of any flavour, hashed file by
    file; a python_function model is held to the contract of `PyfuncClassifier`."""
    model, name, version, local, flavour = tracking.load_version(uri)
    if flavour == "python_function":
        model = PyfuncClassifier(model, uri, score_column)
    require_classifier(model, f"{uri} ({flavour} flavour)")
    reference = f"models:/{name}/{version}"
    return LoadedModel(model, reference, tree_sha256(local), registry=(name, version), flavour=flavour)


def require_classifier(estimator: Any, source: str) -> None:
    if not (hasattr(estimator, "predict") and hasattr(estimator, "predict_proba")):
        raise InputError(
            source, f"{type(estimator).__name__} is not a classifier with predict_proba", field="model"
        )
