"""A gauntlet of malformed inputs: each gets a clear error naming the file or field, a recorded `error` run, and
leaves everything already in the ledger intact. Served models that misbehave are answered by a real server on
127.0.0.1."""

from __future__ import annotations

import pickle
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest
import yaml

from certification import Pipeline
from certification.cli import ERROR, OK, main
from certification.demo.serving import ModelServer
from certification.hashing import file_sha256
from tests.helpers import spec_dict

Prepare = Callable[[dict[str, Any], Path], str | None]  # edits the spec dict or returns raw spec text


def _data(name: str, edit: Callable[[pd.DataFrame], pd.DataFrame]) -> Prepare:
    """Write an edited copy of the train or evaluation CSV and point the spec at it."""

    def prepare(spec: dict[str, Any], folder: Path) -> None:
        frame = edit(pd.read_csv(spec["datasets"][name]["path"]))
        path = folder / f"bad_{name}.csv"
        frame.to_csv(path, index=False)
        spec["datasets"][name]["path"] = str(path)

    return prepare


def _file(name: str, content: bytes, suffix: str = ".csv") -> Prepare:
    def prepare(spec: dict[str, Any], folder: Path) -> None:
        path = folder / f"raw_{name}{suffix}"
        path.write_bytes(content)
        spec["datasets"][name]["path"] = str(path)

    return prepare


def _model(content: bytes, suffix: str = ".joblib") -> Prepare:
    def prepare(spec: dict[str, Any], folder: Path) -> None:
        path = folder / f"model{suffix}"
        path.write_bytes(content)
        spec["model"] = {"path": str(path), "sha256": file_sha256(path)}

    return prepare


def _truncated(spec: dict[str, Any], folder: Path) -> None:
    text = Path(spec["datasets"]["evaluation"]["path"]).read_text()
    path = folder / "truncated.csv"
    path.write_text(text[: text.index("\n") + 1])  # the header survived, every row was lost
    spec["datasets"]["evaluation"]["path"] = str(path)


def _edit(change: Callable[[dict[str, Any]], Any]) -> Prepare:
    def prepare(spec: dict[str, Any], folder: Path) -> None:
        change(spec)

    return prepare


def _text(text: str) -> Prepare:
    return lambda spec, folder: text


def _regression(
    target: str, *, classifier: bool = False, change: Callable[[dict[str, Any]], Any] | None = None
) -> Prepare:
    """The Adult spec turned into a regression of `target` on the numeric answers, with a fitted linear regressor
    (or the Adult classifier), then `change`d."""

    def prepare(spec: dict[str, Any], folder: Path) -> None:
        from sklearn.linear_model import LinearRegression

        evaluation = spec["checks"]["evaluation"]
        spec.update(task="regression", label={"column": target})
        spec.pop("monitoring")
        evaluation.update(thresholds={"mae": {"max": 10}}, slice_metric="mae")
        evaluation["champion"].update(metric="mae")
        spec["checks"]["robustness"].pop("fallback")
        spec["checks"]["robustness"]["prediction_tolerance"] = 5
        for name in ("max_demographic_parity_difference", "max_equalized_odds_difference"):
            spec["checks"]["fairness"].pop(name)
        if not classifier:
            train = pd.read_csv(spec["datasets"]["train"]["path"])
            features = [c for c in ("age", "education_num", "capital_gain") if c != target]
            numeric = train[target] if pd.api.types.is_numeric_dtype(train[target]) else train["age"]
            path = folder / "regressor.joblib"
            joblib.dump(LinearRegression().fit(train[features], numeric), path)
            spec["model"] = {"path": str(path), "sha256": file_sha256(path), "features": features}
        if change is not None:
            change(spec)

    return prepare


RELATIONSHIPS = ["Husband", "Not-in-family", "Own-child", "Unmarried", "Wife", "Other-relative"]


