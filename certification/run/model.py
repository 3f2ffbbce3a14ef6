"""The model a run certifies: a local file pinned by SHA-256, a version of the MLflow registry, or (score-only) the
predictions table that is its only trace."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

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
    flavour: str = "joblib"  # how it was loaded: an MLflow flavour, joblib or predictions

    @property
    def refittable(self) -> bool:
        """Whether a clone of it can be fit on the training data (scikit-learn's estimator API)."""
        return hasattr(self.estimator, "get_params")


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
    return load_registered(ref.uri, ref.score_column)


def load_registered(uri: str, score_column: str | None = None) -> LoadedModel:
    """A version of the MLflow registry (an alias resolved to its concrete version) of any flavour, hashed file by
    file; a python_function model is held to the contract of `PyfuncClassifier`."""
    model, name, version, local, flavour = tracking.load_version(uri)
    if flavour == "python_function":
        model = PyfuncClassifier(model, uri, score_column)
    require_classifier(model, f"{uri} ({flavour} flavour)")
    reference = f"models:/{name}/{version}"
    return LoadedModel(model, reference, tree_sha256(local), registry=(name, version), flavour=flavour)


class PyfuncClassifier:
    """A python_function model under the pyfunc contract: it answers one positive-class probability per row, as a
    1-D answer or a one-column table, or as the column `score_column` (the spec's `model.score_column`) of a wider
    table. Binary with class 1 positive, decided at 0.5; it cannot be refit. Any other answer is an InputError
    naming the model, so the check that asked fails closed."""

    classes_ = np.array([0, 1])

    def __init__(self, model: Any, source: str, score_column: str | None) -> None:
        self.model, self.source, self.score_column = model, source, score_column
        schema = model.metadata.get_input_schema()
        if schema is not None and schema.has_input_names():
            self.feature_names_in_ = np.array(schema.input_names(), dtype=object)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        score = self.score(frame)
        return np.column_stack([1 - score, score])

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return (self.score(frame) >= 0.5).astype(int)

    def score(self, frame: pd.DataFrame) -> np.ndarray:
        answer = self.model.predict(frame)
        if isinstance(answer, pd.DataFrame) and answer.shape[1] > 1:
            if self.score_column not in answer.columns:
                raise InputError(
                    self.source,
                    f"answered columns {list(answer.columns)}; model.score_column must name the positive-class "
                    "probability",
                    field="model.score_column",
                )
            answer = answer[self.score_column]
        try:
            score = np.asarray(answer, dtype=float)
        except (TypeError, ValueError) as exc:
            raise InputError(self.source, f"answered non-numeric scores: {exc}", field="model") from exc
        if score.ndim == 2 and score.shape[1] == 1:
            score = score[:, 0]
        if score.shape != (len(frame),):
            raise InputError(
                self.source,
                f"answered shape {score.shape} for {len(frame)} rows: one positive-class probability per row "
                "was expected",
                field="model",
            )
        if not ((score >= 0) & (score <= 1)).all():  # NaN compares false
            raise InputError(self.source, "answered scores outside [0, 1] or NaN", field="model")
        return score


def require_classifier(estimator: Any, source: str) -> None:
    if not (hasattr(estimator, "predict") and hasattr(estimator, "predict_proba")):
        raise InputError(
            source, f"{type(estimator).__name__} is not a classifier with predict_proba", field="model"
        )
