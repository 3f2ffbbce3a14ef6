"""Everything a check needs: the spec, the loaded model, the datasets and cached predictions, bound by hashes."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Generic, TypeVar

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_numeric_dtype

from certification.errors import InputError, NotApplicable
from certification.models import LoadedModel, ScoringModel, load_model, predicted_values
from certification.run.inputs import read_dataset
from certification.spec import Spec

T = TypeVar("T")


@dataclass(frozen=True)
class CacheKey(Generic[T]):
    """A typed name for something a check computes once per run and other checks reuse (see RunContext.cached)."""

    name: str


@dataclass
class RunContext:
    spec: Spec
    model: LoadedModel
    train: pd.DataFrame | None  # absent only in score-only mode
    evaluation: pd.DataFrame
    datasets: dict[str, dict[str, Any]]
    artifact_dir: Path
    cache: dict[str, Any] = field(default_factory=dict)  # CacheKey name -> value, see `cached`
    stage_started: dict[str, float] = field(default_factory=dict)  # stage -> time.monotonic() when it began

    @classmethod
    def open(cls, spec: Spec, artifact_dir: Path) -> RunContext:
        evaluation, eval_info = read_dataset(spec.datasets.evaluation, "evaluation")
        datasets = {"evaluation": eval_info}
        train = None
        if spec.datasets.train is not None:
            train, datasets["train"] = read_dataset(spec.datasets.train, "train")
        artifact_dir.mkdir(parents=True, exist_ok=True)
        ctx = cls(spec, load_model(spec, eval_info, evaluation), train, evaluation, datasets, artifact_dir)
        ctx.validate_columns()
        ctx.validate_scoring()
        return ctx

    def validate_scoring(self) -> None:
        """Score the evaluation set up front: inputs the model cannot score are bad input, named as such."""
        try:
            scores = self.score_eval
            self.pred_eval  # noqa: B018 - computed for its error, then cached
        except Exception as exc:
            raise InputError(
                self.datasets["evaluation"]["path"],
                f"the model cannot score it: {type(exc).__name__}: {exc}",
                field="datasets.evaluation",
            ) from exc
        if scores is not None and not np.isfinite(scores).all():
            raise InputError(self.datasets["evaluation"]["path"], "scores contain NaN or inf", field="model")

    def cached(self, key: CacheKey[T], compute: Callable[[], T]) -> T:
        """The value of `key` for this run: computed by the first check that asks, reused by the others."""
        if key.name not in self.cache:
            self.cache[key.name] = compute()
        value: T = self.cache[key.name]
        return value

    def begin_stage(self, stage: str) -> None:
        """A stage's time budget counts from here."""
        self.stage_started[stage] = time.monotonic()

    def started(self, stage: str) -> float:
        """When the stage began (time.monotonic()); now, for a check run outside a stage."""
        return self.stage_started.get(stage, time.monotonic())

    @property
    def frames(self) -> dict[str, pd.DataFrame]:
        return (
            {"train": self.train, "evaluation": self.evaluation}
            if self.train is not None
            else {"evaluation": self.evaluation}
        )

    def require_model(self, purpose: str) -> Any:
        if self.model.estimator is None:
            raise NotApplicable(f"score-only run: {purpose} needs the model itself, not only its predictions")
        return self.model.estimator

    def require_refit(self, purpose: str) -> Any:
        """The model as a recipe: refitting clones of it needs the spec's training recipe and a model that clones."""
        if self.spec.training is None:
            raise NotApplicable(f"the spec gives no training recipe, so {purpose} cannot refit the model")
        estimator = self.require_model(purpose)
        if not self.model.refittable:
            raise NotApplicable(f"this {self.model.flavour} model cannot be refit, which {purpose} needs")
        return estimator

    def require_train(self, purpose: str) -> pd.DataFrame:
        if self.train is None:
            raise NotApplicable(f"no training data was supplied: {purpose} compares against it")
        return self.train

    def validate_columns(self) -> None:
        predictions = self.spec.model.predictions
        outputs = predictions.columns if predictions else set()
        needed = {self.spec.label.column, *self.spec.protected_attributes, *self.features}
        for name, frame in self.frames.items():
            missing = sorted((needed | (outputs if name == "evaluation" else set())) - set(frame.columns))
            if missing:
                raise InputError(
                    self.datasets[name]["path"], f"missing columns {missing}", field=f"datasets.{name}"
                )
            numeric = frame[sorted(needed)].select_dtypes("number")
            infinite = sorted(numeric.columns[np.isinf(numeric.to_numpy(dtype=float)).any(axis=0)])
            if infinite:  # NaN is a missing value the quality check weighs; infinity is corrupt data
                raise InputError(
                    self.datasets[name]["path"],
                    f"infinite values in columns {infinite}",
                    field=f"datasets.{name}",
                )
        self._validate_label()
        if predictions and predictions.score_column:
            score = pd.to_numeric(self.evaluation[predictions.score_column], errors="coerce")
            if not score.between(0.0, 1.0).all():
                raise InputError(
                    self.datasets["evaluation"]["path"],
                    f"column {predictions.score_column!r} must hold probabilities in [0, 1] with no gaps",
                    field="model.predictions.score_column",
                )

    def _validate_label(self) -> None:
        path, label = self.datasets["evaluation"]["path"], self.spec.label
        labels = self.evaluation[label.column]
        if self.task == "binary":
            if not (labels == label.positive).any() or (labels == label.positive).all():
                raise InputError(
                    path, f"needs both classes; positive label is {label.positive!r}", field="label.positive"
                )
            return
        if self.task == "multiclass":
            for name, frame in self.frames.items():
                found = frame[label.column]
                undeclared = sorted({str(v) for v in found[~found.isin(self.classes)].unique()})
                if undeclared:
                    raise InputError(
                        self.datasets[name]["path"],
                        f"label column {label.column!r} holds classes {undeclared} that label.values does not "
                        f"declare {self.classes}",
                        field="label.values",
                    )
            if labels.nunique() < 2:
                raise InputError(
                    path,
                    f"label column {label.column!r} holds one class only: {labels.iloc[0]!r}",
                    field="label.values",
                )
            return
        for name, frame in self.frames.items():
            if not is_numeric_dtype(frame[label.column]) or is_bool_dtype(frame[label.column]):
                raise InputError(
                    self.datasets[name]["path"],
                    f"label column {label.column!r} holds {frame[label.column].dtype} values: a regression "
                    "target must be numeric",
                    field="label.column",
                )
        if labels.nunique() < 2:
            raise InputError(path, f"label column {label.column!r} has a single value", field="label.column")

    @property
    def task(self) -> str:
        return self.spec.task

    @property
    def classes(self) -> list[Any]:
        """A multiclass task's declared classes; class code k (labels, predict) means classes[k]."""
        return list(self.spec.label.values or [])

    @cached_property
    def features(self) -> list[str]:
        names = getattr(self.model.estimator, "feature_names_in_", None)
        if names is not None:
            return [str(n) for n in names]
        if self.spec.model.features:
            return list(self.spec.model.features)
        if self.spec.score_only:
            return []  # unknown: a vendor table does not say which of its columns the model used
        return [c for c in self.evaluation.columns if c != self.spec.label.column]

    def labels(self, frame: pd.DataFrame) -> np.ndarray:
        """0/1 for a binary task (1: the positive class), the class code (classes) for a multiclass one, the target
        itself for a regression."""
        if self.task == "regression":
            return frame[self.spec.label.column].to_numpy(dtype=float)
        if self.task == "multiclass":
            return pd.Categorical(frame[self.spec.label.column], categories=self.classes).codes.astype(
                np.intp
            )
        return (frame[self.spec.label.column] == self.spec.label.positive).to_numpy(dtype=int)

    def positive_index(self, estimator: Any) -> int:
        classes = list(getattr(estimator, "classes_", [0, 1]))
        if self.spec.label.positive in classes:
            return classes.index(self.spec.label.positive)
        if len(classes) == 2 and {bool(c) for c in classes} == {False, True} and set(classes) <= {0, 1}:
            return classes.index(1)
        raise InputError(
            "model",
            f"model classes {classes} do not contain the positive label {self.spec.label.positive!r}",
            field="label.positive",
        )

    def _inputs(self, frame: pd.DataFrame, estimator: Any) -> pd.DataFrame:
        columns = getattr(estimator, "feature_names_in_", None)
        return frame[list(columns)] if columns is not None else frame[self.features]

    def scores(self, frame: pd.DataFrame, estimator: Any = None) -> np.ndarray:
        """Positive-class probability (multiclass: the (n, K) probabilities of the declared classes; regression: the
        prediction) from the run's model, or from another one (a champion) given here."""
        estimator = estimator if estimator is not None else self.require_model("scoring new inputs")
        if self.task == "regression":
            return self.predict(frame, estimator)
        if self.task == "multiclass":
            proba = np.asarray(estimator.predict_proba(self._inputs(frame, estimator)))
            columns = [str(c) for c in estimator.classes_]
            return proba[:, [columns.index(str(c)) for c in self.classes]]
        return np.asarray(estimator.predict_proba(self._inputs(frame, estimator)))[
            :, self.positive_index(estimator)
        ]

    def predict(self, frame: pd.DataFrame, estimator: Any = None) -> np.ndarray:
        estimator = estimator if estimator is not None else self.require_model("scoring new inputs")
        if self.task == "regression":
            source = "model" if estimator is self.model.estimator else "champion model"
            return predicted_values(estimator.predict(self._inputs(frame, estimator)), len(frame), source)
        if self.task == "multiclass":  # the most probable declared class, as the metrics take it
            return self.scores(frame, estimator).argmax(axis=1)
        if isinstance(estimator, ScoringModel):  # it decides at 0.5 on its score: one call, not two
            return (self.scores(frame, estimator) >= 0.5).astype(int)
        raw = np.asarray(estimator.predict(self._inputs(frame, estimator)))
        return (raw == np.asarray(estimator.classes_)[self.positive_index(estimator)]).astype(int)

    @cached_property
    def y_eval(self) -> np.ndarray:
        return self.labels(self.evaluation)

    @cached_property
    def score_eval(self) -> np.ndarray | None:
        """None only in score-only mode without a score column; metrics that need scores then fail closed."""
        predictions = self.spec.model.predictions
        if predictions is None:
            return self.scores(self.evaluation)
        if predictions.score_column is None:
            return None
        return pd.to_numeric(self.evaluation[predictions.score_column]).to_numpy(dtype=float)

    @cached_property
    def pred_eval(self) -> np.ndarray:
        predictions = self.spec.model.predictions
        if predictions is None:
            if self.task != "binary":
                assert self.score_eval is not None
                return self.score_eval if self.task == "regression" else self.score_eval.argmax(axis=1)
            if isinstance(self.model.estimator, ScoringModel) and self.score_eval is not None:
                return (self.score_eval >= 0.5).astype(int)
            return self.predict(self.evaluation)
        if predictions.prediction_column is not None:
            positive = predictions.predicted_positive or [self.spec.label.positive]  # type: ignore[list-item]
            return self.evaluation[predictions.prediction_column].isin(positive).to_numpy(dtype=int)
        assert self.score_eval is not None
        return (self.score_eval >= predictions.threshold).astype(int)

    def evidence_path(self, name: str) -> Path:
        return self.artifact_dir / name
