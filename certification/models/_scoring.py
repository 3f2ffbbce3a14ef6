"""What every adapter shares: a binary classifier seen through its positive-class probability (a multiclass one
through its probability of each declared class, a regressor through its predicted value), with the face of a
scikit-learn estimator (classes_, predict_proba, predict) so each stage asks it the way it asks any estimator.
Answers are checked here once for every kind of model: a wrong shape, NaN or a value outside [0, 1], per-class
probabilities that do not sum to 1 or are not the declared classes are an InputError naming the model, so the
check that asked fails closed."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from certification.errors import InputError

if TYPE_CHECKING:
    from certification.spec import Spec

SUM_TOLERANCE = 1e-4  # float32 runtimes (ONNX) round per-class probabilities by a few 1e-7


@dataclass(frozen=True)
class Output:
    """What the spec says a model answers: its task and, for a multiclass model, the declared classes in order."""

    task: str = "binary"
    classes: tuple[Any, ...] = ()

    @classmethod
    def of(cls, spec: Spec) -> Output:
        return cls(spec.task, tuple(spec.label.values or ()) if spec.task == "multiclass" else ())


BINARY = Output()


class ScoringModel:
    """Subclasses answer a batch (`answer`); scoring, batching and the checks of the answer live here. Not
    refittable: it has no get_params, so cross-validation and refitting mitigations are not_applicable."""

    classes_: np.ndarray = np.array([0, 1])  # the score is the probability of classes_[1]
    source: str = "model"
    score_column: str | None = (
        None  # the column of a tabular answer that holds the positive-class probability
    )
    batch_size: int | None = None  # rows per call; None: the whole frame at once
    concurrency = 1  # calls in flight at once (a served model's requests)
    task = "binary"  # regression: the answer is the predicted value itself, and score() returns it

    def expect(self, output: Output) -> None:
        """What the spec says the model answers: a multiclass model one probability per declared class, the
        classes in the spec's order (which classes_ then is), a regressor one value per row."""
        self.task = output.task
        if output.task == "multiclass":
            self.classes_ = np.array(output.classes, dtype=object)

    def answer(self, frame: pd.DataFrame) -> Any:
        raise NotImplementedError

    def score(self, frame: pd.DataFrame) -> np.ndarray:
        batches = batched(frame, self.batch_size)
        if self.concurrency > 1 and len(batches) > 1:
            with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
                answers = list(pool.map(self.answer, batches))
        else:
            answers = [self.answer(b) for b in batches]
        return self.checked(answers, [len(b) for b in batches])

    def checked(self, answers: list[Any], rows: list[int]) -> np.ndarray:
        if self.task == "multiclass":
            found = [
                class_probabilities(a, n, self.source, list(self.classes_))
                for a, n in zip(answers, rows, strict=True)
            ]
            return np.concatenate(found) if found else np.empty((0, len(self.classes_)))
        read = predicted_values if self.task == "regression" else positive_scores
        scores = [read(a, n, self.source, self.score_column) for a, n in zip(answers, rows, strict=True)]
        return np.concatenate(scores) if scores else np.empty(0)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        score = self.score(frame)
        return score if self.task == "multiclass" else np.column_stack([1 - score, score])

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        if self.task == "regression":
            return self.score(frame)
        if self.task == "multiclass":
            return np.asarray(self.classes_)[self.score(frame).argmax(axis=1)]
        return np.asarray(self.classes_)[(self.score(frame) >= 0.5).astype(int)]


def batched(frame: pd.DataFrame, size: int | None) -> list[pd.DataFrame]:
    """The frame in slices of at most `size` rows (no copy when it fits in one)."""
    if size is None or len(frame) <= size:
        return [frame]
    return [frame.iloc[i : i + size] for i in range(0, len(frame), size)]


