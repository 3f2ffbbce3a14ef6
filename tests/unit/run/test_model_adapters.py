"""An ONNX file and a model behind a served endpoint (a KServe v2 server and MLflow's own scoring server, both started
here on 127.0.0.1) go through `certify run` to a verdict; their failures (wrong inputs, unreachable, timeouts, 5xx,
answers of the wrong shape, probabilities not summing to 1, NaN) fail closed with the model named, and a model
swapped behind the endpoint during the run fails it."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest
import requests

from certification import Pipeline
from certification.cli import ERROR, NOT_CERTIFIED, OK, main
from certification.demo import SKOPS_TRUSTED, adult_model
from certification.demo.serving import ModelServer
from certification.errors import InputError
from certification.hashing import file_sha256
from certification.models import load_endpoint, load_file
from certification.spec import Endpoint
from tests.helpers import certify, cli_verdict

TOKEN = "s3cr3t-scoring-token-7f1e"  # noqa: S105 - the test proves it is never recorded
NUMERIC = ["age", "fnlwgt", "education_num", "capital_gain", "capital_loss", "hours_per_week"]
CATEGORICAL = ["workclass", "education", "marital_status", "occupation"]


# -- ONNX ------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def onnx_files(tmp_path_factory: pytest.TempPathFactory, adult_files: dict[str, Path]) -> dict[str, Any]:
    """A column-per-input pipeline (skl2onnx's DataFrame layout) and a single-tensor logistic regression."""
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType
    from sklearn.compose import make_column_transformer
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    folder = tmp_path_factory.mktemp("onnx")
    train = pd.read_csv(adult_files["train"])
    train[CATEGORICAL] = train[CATEGORICAL].fillna("unknown")
    labels = (train["income"] == ">50K").astype(int)
    columns = make_column_transformer(
        (StandardScaler(), NUMERIC), (OneHotEncoder(handle_unknown="ignore"), CATEGORICAL)
    )
    trees = make_pipeline(columns, GradientBoostingClassifier(n_estimators=60, random_state=0))
    trees.fit(train[NUMERIC + CATEGORICAL], labels)
    inputs = [(c, FloatTensorType([None, 1])) for c in NUMERIC] + [
        (c, StringTensorType([None, 1])) for c in CATEGORICAL
    ]
    (folder / "trees.onnx").write_bytes(
        to_onnx(trees, initial_types=inputs, target_opset=17).SerializeToString()
    )
    linear = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(train[NUMERIC], labels)
    tensor = to_onnx(linear, train[NUMERIC].to_numpy(np.float32)[:1], options={"zipmap": False})
    (folder / "linear.onnx").write_bytes(tensor.SerializeToString())
    return {"trees": trees, "linear": linear, "folder": folder}


def test_an_onnx_file_scores_as_the_pipeline_it_was_exported_from(
    onnx_files: dict[str, Any], adult_files: dict[str, Path]
) -> None:
    rows = pd.read_csv(adult_files["evaluation"])
    rows[CATEGORICAL] = rows[CATEGORICAL].fillna("unknown")
    trees_file, linear_file = onnx_files["folder"] / "trees.onnx", onnx_files["folder"] / "linear.onnx"
    trees = load_file(trees_file, file_sha256(trees_file))
    assert (trees.flavour, list(trees.estimator.feature_names_in_)) == ("onnx", NUMERIC + CATEGORICAL)
    assert not trees.refittable and trees.sha256 == file_sha256(trees_file)
    expected = onnx_files["trees"].predict_proba(rows[NUMERIC + CATEGORICAL])
    close = np.isclose(trees.estimator.predict_proba(rows), expected, atol=1e-5).all(axis=1)
    assert close.mean() > 0.999  # the float32 runtime puts a handful of rows on the other side of a split
    linear = load_file(linear_file, file_sha256(linear_file), NUMERIC)
    np.testing.assert_allclose(
        linear.estimator.predict_proba(rows), onnx_files["linear"].predict_proba(rows[NUMERIC]), atol=1e-5
    )


def _onnx_spec(onnx_files: dict[str, Any], name: str, **model: Any):  # type: ignore[no-untyped-def]
    path = onnx_files["folder"] / name
    return lambda s: s.update(model={"path": str(path), "sha256": file_sha256(path), **model})


def test_an_onnx_file_is_certified_end_to_end(
    home: Path, onnx_files: dict[str, Any], write_spec, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "--json",
            "run",
            str(write_spec(_onnx_spec(onnx_files, "linear.onnx", features=NUMERIC))),
            "--submitted-by",
            "dana",
        ]
    )
    status, results = cli_verdict(capsys.readouterr().out, code)
    assert status["run"]["model_reference"].endswith("linear.onnx")
    assert "onnx model cannot be refit" in results["evaluation.cross_validation"]["message"]
    for query in (
        "evaluation.performance",
        "evaluation.latency",
        "robustness.evasion",
        "fairness.demographic_parity",
    ):
        assert results[query]["status"] in ("pass", "warn", "fail"), results[query]