def _multiclass(
    declared: list[str] = RELATIONSHIPS, learned: list[str] = RELATIONSHIPS, *, served: str | None = None
) -> Prepare:
    """The Adult spec turned into a multiclass model of `relationship` declaring the classes `declared`, with a
    logistic regression fitted on the training rows of the classes `learned` (or the misbehaving endpoint
    `served`)."""

    def prepare(spec: dict[str, Any], folder: Path) -> None:
        from sklearn.linear_model import LogisticRegression

        spec.update(task="multiclass", label={"column": "relationship", "values": declared})
        spec["checks"]["evaluation"].update(thresholds={"accuracy": {"min": 0.1}})
        if served is not None:
            _served(served)(spec, folder)
            return
        train = pd.read_csv(spec["datasets"]["train"]["path"])
        train = train[train["relationship"].isin(learned)]
        features = ["age", "education_num", "hours_per_week"]
        path = folder / "multiclass.joblib"
        joblib.dump(LogisticRegression(max_iter=500).fit(train[features], train["relationship"]), path)
        spec["model"] = {"path": str(path), "sha256": file_sha256(path), "features": features}

    return prepare


def _then(first: Prepare, second: Prepare) -> Prepare:
    def prepare(spec: dict[str, Any], folder: Path) -> None:
        first(spec, folder)
        second(spec, folder)

    return prepare


SERVED = "http://served.invalid"  # replaced by the misbehaving server's address


def _served(name: str, **endpoint: Any) -> Prepare:
    """The model behind an endpoint: `name` picks how the misbehaving server answers."""
    fields = {"url": SERVED, "protocol": "kserve_v2", "model_name": name, "retries": 0, **endpoint}
    return _edit(lambda s: s["model"].clear() or s["model"].update(endpoint=fields))


def _answer(rows: int, shape: list[int], data: list[Any]) -> tuple[int, Any]:
    return 200, {"outputs": [{"name": "probabilities", "datatype": "FP64", "shape": shape, "data": data}]}


MISBEHAVIOUR: dict[str, Callable[[int], tuple[int, Any]]] = {
    "nan": lambda n: _answer(n, [n], [float("nan")] * n),
    "unsummed": lambda n: _answer(n, [n, 2], [0.7, 0.7] * n),
    "wide": lambda n: _answer(n, [n, 3], [0.2, 0.3, 0.5] * n),
    "failing": lambda n: (503, {"error": "model crashed"}),
    "slow": lambda n: time.sleep(1.0) or _answer(n, [n], [0.5] * n),  # type: ignore[func-returns-value]
}


@pytest.fixture(scope="module")
def misbehaving(adult_files: dict[str, Path]) -> Iterator[str]:
    """A KServe v2 server on 127.0.0.1 whose models answer wrongly, each in its own way (see MISBEHAVIOUR)."""
    pipeline = joblib.load(adult_files["model"])
    server = ModelServer(pipeline, list(pipeline.feature_names_in_), name="adult")

    def fault(path: str, body: Any) -> tuple[int, Any] | None:
        name = path.split("/")[3] if path.startswith("/v2/models/") else ""
        if name not in MISBEHAVIOUR:
            return None
        if body is None:
            return 200, {**server.metadata(), "name": name}
        return MISBEHAVIOUR[name](body["inputs"][0]["shape"][0])

    server.fault = fault
    with server:
        yield server.url


