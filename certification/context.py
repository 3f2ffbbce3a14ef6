"""Everything a check needs: the spec, the loaded model, the datasets and cached predictions, bound by hashes."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from certification.errors import InputError
from certification.spec import DatasetRef, Spec


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def tree_sha256(root: Path) -> str:
    """Hash of a directory: relative paths and file hashes, in sorted order."""
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(f"{path.relative_to(root).as_posix()}\0{file_sha256(path)}\n".encode())
    return digest.hexdigest()


def read_dataset(ref: DatasetRef, name: str) -> tuple[pd.DataFrame, dict[str, Any]]:
    path = Path(ref.path)
    if not path.is_file():
        raise InputError(str(path), "dataset file not found", field=f"datasets.{name}.path")
    try:
        frame = pd.read_parquet(path) if ref.resolved_format == "parquet" else pd.read_csv(path)
    except Exception as exc:
        raise InputError(
            str(path), f"cannot read {ref.resolved_format}: {exc}", field=f"datasets.{name}"
        ) from exc
    if frame.empty:
        raise InputError(str(path), "dataset has no rows", field=f"datasets.{name}")
    info = {"path": str(path), "sha256": file_sha256(path), "rows": len(frame), "columns": len(frame.columns)}
    return frame, info


@dataclass
class LoadedModel:
    estimator: Any
    reference: str
    sha256: str
    registry: tuple[str, str] | None = None  # (name, version) when the model lives in the MLflow registry


def load_model(spec: Spec) -> LoadedModel:
    ref = spec.model
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
        _require_classifier(estimator, str(path))
        return LoadedModel(estimator, str(path), actual)
    assert ref.uri is not None
    from certification import tracking

    return tracking.load_registered_model(ref.uri)


def _require_classifier(estimator: Any, source: str) -> None:
    if not (hasattr(estimator, "predict") and hasattr(estimator, "predict_proba")):
        raise InputError(
            source, f"{type(estimator).__name__} is not a classifier with predict_proba", field="model"
        )


@dataclass
class RunContext:
    spec: Spec
    model: LoadedModel
    train: pd.DataFrame
    evaluation: pd.DataFrame
    datasets: dict[str, dict[str, Any]]
    artifact_dir: Path
    cache: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def open(cls, spec: Spec, artifact_dir: Path) -> RunContext:
        train, train_info = read_dataset(spec.datasets.train, "train")
        evaluation, eval_info = read_dataset(spec.datasets.evaluation, "evaluation")
        ctx = cls(
            spec,
            load_model(spec),
            train,
            evaluation,
            {"train": train_info, "evaluation": eval_info},
            artifact_dir,
        )
        ctx.validate_columns()
        return ctx

    def validate_columns(self) -> None:
        needed = {self.spec.label.column, *self.spec.protected_attributes, *self.features}
        for name, frame in (("train", self.train), ("evaluation", self.evaluation)):
            missing = sorted(needed - set(frame.columns))
            if missing:
                raise InputError(
                    self.datasets[name]["path"], f"missing columns {missing}", field=f"datasets.{name}"
                )
        labels = self.evaluation[self.spec.label.column]
        if not (labels == self.spec.label.positive).any() or (labels == self.spec.label.positive).all():
            raise InputError(
                self.datasets["evaluation"]["path"],
                f"needs both classes; positive label is {self.spec.label.positive!r}",
                field="label.positive",
            )

    @cached_property
    def features(self) -> list[str]:
        names = getattr(self.model.estimator, "feature_names_in_", None)
        if names is not None:
            return [str(n) for n in names]
        if self.spec.model.features:
            return list(self.spec.model.features)
        return [c for c in self.evaluation.columns if c != self.spec.label.column]

    def labels(self, frame: pd.DataFrame) -> np.ndarray:
        return (frame[self.spec.label.column] == self.spec.label.positive).to_numpy(dtype=int)

    @cached_property
    def positive_index(self) -> int:
        classes = list(getattr(self.model.estimator, "classes_", [0, 1]))
        if self.spec.label.positive in classes:
            return classes.index(self.spec.label.positive)
        if len(classes) == 2 and {bool(c) for c in classes} == {False, True} and set(classes) <= {0, 1}:
            return classes.index(1)
        raise InputError(
            "model",
            f"model classes {classes} do not contain the positive label {self.spec.label.positive!r}",
            field="label.positive",
        )

    def scores(self, frame: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.model.estimator.predict_proba(frame[self.features]))[:, self.positive_index]

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        classes = np.asarray(self.model.estimator.classes_)
        raw = np.asarray(self.model.estimator.predict(frame[self.features]))
        return (raw == classes[self.positive_index]).astype(int)

    @cached_property
    def y_eval(self) -> np.ndarray:
        return self.labels(self.evaluation)

    @cached_property
    def score_eval(self) -> np.ndarray:
        return self.scores(self.evaluation)

    @cached_property
    def pred_eval(self) -> np.ndarray:
        return self.predict(self.evaluation)