def _numbers(answer: Any, source: str, score_column: str | None) -> np.ndarray:
    """A model's answer as a float array: a wider table gives its column `score_column`."""
    if isinstance(answer, pd.DataFrame) and answer.shape[1] > 1:
        if score_column not in answer.columns:
            raise InputError(
                source,
                f"answered columns {list(answer.columns)}; model.score_column must name the one to read",
                field="model.score_column",
            )
        answer = answer[score_column]
    try:
        found = np.asarray(answer, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InputError(source, f"answered non-numeric scores: {exc}", field="model") from exc
    return found[:, 0] if found.ndim == 2 and found.shape[1] == 1 else found


def _one_per_row(values: np.ndarray, rows: int, source: str, expected: str) -> np.ndarray:
    if values.shape != (rows,):
        raise InputError(source, f"answered shape {values.shape} for {rows} rows: {expected}", field="model")
    return values


def predicted_values(answer: Any, rows: int, source: str, score_column: str | None = None) -> np.ndarray:
    """One finite prediction per row from a regressor's answer (1-D, one column, or `score_column`)."""
    values = _one_per_row(
        _numbers(answer, source, score_column), rows, source, "one predicted value per row was expected"
    )
    if not np.isfinite(values).all():
        raise InputError(source, "answered NaN or infinite predictions", field="model")
    return values


def positive_scores(answer: Any, rows: int, source: str, score_column: str | None = None) -> np.ndarray:
    """One positive-class probability per row from a model's answer: a 1-D answer or a one-column table; per-class
    probabilities (two columns, summing to 1; the second is the positive class); or the column `score_column` of a
    wider table."""
    score = _numbers(answer, source, score_column)
    if score.ndim == 2 and score.shape[1] == 2 and score.shape[0] == rows:
        worst = float(np.abs(score[:, 0] + score[:, 1] - 1.0).max()) if rows else 0.0
        if not worst <= SUM_TOLERANCE:  # NaN fails too
            raise InputError(
                source,
                f"answered class probabilities that do not sum to 1 (off by up to {worst:.3g})",
                field="model",
            )
        score = score[:, 1]
    _one_per_row(
        score,
        rows,
        source,
        "one positive-class probability per row (or two class probabilities) was expected",
    )
    if not ((score >= 0) & (score <= 1)).all():  # NaN compares false
        raise InputError(source, "answered scores outside [0, 1] or NaN", field="model")
    return score


def class_probabilities(answer: Any, rows: int, source: str, classes: list[Any]) -> np.ndarray:
    """(rows, K) probabilities of the declared classes, in their order, from a multiclass model's answer: a table
    whose columns are the classes (in any order), or K columns in the declared order; each row in [0, 1], summing
    to 1. Columns that are not the declared classes are an error naming both."""
    names = [str(c) for c in classes]
    if isinstance(answer, pd.DataFrame):
        answered = [str(c) for c in answer.columns]
        if sorted(answered) != sorted(names):
            raise InputError(
                source,
                f"answered probability columns {answered}, which are not the declared classes {names} "
                "(label.values)",
                field="label.values",
            )
        answer = answer.set_axis(answered, axis=1)[names]
    try:
        found = np.asarray(answer, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InputError(source, f"answered non-numeric probabilities: {exc}", field="model") from exc
    if found.ndim != 2 or found.shape[0] != rows:
        raise InputError(
            source,
            f"answered shape {found.shape} for {rows} rows: one probability per class was expected",
            field="model",
        )
    if found.shape[1] != len(names):
        raise InputError(
            source,
            f"answered {found.shape[1]} probability columns for the {len(names)} declared classes {names} "
            "(label.values)",
            field="label.values",
        )
    if not ((found >= 0) & (found <= 1)).all():  # NaN compares false
        raise InputError(source, "answered probabilities outside [0, 1] or NaN", field="model")
    worst = float(np.abs(found.sum(axis=1) - 1.0).max()) if rows else 0.0
    if not worst <= SUM_TOLERANCE:
        raise InputError(
            source,
            f"answered class probabilities that do not sum to 1 (off by up to {worst:.3g})",
            field="model",
        )
    return found