GAUNTLET: dict[str, tuple[Prepare, str]] = {
    "yaml syntax error": (_text("use_case: [unclosed\nrisk_tier: high"), "not valid YAML"),
    "yaml list, not mapping": (_text("- one\n- two\n"), "must be a YAML mapping"),
    "empty spec": (_text(""), "must be a YAML mapping"),
    "unknown top-level key": (_edit(lambda s: s.update(colour="blue")), "colour"),
    "unknown nested key": (_edit(lambda s: s["checks"]["evaluation"].update(colour=1)), "colour"),
    "threshold of wrong type": (
        _edit(lambda s: s["checks"]["fairness"].update(max_equalized_odds_difference="low")),
        "max_equalized_odds_difference",
    ),
    "fraction out of range": (
        _edit(lambda s: s["checks"]["data_validation"].update(max_missing_fraction=1.5)),
        "max_missing_fraction",
    ),
    "bound with min and max": (
        _edit(lambda s: s["checks"]["evaluation"]["thresholds"].update(f1={"min": 0.5, "max": 0.9})),
        "exactly one of 'min' or 'max'",
    ),
    "unknown metric": (
        _edit(lambda s: s["checks"]["evaluation"]["thresholds"].update(auc={"min": 0.5})),
        "auc",
    ),
    "missing section": (_edit(lambda s: s.pop("approvals")), "approvals"),
    "rationale too short": (_edit(lambda s: s["checks"]["robustness"].update(rationale="x")), "rationale"),
    "duplicate approver roles": (_edit(lambda s: s["approvals"].update(roles=["risk", "risk"])), "distinct"),
    "two model sources": (_edit(lambda s: s["model"].update(uri="models:/m/1")), "exactly one of"),
    "unpinned model path": (_edit(lambda s: s["model"].pop("sha256")), "sha256"),
    "positive label not declared": (_edit(lambda s: s["label"].update(values=["a", "b"])), "label.positive"),
    "train file missing": (
        _edit(lambda s: s["datasets"]["train"].update(path="/nonexistent.csv")),
        "not found",
    ),
    "empty evaluation file": (_file("evaluation", b""), "datasets.evaluation"),
    "header-only evaluation file": (_truncated, "no rows"),
    "binary garbage as csv": (_file("train", bytes(range(256)) * 4), "datasets.train"),
    "csv named as parquet": (_file("evaluation", b"a,b\n1,2\n", ".parquet"), "cannot read parquet"),
    "missing label column": (
        _data("evaluation", lambda f: f.drop(columns="income")),
        "missing columns ['income']",
    ),
    "missing feature column": (_data("train", lambda f: f.drop(columns="age")), "missing columns ['age']"),
    "label with one class": (_data("evaluation", lambda f: f.assign(income="<=50K")), "needs both classes"),
    "text in a numeric feature": (
        _data("evaluation", lambda f: f.assign(age=f["age"].astype(str).where(f.index % 7 > 0, "forty"))),
        "cannot score",
    ),
    "infinity in a numeric feature": (
        _data("evaluation", lambda f: f.assign(hours_per_week=f["hours_per_week"].replace(40, np.inf))),
        "infinite values in columns ['hours_per_week']",
    ),
    "model file that is not a model": (_model(b"this is not a model"), "cannot load model"),
    "pickle of a non-classifier": (_model(pickle.dumps({"weights": [1, 2, 3]})), "not a classifier"),
    "model hash mismatch": (_edit(lambda s: s["model"].update(sha256="0" * 64)), "the spec pins"),
    "onnx file that is not onnx": (_model(b"not a protobuf", ".onnx"), "onnxruntime cannot load it"),
    "score column for a local pickle": (
        _edit(lambda s: s["model"].update(score_column="p")),
        "'score_column' names an output column",
    ),
    "kserve endpoint without a model name": (_served(""), "a kserve_v2 endpoint needs 'model_name'"),
    "unreachable endpoint": (
        _edit(lambda s: s.update(model={"endpoint": {"url": "http://127.0.0.1:9", "retries": 0}})),
        "failed after 1 tries: unreachable",
    ),
    "endpoint answering NaN": (_served("nan"), "answered scores outside [0, 1] or NaN"),
    "endpoint probabilities not summing to 1": (_served("unsummed"), "do not sum to 1"),
    "endpoint answer of the wrong shape": (_served("wide"), "answered shape (64, 3)"),
    "endpoint failing with 5xx": (
        _served("failing", retries=1, backoff_seconds=0),
        "after 2 tries: HTTP 503",
    ),
    "endpoint timing out": (_served("slow", timeout_seconds=0.2), "no answer within 0.2 s"),
    "regression spec on a text label": (
        _regression("income"),
        "label column 'income' holds str values: a regression target must be numeric",
    ),
    "regression target with one value": (
        _then(_regression("hours_per_week"), _data("evaluation", lambda f: f.assign(hours_per_week=40))),
        "label column 'hours_per_week' has a single value",
    ),
    "classifier for a regression task": (
        _regression("hours_per_week", classifier=True),
        "is a classifier but the spec's task is regression",
    ),
    "classification metric for a regression": (
        _regression(
            "hours_per_week",
            change=lambda s: s["checks"]["evaluation"]["thresholds"].update(accuracy={"min": 0.5}),
        ),
        "checks.evaluation.thresholds.accuracy is not a regression metric",
    ),
    "regression without a prediction tolerance": (
        _regression("hours_per_week", change=lambda s: s["checks"]["robustness"].pop("prediction_tolerance")),
        "prediction_tolerance is required for a regression task",
    ),
    "positive label in a regression spec": (
        _regression("hours_per_week", change=lambda s: s["label"].update(positive=40)),
        "label.positive and label.values belong to a classification task",
    ),
    "multiclass model predicting an undeclared class": (
        _multiclass(declared=RELATIONSHIPS[:5]),
        "predicts classes ['Other-relative'] that label.values does not declare",
    ),
    "multiclass model without a declared class": (
        _multiclass(learned=RELATIONSHIPS[:5]),
        "none for the declared ['Other-relative'] (label.values)",
    ),
    "multiclass endpoint answering too few columns": (
        _multiclass(served="wide"),
        "answered 3 probability columns for the 6 declared classes",
    ),
    "multiclass label with one class": (
        _then(_multiclass(), _data("evaluation", lambda f: f.assign(relationship="Husband"))),
        "holds one class only: 'Husband'",
    ),
    "multiclass label outside the declared classes": (
        _then(
            _multiclass(),
            _data(
                "evaluation", lambda f: f.assign(relationship=f["relationship"].where(f.index > 0, "Cousin"))
            ),
        ),
        "holds classes ['Cousin'] that label.values does not declare",
    ),
    "multiclass spec with two classes": (
        _multiclass(declared=RELATIONSHIPS[:2]),
        "label.values must list three or more distinct classes",
    ),
    "score column outside [0, 1]": (
        _edit(lambda s: s.update(model={"predictions": {"score_column": "age"}}, training=None)),
        "model.predictions.score_column",
    ),
}


