"""Property-based tests (hypothesis): the ledger detects every single change, and the metric code's invariants."""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from certification.ledger import TABLE_KEYS, Ledger, event_digest, event_hash
from certification.stats import (
    bootstrap_confusion,
    classification_estimates,
    expected_calibration_error,
    rates,
)

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
text_values = st.text(min_size=1, max_size=12)  # any unicode: quotes, backslashes, control characters
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | text_values,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text_values, inner, max_size=3),
    max_leaves=8,
)


# -- ledger ----------------------------------------------------------------------------------------------------
@st.composite
def ledgers(draw: st.DrawFn) -> list[tuple[str, dict[str, Any]]]:
    """A random history: runs with check results, decisions and sign-offs, interleaved with free events."""
    entries: list[tuple[str, dict[str, Any]]] = []
    for run_id in draw(st.lists(text_values, min_size=1, max_size=3, unique=True)):
        entries.append(
            (
                "runs",
                {
                    "run_id": run_id,
                    "created_at": draw(text_values),
                    "origin": "cli",
                    "submitted_by": draw(text_values),
                    "spec_source": draw(text_values),
                    "overrides_json": draw(json_values),
                    "use_case": draw(st.none() | text_values),
                },
            )
        )
        for check_id in draw(st.lists(text_values, max_size=3, unique=True)):
            entries.append(("check_results", {
                "run_id": run_id, "check_id": check_id, "stage": "evaluation",
                "status": draw(st.sampled_from(["pass", "fail", "warn"])), "measured_json": draw(json_values),
                "threshold_json": draw(json_values), "rationale": draw(text_values), "message": "",
                "evidence_json": [], "requirements_json": draw(json_values), "recorded_at": draw(text_values),
            }))  # fmt: skip
        if draw(st.booleans()):
            entries.append(("signoffs", {
                "run_id": run_id, "role": "risk", "approver": draw(text_values), "decision": "approve",
                "comment": draw(text_values), "channel": "cli", "model_sha256": "m", "data_sha256": "d",
                "spec_sha256": "s", "signed_at": draw(text_values),
            }))  # fmt: skip
        if draw(st.booleans()):
            entries.append(("note", {"run_id": run_id, "payload": draw(json_values)}))
    return entries


def _write(url: str, entries: list[tuple[str, dict[str, Any]]]) -> Ledger:
    ledger = Ledger(url)
    ledger.init_schema()
    for kind, data in entries:
        if kind == "note":
            ledger.log(data["run_id"], "note", {"value": data["payload"]})
        else:
            ledger.record(kind, data)
    return ledger


def _changed(value: Any, position: int, replacement: str) -> Any:
    """The value with one character (or the integer) changed; NULL becomes text."""
    if value is None:
        return replacement
    if isinstance(value, int):
        return value + 1 + position
    text = str(value)
    i = position % len(text) if text else 0
    new = replacement if replacement != text[i : i + 1] else chr(ord(replacement) + 1)
    return text[:i] + new + text[i + 1 :]


