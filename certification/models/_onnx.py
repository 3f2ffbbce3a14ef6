"""An ONNX file scored with onnxruntime. Two input layouts are understood: one input per column (what skl2onnx
writes for a DataFrame pipeline; the input names are the model's features) or a single 2-D tensor whose columns the
spec names in `model.features`. The probabilities are the output holding a map per row (skl2onnx's ZipMap: its
keys are the classes) or a float tensor of two class columns, else the output `model.score_column` names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from certification.errors import InputError
from certification.models._scoring import BINARY, Output, ScoringModel

_NUMPY = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(bool)": np.bool_,
    "tensor(string)": np.object_,
}


class OnnxClassifier(ScoringModel):
    batch_size = 1_000_000  # bounds the runtime's buffers on a very large evaluation set

    def __init__(
        self, path: Path, features: list[str] | None, score_column: str | None, output: Output = BINARY
    ) -> None:
        import onnxruntime

        self.source, self.score_column = str(path), score_column
        self.expect(output)
        try:
            options = onnxruntime.SessionOptions()
            options.log_severity_level = 3  # the runtime's own warnings go to stderr, not into evidence
            self.session = onnxruntime.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:
            raise InputError(str(path), f"onnxruntime cannot load it: {exc}", field="model.path") from exc
        self.inputs = self.session.get_inputs()
        unknown = [f"{i.name}: {i.type}" for i in self.inputs if i.type not in _NUMPY]
        if unknown:
            raise InputError(str(path), f"inputs of unsupported types {unknown}", field="model.path")
        self.tensor = len(self.inputs) == 1 and _width(self.inputs[0].shape) != 1
        if self.tensor:
            width = _width(self.inputs[0].shape)
            if not features:
                raise InputError(
                    str(path),
                    f"takes one tensor {self.inputs[0].name!r} of shape {self.inputs[0].shape}; name its columns in "
                    "model.features",
                    field="model.features",
                )
            if width is not None and width != len(features):
                raise InputError(
                    str(path),
                    f"its input {self.inputs[0].name!r} has {width} columns, model.features names {len(features)}",
                    field="model.features",
                )
            self.feature_names_in_ = np.array(features, dtype=object)
        else:
            if features and sorted(features) != sorted(i.name for i in self.inputs):
                raise InputError(
                    str(path),
                    f"its inputs {[i.name for i in self.inputs]} are not model.features {features}",
                    field="model.features",
                )
            self.feature_names_in_ = np.array([i.name for i in self.inputs], dtype=object)
        self.output = self._probability_output()

    def _probability_output(self) -> str:
        outputs = {o.name: o for o in self.session.get_outputs()}
        if self.score_column is not None:
            if self.score_column not in outputs:
                raise InputError(
                    self.source,
                    f"has no output {self.score_column!r}; outputs: {list(outputs)}",
                    field="model",
                )
            return self.score_column
        maps = [o.name for o in outputs.values() if o.type.startswith("seq(map(")]
        # a regressor answers one column, a classifier one per class
        widths = {"binary": (2, None), "multiclass": (len(self.classes_), None), "regression": (1, None)}[
            self.task
        ]
        tensors = [
            o.name
            for o in outputs.values()
            if o.type in ("tensor(float)", "tensor(double)") and _width(o.shape) in widths
        ]
        if self.task == "regression":
            maps = []
        found = maps or tensors
        if len(found) != 1:
            described = [f"{o.name}: {o.type}" for o in outputs.values()]
            what = "predictions" if self.task == "regression" else "class probabilities"
            raise InputError(
                self.source,
                f"cannot tell which output holds the {what} among {described}; name it in model.score_column",
                field="model.score_column",
            )
        return found[0]

    def answer(self, frame: pd.DataFrame) -> Any:
        if self.tensor:
            dtype = _NUMPY[self.inputs[0].type]
            columns = list(self.feature_names_in_)
            chosen = frame if list(frame.columns) == columns else frame[columns]
            feed = {self.inputs[0].name: chosen.to_numpy(dtype=dtype)}
        else:
            feed = {
                i.name: frame[[i.name]].to_numpy().astype(_NUMPY[i.type])
                if i.type != "tensor(string)"
                else frame[[i.name]].astype(str).to_numpy(dtype=object)
                for i in self.inputs
            }
        (found,) = self.session.run([self.output], feed)
        if isinstance(found, list):  # a map per row: class -> probability
            table = pd.DataFrame(found)
            if self.task == "multiclass":
                return table  # its columns are matched with the declared classes
            self.classes_ = np.array(list(table.columns))
            if len(self.classes_) != 2:
                raise InputError(
                    self.source, f"answers for classes {list(self.classes_)}: binary needs two", field="model"
                )
            return table.to_numpy(dtype=float)
        return found


def _width(shape: list[Any]) -> int | None:
    """The column count of a [rows, columns] input (None when symbolic), 1 for a [rows] input."""
    if len(shape) < 2:
        return 1
    return shape[1] if isinstance(shape[1], int) else None