@pytest.fixture
def ledger_with_history(home: Path, tmp_path: Path) -> list[dict[str, Any]]:
    """One run already recorded before the malformed input arrives."""
    assert main(["run", str(tmp_path / "no-such-spec.yaml"), "--submitted-by", "dana"]) == ERROR
    return Pipeline().ledger.query("SELECT * FROM {s}.runs")


@pytest.mark.parametrize("case", sorted(GAUNTLET))
def test_malformed_input_is_a_recorded_error(
    case: str,
    ledger_with_history: list[dict[str, Any]],
    adult_files: dict[str, Path],
    misbehaving: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    prepare, fragment = GAUNTLET[case]
    spec = spec_dict(adult_files)
    text = prepare(spec, tmp_path)
    path = tmp_path / "spec.yaml"
    path.write_text((yaml.safe_dump(spec) if text is None else text).replace(SERVED, misbehaving))

    assert main(["run", str(path), "--submitted-by", "dana"]) == ERROR
    message = capsys.readouterr().err
    assert fragment in message, message

    ledger = Pipeline().ledger
    runs = ledger.query("SELECT run_id FROM {s}.runs ORDER BY created_at")
    assert [r["run_id"] for r in runs[:1]] == [r["run_id"] for r in ledger_with_history]  # nothing lost
    latest = runs[-1]["run_id"]
    decision = ledger.query(f"SELECT verdict, reasons_json FROM {{s}}.decisions WHERE run_id = '{latest}'")
    assert len(runs) == 2 and decision[0]["verdict"] == "error" and fragment in decision[0]["reasons_json"]
    assert main(["audit", "verify"]) == OK


def test_the_gauntlet_is_at_least_45_inputs() -> None:
    assert len(GAUNTLET) >= 45