@SETTINGS
@given(entries=ledgers(), data=st.data())
def test_ledger_verifies_clean_and_detects_any_single_change(
    entries: list[tuple[str, dict[str, Any]]], data: st.DataObject
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "ledger.db"
        ledger = _write(f"sqlite:///{path}", entries)
        report = ledger.verify()
        assert report.ok, report.problems
        assert report.events == len(entries)
        ledger.engine.dispose()

        raw = sqlite3.connect(path, isolation_level=None)
        tables = [
            t for t in (*TABLE_KEYS, "events") if raw.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
        ]
        table = data.draw(st.sampled_from(tables), label="table")
        columns = [c[1] for c in raw.execute(f"PRAGMA table_info({table})")]
        column = data.draw(st.sampled_from(columns), label="column")
        rowids = [r[0] for r in raw.execute(f"SELECT rowid FROM {table}")]
        rowid = data.draw(st.sampled_from(rowids), label="row")
        (value,) = raw.execute(f"SELECT {column} FROM {table} WHERE rowid = ?", (rowid,)).fetchone()
        new = _changed(value, data.draw(st.integers(0, 10_000)), data.draw(st.characters(), label="char"))
        for trigger in ("append_only", "no_delete"):  # as a superuser would, behind the ledger's back
            raw.execute(f"DROP TRIGGER {table}_{trigger}")
        raw.execute("PRAGMA ignore_check_constraints = ON")
        try:
            raw.execute(f"UPDATE {table} SET {column} = ? WHERE rowid = ?", (new, rowid))
        except sqlite3.IntegrityError:  # the change collides with another row's key
            reject()
        raw.close()
        assert not Ledger(f"sqlite:///{path}").verify().ok, (table, column, value, new)


@SETTINGS
@given(
    seq=st.integers(1, 2**62),
    run_id=st.none() | st.text(),
    event_type=st.text(),
    payload=st.text(),
    recorded_at=st.text(),
    prev=st.text(),
)
def test_fast_event_digest_equals_event_hash(
    seq: int, run_id: str | None, event_type: str, payload: str, recorded_at: str, prev: str
) -> None:
    try:
        expected = event_hash(seq, run_id, event_type, payload, recorded_at, prev)
    except UnicodeEncodeError:  # lone surrogates cannot be stored either
        with pytest.raises(UnicodeEncodeError):
            event_digest(seq, run_id, event_type, payload, recorded_at, prev)
        return
    assert event_digest(seq, run_id, event_type, payload, recorded_at, prev) == expected


# -- metrics ---------------------------------------------------------------------------------------------------
@st.composite
def scored(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    """Binary labels with both classes, and scores on a coarse grid so that ties are common."""
    n = draw(st.integers(4, 60))
    labels = draw(st.lists(st.integers(0, 1), min_size=n, max_size=n).filter(lambda y: 0 < sum(y) < len(y)))
    scores = draw(st.lists(st.integers(0, 10), min_size=n, max_size=n))
    return np.array(labels), np.array(scores) / 10


@SETTINGS
@given(scored())
def test_point_estimates_equal_scikit_learn(sample: tuple[np.ndarray, np.ndarray]) -> None:
    y, score = sample
    pred = (score >= 0.5).astype(int)
    got = classification_estimates(y, score, None, resamples=20)
    expected = {
        "accuracy": skm.accuracy_score(y, pred),
        "precision": skm.precision_score(y, pred, zero_division=0),
        "recall": skm.recall_score(y, pred, zero_division=0),
        "f1": skm.f1_score(y, pred, zero_division=0),
        "roc_auc": skm.roc_auc_score(y, score),
        "pr_auc": skm.average_precision_score(y, score),
        "log_loss": skm.log_loss(y, score, labels=[0, 1]),
        "brier": skm.brier_score_loss(y, score),
    }
    for name, value in expected.items():
        assert got[name].value == pytest.approx(value, rel=1e-12, abs=1e-12), name


@SETTINGS
@given(
    labels=st.lists(st.integers(0, 1), min_size=1, max_size=80),
    data=st.data(),
    resamples=st.integers(1, 30),
    seed=st.integers(0, 2**32 - 1),
)
def test_bootstrap_confusion_resamples_keep_n_and_rates_stay_in_range(
    labels: list[int], data: st.DataObject, resamples: int, seed: int
) -> None:
    n = len(labels)
    pred = data.draw(st.lists(st.integers(0, 1), min_size=n, max_size=n))
    groups = np.array(data.draw(st.lists(st.integers(0, 3), min_size=n, max_size=n)))
    draws = bootstrap_confusion(labels, pred, groups, resamples=resamples, seed=seed)
    assert draws.shape == (resamples, int(groups.max()) + 1, 4)
    assert (draws.sum(axis=(1, 2)) == n).all()
    assert (draws >= 0).all()
    for name, values in rates(draws).items():
        if name != "count":
            defined = values[~np.isnan(values)]
            assert ((defined >= 0) & (defined <= 1)).all(), name


@SETTINGS
@given(
    labels=st.lists(st.integers(0, 1), min_size=1, max_size=80),
    data=st.data(),
    bins=st.integers(1, 20),
)
def test_ece_is_a_probability(labels: list[int], data: st.DataObject, bins: int) -> None:
    n = len(labels)
    score = data.draw(st.lists(st.floats(0, 1), min_size=n, max_size=n))
    ece, table = expected_calibration_error(labels, score, bins)
    assert 0 <= ece <= 1 + 1e-12  # a sum of n shares of at most 1 each may round up
    assert sum(row["count"] for row in table) == n
