"""The model interface every stage scores through, and its adapters: a registry version of any MLflow flavour (native
loaders for sklearn, xgboost and lightgbm; python_function under the pyfunc contract), a pinned local file (joblib,
skops, ONNX), a served model (MLflow scoring or KServe v2 over HTTP), or the predictions table of a score-only run.
Each adapter that is not a scikit-learn-style estimator is a `ScoringModel`: one positive-class probability per
row, its answers checked the same way whatever produced them."""

from certification.models._endpoint import EndpointClassifier, use_connection_lookup
from certification.models._loaded import (
    LoadedModel,
    load_endpoint,
    load_file,
    load_model,
    load_registered,
    registered_sha256,
    served_identity,
)
from certification.models._onnx import OnnxClassifier
from certification.models._pyfunc import PyfuncClassifier
from certification.models._scoring import (
    Output,
    ScoringModel,
    class_probabilities,
    positive_scores,
    predicted_values,
)

__all__ = [
    "EndpointClassifier",
    "LoadedModel",
    "OnnxClassifier",
    "Output",
    "PyfuncClassifier",
    "ScoringModel",
    "class_probabilities",
    "load_endpoint",
    "load_file",
    "load_model",
    "load_registered",
    "positive_scores",
    "predicted_values",
    "registered_sha256",
    "served_identity",
    "use_connection_lookup",
]
