"""Latency measurement of a real HistGradientBoosting pipeline on UCI Adult: structure and sanity, not speed."""

from __future__ import annotations

import json
import threading
import time
import tracemalloc
from typing import Any

import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from certification.checks.evaluation.latency import measure_latency
from certification.demo import PROTECTED, adult_model
from certification.demo.datasets import load_adult


@pytest.fixture(scope="module")
def scoring() -> tuple[Pipeline, pd.DataFrame]:
    train, evaluation = load_adult("train"), load_adult("test")
    features = [c for c in train.columns if c not in (*PROTECTED, "income")]
    return adult_model(train, features), evaluation[features]


def test_latency_report_on_adult(scoring: tuple[Pipeline, pd.DataFrame]) -> None:
    model, frame = scoring
    result = measure_latency(model.predict_proba, frame, time_budget_s=6.0)

    assert set(result["batches"]) == {"1", "100", "10000"}
    for size, stats in result["batches"].items():
        assert stats["batch_size"] == int(size)
        assert stats["calls"] >= 3
        assert stats["cut_short"] == (stats["calls"] < 30)
        assert 0 < stats["p50_ms"] <= stats["p95_ms"] <= stats["p99_ms"] <= stats["max_ms"]
        assert stats["rows_scored"] == stats["calls"] * int(size)
        assert not stats["sampled_with_replacement"]
    throughput = {size: stats["throughput_rows_per_s"] for size, stats in result["batches"].items()}
    assert throughput["100"] > throughput["1"] and throughput["10000"] > throughput["1"]
    assert result["peak_rss_mb"] > 50  # a process with pandas and scikit-learn loaded
    assert result["peak_traced_mb"] > 0 and result["traced_batch_size"] == 10_000
    assert result["machine"]["concurrency"] == 2 and result["machine"]["cpu_count"] >= 1
    assert not tracemalloc.is_tracing()
    json.dumps(result)


def test_budget_cuts_short_but_keeps_three_calls(scoring: tuple[Pipeline, pd.DataFrame]) -> None:
    model, frame = scoring
    result = measure_latency(model.predict_proba, frame, batch_sizes=(1, 50), time_budget_s=0.0)
    for stats in result["batches"].values():
        assert stats["calls"] == 3 and stats["cut_short"]


def test_small_frame_concurrent_callers(scoring: tuple[Pipeline, pd.DataFrame]) -> None:
    model, frame = scoring
    lock, active, seen = threading.Lock(), [0], {"peak": 0, "rows": set()}

    def predict(batch: pd.DataFrame) -> Any:
        with lock:
            active[0] += 1
            seen["peak"] = max(seen["peak"], active[0])
            seen["rows"].add(len(batch))
        time.sleep(0.01)  # long enough for the other caller to overlap
        try:
            return model.predict_proba(batch)
        finally:
            with lock:
                active[0] -= 1

    result = measure_latency(predict, frame.head(10), batch_sizes=(25,), min_calls=8, concurrency=3)

    assert seen["peak"] == 3
    assert seen["rows"] == {25}
    assert result["batches"]["25"]["sampled_with_replacement"]
    assert result["batches"]["25"]["calls"] == 8


def test_failing_predict_raises(scoring: tuple[Pipeline, pd.DataFrame]) -> None:
    _, frame = scoring

    def broken(batch: pd.DataFrame) -> Any:
        raise RuntimeError("model server down")

    with pytest.raises(RuntimeError, match="model server down"):
        measure_latency(broken, frame, batch_sizes=(1,), time_budget_s=1.0)
