"""Scoring throughput through each model adapter against the flavour's own predict in the same process, as JSON.

    python benchmarks/models.py --rows 10000 100000 --out benchmarks/results/models.json

Data: the HMDA evaluation rows resampled to each size. Models: the HMDA LightGBM and XGBoost boosters logged with
their own MLflow flavours (the native loaders hand back the estimator itself), the LightGBM booster as a custom
python_function model (against its own pyfunc `predict`), a scikit-learn GradientBoosting model exported to ONNX
(against a bare onnxruntime `session.run` from the same DataFrame), and the LightGBM booster behind the KServe v2
server of `certification.demo.serving` on 127.0.0.1 (against a plain `requests` loop encoding and posting the same
batches one after the other; the adapter is measured one request at a time too, and four at a time). Each figure
is the best of --repeats timings.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import peak_rss_mb, write_report  # noqa: E402


def paired(repeats: int, ours: tuple[Any, ...], theirs: tuple[Any, ...]) -> tuple[float, float]:
    """The fastest of `repeats` timings of each of two calls `(function, *arguments)`, taken in turns so that both
    meet the same state of the machine (caches, clock, the other core's work)."""
    timings: list[list[float]] = [[], []]
    for _ in range(repeats):
        for side, (work, *arguments) in enumerate((ours, theirs)):
            started = time.perf_counter()
            work(*arguments)
            timings[side].append(time.perf_counter() - started)
    return min(timings[0]), min(timings[1])


def row(adapter: str, rows: int, timings: tuple[float, float], baseline: str, **extra: Any) -> dict[str, Any]:
    ours, theirs = timings
    return {
        "adapter": adapter,
        "rows": rows,
        "adapter_rows_per_s": round(rows / ours),
        "baseline": baseline,
        "baseline_rows_per_s": round(rows / theirs),
        "adapter_vs_baseline": round(theirs / ours, 3),
        **extra,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=2_000, help="rows per request to the endpoint")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="bench-models-"))
    os.environ["CERTIFICATION_HOME"] = str(home)  # a registry of its own
    os.environ.pop("MLFLOW_TRACKING_URI", None)

    import mlflow
    import onnxruntime

    from certification.config import settings
    from certification.demo.inputs import HMDA_FEATURES, hmda_model, prepare_hmda
    from certification.demo.serving import ModelServer
    from certification.hashing import file_sha256
    from certification.models import load_endpoint, load_file, load_registered
    from certification.spec import Endpoint

    config = settings()
    for flavour in ("lightgbm", "xgboost"):
        prepare_hmda(config, flavour)
    evaluation = pd.read_csv(home / "hmda" / "hmda_evaluation.csv")
    booster = hmda_model("lightgbm", pd.read_csv(home / "hmda" / "hmda_train.csv"))

    class Wrapped(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
        def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> Any:
            return booster.predict_proba(model_input[HMDA_FEATURES])[:, 1]

    mlflow.set_tracking_uri(config.tracking_uri)
    with mlflow.start_run():
        mlflow.pyfunc.log_model(
            name="model",
            python_model=Wrapped(),
            registered_model_name="hmda-pyfunc",
            pip_requirements=["mlflow"],
        )
    onnx_path = home / "hmda-lightgbm.onnx"
    onnx_path.write_bytes(_to_onnx(pd.read_csv(home / "hmda" / "hmda_train.csv")).SerializeToString())

    results: list[dict[str, Any]] = []
    for rows in args.rows:
        frame = evaluation.sample(rows, replace=True, random_state=0).reset_index(drop=True)
        inputs = frame[HMDA_FEATURES]
        for flavour in ("lightgbm", "xgboost"):
            loaded = load_registered(f"models:/hmda-{flavour}/1")
            own = importlib.import_module(f"mlflow.{flavour}").load_model(loaded.reference)  # not ours
            results.append(
                row(
                    f"mlflow {flavour} flavour",
                    rows,
                    paired(
                        args.repeats, (loaded.estimator.predict_proba, inputs), (own.predict_proba, inputs)
                    ),
                    f"{type(own).__name__}.predict_proba",
                )
            )
        pyfunc = load_registered("models:/hmda-pyfunc/1")
        results.append(
            row(
                "python_function",
                rows,
                paired(
                    args.repeats,
                    (pyfunc.estimator.predict_proba, inputs),
                    (pyfunc.estimator.model.predict, inputs),
                ),
                "PyFuncModel.predict",
            )
        )
        onnx = load_file(onnx_path, file_sha256(onnx_path), HMDA_FEATURES)
        session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
        results.append(
            row(
                "onnx",
                rows,
                paired(
                    args.repeats,
                    (onnx.estimator.predict_proba, inputs),
                    (bare_session, session, onnx.estimator.output, inputs),
                ),
                "InferenceSession.run",
            )
        )
        with ModelServer(booster, HMDA_FEATURES, name="hmda") as server:
            for concurrency in (1, 4):
                endpoint = Endpoint(
                    url=server.url,
                    protocol="kserve_v2",
                    model_name="hmda",
                    batch_size=args.batch_size,
                    concurrency=concurrency,
                )
                model = load_endpoint(endpoint, HMDA_FEATURES, None, frame).estimator
                results.append(
                    row(
                        "kserve_v2 endpoint",
                        rows,
                        paired(
                            args.repeats,
                            (model.predict_proba, frame),
                            (plain_loop, f"{server.url}/v2/models/hmda/infer", inputs, args.batch_size),
                        ),
                        "requests loop: encode, post, read one batch at a time",
                        batch_size=args.batch_size,
                        concurrency=concurrency,
                    )
                )
    for result in results:
        result["peak_rss_mb"] = round(peak_rss_mb(), 1)
    write_report("models", results, args.out)


def bare_session(session: Any, output: str, frame: pd.DataFrame) -> Any:
    """onnxruntime on its own, from the same DataFrame: one float tensor in, the probability tensor out."""
    return session.run([output], {session.get_inputs()[0].name: frame.to_numpy(np.float32)})


def plain_loop(url: str, frame: pd.DataFrame, batch_size: int) -> None:
    """What a client written by hand does: encode each batch of the frame, post it, wait for its answer, read it."""
    import requests

    with requests.Session() as session:
        for start in range(0, len(frame), batch_size):
            body = json.dumps(_kserve(frame.iloc[start : start + batch_size]))
            reply = session.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=60)
            reply.raise_for_status()
            reply.json()


def _kserve(frame: pd.DataFrame) -> dict[str, Any]:
    return {
        "inputs": [
            {"name": c, "shape": [len(frame)], "datatype": "FP64", "data": frame[c].astype(float).tolist()}
            for c in frame.columns
        ]
    }


def _to_onnx(train: pd.DataFrame) -> Any:
    """A scikit-learn gradient-boosted model on the same features, exported with skl2onnx (one float tensor)."""
    from skl2onnx import to_onnx
    from sklearn.ensemble import GradientBoostingClassifier

    from certification.demo.inputs import HMDA_FEATURES

    model = GradientBoostingClassifier(random_state=0).fit(
        train[HMDA_FEATURES], (train["deny"] == "yes").astype(int)
    )
    return to_onnx(model, train[HMDA_FEATURES].to_numpy(np.float32)[:1], options={"zipmap": False})


if __name__ == "__main__":
    main()
