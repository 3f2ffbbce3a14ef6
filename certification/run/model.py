"""The model a run certifies: a local file pinned by SHA-256, a version of the MLflow registry, or (score-only) the
predictions table that is its only trace."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from certification import tracking
from certification.errors import InputError
from certification.hashing import file_sha256, tree_sha256
from certification.spec import Spec


@dataclass
class LoadedModel:
    estimator: Any  # None in score-only mode: only the model's predictions are available
    reference: str
    sha256: str
    registry: tuple[str, str] | None = None  # (name, version) when the model lives in the MLflow registry
    flavour: str = (
        "joblib"  # how it was loaded: an MLflow flavour (tracking.NATIVE_FLAVOURS), joblib or predictions
    )


def load_model(spec: Spec, evaluation_info: dict[str, Any]) -> LoadedModel:
    ref = spec.model
    if ref.predictions is not None:  # the predictions table is the model's only trace: bind to its bytes
        column = ref.predictions.score_column or ref.predictions.prediction_column
        reference = f"predictions:{evaluation_info['path']}#{column}"
        return LoadedModel(None, reference, evaluation_info["sha256"], flavour="predictions")
    if ref.path is not None:
        path = Path(ref.path)
        if not path.is_file():
            raise InputError(str(path), "model file not found", field="model.path")
        actual = file_sha256(path)
        if actual != ref.sha256:
            raise InputError(
                str(path), f"sha256 is {actual}, the spec pins {ref.sha256}", field="model.sha256"
            )
        import joblib

        try:
            estimator = joblib.load(path)
        except Exception as exc:
            raise InputError(str(path), f"cannot load model: {exc}", field="model.path") from exc
        require_classifier(estimator, str(path))
        return LoadedModel(estimator, str(path), actual)
    assert ref.uri is not None
    return load_registered(ref.uri)


def load_registered(uri: str) -> LoadedModel:
    """A version of the MLflow registry (an alias resolved to its concrete version) of any flavour with a native
    loader, hashed file by file."""
    estimator, name, version, local, flavour = tracking.load_version(uri)
    require_classifier(estimator, f"{uri} ({flavour} flavour)")
    reference = f"models:/{name}/{version}"
    return LoadedModel(estimator, reference, tree_sha256(local), registry=(name, version), flavour=flavour)


def require_classifier(estimator: Any, source: str) -> None:
    if not (hasattr(estimator, "predict") and hasattr(estimator, "predict_proba")):
        raise InputError(
            source, f"{type(estimator).__name__} is not a classifier with predict_proba", field="model"
        )
