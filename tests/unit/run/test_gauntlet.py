"""A gauntlet of malformed inputs: each gets a clear error naming the file or field, a recorded `error` run, and
leaves everything already in the ledger intact."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from certification import Pipeline
from certification.cli import ERROR, OK, main
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


def _model(content: bytes) -> Prepare:
    def prepare(spec: dict[str, Any], folder: Path) -> None:
        path = folder / "model.joblib"
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
    case: str, ledger_with_history: list[dict[str, Any]], adult_files: dict[str, Path], tmp_path: Path, capsys
) -> None:
    prepare, fragment = GAUNTLET[case]
    spec = spec_dict(adult_files)
    text = prepare(spec, tmp_path)
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec) if text is None else text)

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


def test_the_gauntlet_is_at_least_25_inputs() -> None:
    assert len(GAUNTLET) >= 25