@pytest.mark.parametrize(
    ("name", "features", "message"),
    [
        ("linear.onnx", None, "takes one tensor 'X' of shape [None, 6]; name its columns in model.features"),
        ("linear.onnx", NUMERIC[:4], "its input 'X' has 6 columns, model.features names 4"),
        ("trees.onnx", ["age", "sex"], "are not model.features ['age', 'sex']"),
    ],
)
def test_an_onnx_file_whose_inputs_do_not_match_is_an_error_run(
    home: Path,
    onnx_files: dict[str, Any],
    write_spec,
    capsys: pytest.CaptureFixture[str],
    name: str,
    features: list[str] | None,
    message: str,
) -> None:
    spec = write_spec(_onnx_spec(onnx_files, name, **({"features": features} if features else {})))
    assert main(["run", str(spec), "--submitted-by", "dana"]) == ERROR
    err = capsys.readouterr().err
    assert name in err and message in err, err
    [error] = Pipeline().ledger.query("SELECT reasons_json FROM {s}.decisions WHERE verdict = 'error'")
    assert message in error["reasons_json"]


def test_an_onnx_input_missing_from_the_data_names_the_column(
    home: Path, onnx_files: dict[str, Any], write_spec, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    def renamed(spec: dict[str, Any]) -> None:
        _onnx_spec(onnx_files, "trees.onnx")(spec)
        for part in ("train", "evaluation"):
            frame = pd.read_csv(spec["datasets"][part]["path"]).rename(columns={"occupation": "job"})
            frame.to_csv(tmp_path / f"{part}.csv", index=False)
            spec["datasets"][part]["path"] = str(tmp_path / f"{part}.csv")

    assert main(["run", str(write_spec(renamed)), "--submitted-by", "dana"]) == ERROR
    assert "missing columns ['occupation']" in capsys.readouterr().err


# -- a served model ---------------------------------------------------------------------------------------------
@pytest.fixture
def served(adult_files: dict[str, Path]) -> Iterator[ModelServer]:
    pipeline = joblib.load(adult_files["model"])
    with ModelServer(pipeline, list(pipeline.feature_names_in_), name="adult", token=TOKEN) as server:
        yield server


@pytest.fixture
def credentials(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("AIRFLOW_CONN_SCORING", f"http://:{TOKEN}@scoring")
    return "scoring"


def _endpoint(server: ModelServer, **fields: Any) -> dict[str, Any]:
    return {"url": server.url, "protocol": "kserve_v2", "model_name": server.name, **fields}


def test_a_served_model_is_certified_over_http_and_its_credentials_never_recorded(
    home: Path, served: ModelServer, credentials: str, write_spec, capsys: pytest.CaptureFixture[str]
) -> None:
    endpoint = _endpoint(served, connection=credentials, batch_size=2000, concurrency=2)
    spec = write_spec(lambda s: s.update(model={"endpoint": endpoint}))
    code = main(["--json", "run", str(spec), "--submitted-by", "dana"])
    status, results = cli_verdict(capsys.readouterr().out, code)
    assert status["run"]["model_reference"] == f"endpoint:{served.url}/v2/models/adult"
    assert "endpoint model cannot be refit" in results["evaluation.cross_validation"]["message"]
    for query in ("evaluation.performance", "evaluation.latency", "robustness.evasion", "robustness.stress"):
        assert results[query]["status"] in ("pass", "warn", "fail"), results[query]
    assert served.requests > 10  # every stage asked the server
    assert results["evaluation.latency"]["measured"]["call_path"] == "http"
    recorded = [p for p in home.rglob("*") if p.is_file()] + list(home.parent.glob("mlflow.db*"))
    assert recorded and [str(p) for p in recorded if TOKEN.encode() in p.read_bytes()] == []


def test_a_served_models_certificate_verifies_only_while_the_same_model_answers(
    home: Path, served: ModelServer, credentials: str, write_spec, adult_files: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    spec = write_spec(lambda s: s.update(model={"endpoint": _endpoint(served, connection=credentials)}))
    pipeline = Pipeline()
    run_id = certify(pipeline, spec)
    certificate = pipeline.status(run_id)["documents"]["certificate.json"]
    assert main(["certificate", "verify", certificate]) == OK
    train = pd.read_csv(adult_files["train"])
    served.model = adult_model(train.sample(frac=0.5, random_state=2), served.features)
    capsys.readouterr()
    assert main(["certificate", "verify", certificate]) == NOT_CERTIFIED
    assert f"the model endpoint:{served.url}/v2/models/adult changed" in capsys.readouterr().out


def test_without_its_credentials_the_endpoint_refuses_and_the_run_is_an_error(
    home: Path,
    served: ModelServer,
    write_spec,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spec = write_spec(lambda s: s.update(model={"endpoint": _endpoint(served)}))
    assert main(["run", str(spec), "--submitted-by", "dana"]) == ERROR
    assert "answered HTTP 401" in capsys.readouterr().err
    spec = write_spec(lambda s: s.update(model={"endpoint": _endpoint(served, connection="nowhere")}))
    assert main(["run", str(spec), "--submitted-by", "dana"]) == ERROR
    assert "the credentials Connection 'nowhere' is not set (AIRFLOW_CONN_NOWHERE)" in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _probabilities(body: Any, transform: Any) -> tuple[int, Any]:
    rows = body["inputs"][0]["shape"][0]
    return 200, {"outputs": [{"name": "probabilities", "datatype": "FP64", **transform(rows)}]}


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        (lambda n: {"shape": [n], "data": [0.5] * (n - 1) + [float("nan")]}, "outside [0, 1] or NaN"),
        (lambda n: {"shape": [n, 2], "data": [0.7, 0.7] * n}, "do not sum to 1 (off by up to 0.4)"),
        (lambda n: {"shape": [n, 3], "data": [0.2, 0.3, 0.5] * n}, "answered shape"),
        (lambda n: {"shape": [n], "data": [1.5] * n}, "outside [0, 1] or NaN"),
        (lambda n: {"shape": [n], "data": ["high"] * n}, "malformed output tensor"),
    ],
)
def test_a_wrong_answer_is_an_error_naming_the_endpoint(
    served: ModelServer, credentials: str, adult_files: dict[str, Path], fault: Any, message: str
) -> None:
    rows = pd.read_csv(adult_files["evaluation"]).head(100)
    model = load_endpoint(Endpoint(**_endpoint(served, connection=credentials)), None, None, rows).estimator
    served.fault = lambda path, body: _probabilities(body, fault) if path.endswith("/infer") else None
    with pytest.raises(InputError, match=re.escape(message)) as raised:
        model.predict_proba(rows)
    assert f"{served.url}/v2/models/adult" in str(raised.value)


def test_retries_cure_a_passing_outage_and_give_up_after_the_bound(
    served: ModelServer, credentials: str, adult_files: dict[str, Path]
) -> None:
    rows = pd.read_csv(adult_files["evaluation"]).head(100)
    endpoint = Endpoint(**_endpoint(served, connection=credentials, retries=2, backoff_seconds=0.01))
    model = load_endpoint(endpoint, None, None, rows).estimator
    failures = iter([(503, {"error": "warming up"}), (502, {"error": "bad gateway"})])
    served.fault = lambda path, body: next(failures, None)
    before = served.requests
    expected = joblib.load(adult_files["model"]).predict_proba(rows)
    np.testing.assert_allclose(model.predict_proba(rows), expected)
    assert served.requests - before == 3
    served.fault = lambda path, body: (500, {"error": "model crashed"})
    with pytest.raises(InputError, match=re.escape("failed after 3 tries: HTTP 500")):
        model.predict_proba(rows)


def test_a_slow_or_unreachable_endpoint_is_an_error(
    served: ModelServer, credentials: str, adult_files: dict[str, Path]
) -> None:
    rows = pd.read_csv(adult_files["evaluation"]).head(20)
    slow = Endpoint(
        **_endpoint(served, connection=credentials, timeout_seconds=0.2, retries=1, backoff_seconds=0)
    )
    model = load_endpoint(slow, None, None, rows).estimator
    served.fault = lambda path, body: time.sleep(0.6)  # type: ignore[func-returns-value]
    with pytest.raises(InputError, match=re.escape("failed after 2 tries: no answer within 0.2 s")):
        model.predict_proba(rows)
    gone = Endpoint(
        url=f"http://127.0.0.1:{_free_port()}", protocol="kserve_v2", model_name="adult", retries=1
    )
    with pytest.raises(InputError, match=re.escape("failed after 2 tries: unreachable")):
        load_endpoint(gone, None, None, rows)


def test_a_5xx_in_the_middle_of_a_stage_is_an_error_result_for_that_stage(
    home: Path, served: ModelServer, credentials: str, write_spec
) -> None:
    spec = write_spec(
        lambda s: s.update(model={"endpoint": _endpoint(served, connection=credentials, retries=1)})
    )
    pipeline = Pipeline()
    run_id, ctx = pipeline.start(str(spec), submitted_by="dana")
    assert ctx is not None
    pipeline.run_stage(run_id, "data_validation", ctx)
    served.fault = lambda path, body: (503, {"error": "overloaded"})
    robustness = pipeline.run_stage(run_id, "robustness", ctx)
    assert {r.status.value for r in robustness if r.check_id != "robustness.privacy"} >= {"error"}
    assert any("failed after 2 tries: HTTP 503" in r.message for r in robustness)


def test_a_model_swapped_behind_the_endpoint_mid_run_fails_the_run(
    home: Path, served: ModelServer, credentials: str, write_spec, adult_files: dict[str, Path]
) -> None:
    """Held in one process (the CLI) the swap is caught when the gate asks the endpoint again; re-opened by a later
    task (Airflow) the stage itself refuses the changed model."""
    spec = write_spec(lambda s: s.update(model={"endpoint": _endpoint(served, connection=credentials)}))
    pipeline = Pipeline()
    run_id, ctx = pipeline.start(str(spec), submitted_by="dana")
    assert ctx is not None
    pipeline.run_stage(run_id, "data_validation", ctx)
    pipeline.run_stage(run_id, "evaluation", ctx)
    train = pd.read_csv(adult_files["train"])  # a retrain on half the data, deployed without a word
    served.model = adult_model(train.sample(frac=0.5, random_state=1), served.features)
    [refused] = {r.message for r in pipeline.run_stage(run_id, "fairness")}
    assert refused.startswith(f"model changed since the run started (endpoint:{served.url}/v2/models/adult)")
    for stage in ("robustness", "compliance"):
        pipeline.run_stage(run_id, stage, ctx)
    gate = pipeline.gate(run_id)
    assert gate["verdict"] == "failed"
    assert any(
        f"the model behind endpoint:{served.url}/v2/models/adult changed during the run" in r
        for r in gate["reasons_json"]
    ), gate["reasons_json"]
    assert pipeline.finalize(run_id)["verdict"] == "rejected"


def test_a_model_served_by_mlflows_own_scoring_server_is_certified(
    home: Path, adult_files: dict[str, Path], write_spec, capsys: pytest.CaptureFixture[str]
) -> None:
    """`mlflow models serve` of a registered version, asked in the MLflow scoring protocol (dataframe_split)."""
    import mlflow

    pipeline = joblib.load(adult_files["model"])
    with mlflow.start_run():
        mlflow.sklearn.log_model(
            pipeline, name="model", registered_model_name="served-adult", pyfunc_predict_fn="predict_proba",
            pip_requirements=["scikit-learn"], skops_trusted_types=SKOPS_TRUSTED,
        )  # fmt: skip
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "models", "serve", "-m", "models:/served-adult/1", "--env-manager", "local",
         "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(240):
            try:
                if requests.get(f"{url}/ping", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert server.poll() is None, server.stderr.read() if server.stderr else ""
            time.sleep(0.5)
        features = list(pipeline.feature_names_in_)
        spec = write_spec(
            lambda s: s.update(model={"endpoint": {"url": url, "batch_size": 4000}, "features": features})
        )
        code = main(["--json", "run", str(spec), "--submitted-by", "dana"])
        status, results = cli_verdict(capsys.readouterr().out, code)
        assert status["run"]["model_reference"] == f"endpoint:{url}/invocations"
        assert results["evaluation.performance"]["status"] in ("pass", "warn", "fail")
        rows = pd.read_csv(adult_files["evaluation"]).head(300)
        served = load_endpoint(Endpoint(url=url), features, None, rows).estimator
        np.testing.assert_allclose(
            served.predict_proba(rows), pipeline.predict_proba(rows[features]), atol=1e-12
        )
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
