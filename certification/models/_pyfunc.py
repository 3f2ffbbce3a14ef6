"""A python_function model of the MLflow registry, held to the pyfunc contract."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from certification.models._scoring import ScoringModel


class PyfuncClassifier(ScoringModel):
    """A python_function model under the pyfunc contract: it answers one positive-class probability per row (1-D or
    one column), two per-class probability columns, or a wider table whose column `score_column` (the spec's
    `model.score_column`) holds it. Binary with class 1 positive, decided at 0.5; it cannot be refit."""

    def __init__(self, model: Any, source: str, score_column: str | None) -> None:
        self.model, self.source, self.score_column = model, source, score_column
        schema = model.metadata.get_input_schema()
        if schema is not None and schema.has_input_names():
            self.feature_names_in_ = np.array(schema.input_names(), dtype=object)

    def answer(self, frame: pd.DataFrame) -> Any:
        return self.model.predict(frame)
