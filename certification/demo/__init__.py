"""The demo and the test suite's real inputs: public data shipped offline (datasets), the Adult model registered in
MLflow and the embedded specs (inputs, specs/), a drifting production stream (drift_stream), a local Airflow stack
(stack), and the walkthrough `make demo` runs (`python -m certification.demo`)."""

from certification.demo.inputs import (
    MODEL_NAME,
    PROTECTED,
    SKOPS_TRUSTED,
    adult_model,
    prepare,
    production_days,
    write_compas_predictions,
)

__all__ = [
    "MODEL_NAME",
    "PROTECTED",
    "SKOPS_TRUSTED",
    "adult_model",
    "prepare",
    "production_days",
    "write_compas_predictions",
]
