"""Prediction latency, throughput and memory, measured under a simulated peak load of concurrent callers."""

from __future__ import annotations

import os
import platform
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import Any

import numpy as np
import pandas as pd

try:
    import psutil
except ImportError:  # optional: without it the kernel's lifetime peak is reported instead
    psutil = None  # type: ignore[assignment]

MIN_CALLS_FLOOR = 3  # fewer calls cannot give a percentile worth reporting, whatever the budget
POOL_ROWS = 100_000  # distinct pre-sampled rows per batch size: varied inputs, bounded memory
RSS_INTERVAL_S = 0.005
MB = 2**20


class _PeakRss:
    """Peak resident memory while the block runs, sampled by a background thread."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        process = psutil.Process()
        while True:
            self.peak = max(self.peak, process.memory_info().rss)
            if self._stop.wait(RSS_INTERVAL_S):
                return

    def __enter__(self) -> _PeakRss:
        if psutil is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        if psutil is not None:
            self._stop.set()
            self._thread.join()
            self.peak = max(self.peak, psutil.Process().memory_info().rss)

    def report(self) -> dict[str, Any]:
        if psutil is not None:
            return {"peak_rss_mb": self.peak / MB, "rss_source": "psutil sampled during measurement"}
        import resource  # POSIX only, hence only when needed

        # ru_maxrss is the lifetime peak of the process, in KiB on Linux and bytes on macOS.
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024)
        return {"peak_rss_mb": peak / MB, "rss_source": "ru_maxrss (process lifetime peak)"}


def _batches(frame: pd.DataFrame, size: int, count: int, rng: np.random.Generator) -> list[pd.DataFrame]:
    replace = len(frame) < size
    return [frame.iloc[rng.choice(len(frame), size=size, replace=replace)] for _ in range(count)]


def _concurrent_calls(
    predict: Callable[[pd.DataFrame], Any],
    batches: list[pd.DataFrame],
    target_calls: int,
    deadline: float,
    concurrency: int,
) -> tuple[list[float], float]:
    """Per-call latencies (s) of `concurrency` threads calling predict together, and the phase's wall time."""
    latencies: list[float] = []
    lock = threading.Lock()
    issued = 0

    def caller() -> None:
        nonlocal issued
        while True:
            with lock:
                if issued >= target_calls or (issued >= MIN_CALLS_FLOOR and time.perf_counter() >= deadline):
                    return
                batch = batches[issued % len(batches)]
                issued += 1
            start = time.perf_counter()
            predict(batch)
            elapsed = time.perf_counter() - start
            with lock:
                latencies.append(elapsed)

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for future in [pool.submit(caller) for _ in range(concurrency)]:
            future.result()  # re-raise a failing predict
    return latencies, time.perf_counter() - start


def _traced_peak_mb(predict: Callable[[pd.DataFrame], Any], batch: pd.DataFrame) -> float:
    """Python-heap memory (numpy included) one call allocates at its peak; native buffers are not traced."""
    already = tracemalloc.is_tracing()
    if not already:
        tracemalloc.start()
    tracemalloc.reset_peak()
    before, _ = tracemalloc.get_traced_memory()
    try:
        predict(batch)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        if not already:
            tracemalloc.stop()
    return max(peak - before, 0) / MB


def _machine(concurrency: int) -> dict[str, Any]:
    affinity = getattr(os, "sched_getaffinity", None)
    return {
        "cpu_count": os.cpu_count(),
        "cpus_available": len(affinity(0)) if affinity else os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "concurrency": concurrency,
    }


def measure_latency(
    predict: Callable[[pd.DataFrame], Any],
    frame: pd.DataFrame,
    *,
    batch_sizes: Sequence[int] = (1, 100, 10_000),
    min_calls: int = 30,
    time_budget_s: float = 20.0,
    concurrency: int = 2,
    seed: int = 0,
) -> dict[str, Any]:
    """Latency percentiles and throughput of `predict` per batch size, with `concurrency` simultaneous callers.

    Each batch size gets an equal share of what is left of the time budget and stops after `min_calls` calls
    or when its share is spent (never before 3 calls; "cut_short" records it). One untimed warm-up call per
    batch size keeps lazy initialisation out of the percentiles; its time is reported as "warmup_ms".
    Throughput is rows scored divided by the wall time of the concurrent phase.
    """
    if frame.empty:
        raise ValueError("cannot measure latency on an empty frame")
    if not batch_sizes or min(batch_sizes) < 1 or concurrency < 1:
        raise ValueError("batch sizes and concurrency must be positive")
    rng = np.random.default_rng(seed)
    target_calls = max(min_calls, MIN_CALLS_FLOOR)
    per_batch: dict[str, dict[str, Any]] = {}
    budget_start = time.perf_counter()
    with _PeakRss() as rss:
        for position, size in enumerate(batch_sizes):
            share_start = time.perf_counter()
            remaining = time_budget_s - (share_start - budget_start)
            deadline = share_start + max(remaining, 0.0) / (len(batch_sizes) - position)
            batches = _batches(frame, size, min(target_calls, max(1, POOL_ROWS // size)), rng)
            warm = time.perf_counter()
            predict(batches[0])
            warmup_ms = (time.perf_counter() - warm) * 1e3
            latencies, wall = _concurrent_calls(predict, batches, target_calls, deadline, concurrency)
            ms = np.asarray(latencies) * 1e3
            p50, p95, p99 = np.percentile(ms, [50, 95, 99])
            per_batch[str(size)] = {
                "batch_size": size,
                "calls": len(latencies),
                "cut_short": len(latencies) < target_calls,
                "sampled_with_replacement": len(frame) < size,
                "warmup_ms": warmup_ms,
                "p50_ms": float(p50),
                "p95_ms": float(p95),
                "p99_ms": float(p99),
                "mean_ms": float(ms.mean()),
                "max_ms": float(ms.max()),
                "wall_s": wall,
                "rows_scored": size * len(latencies),
                "throughput_rows_per_s": size * len(latencies) / wall,
            }
        largest = max(batch_sizes)
        peak_traced_mb = _traced_peak_mb(predict, _batches(frame, largest, 1, rng)[0])
    return {
        "batches": per_batch,
        **rss.report(),
        "peak_traced_mb": peak_traced_mb,
        "traced_batch_size": largest,
        "total_wall_s": time.perf_counter() - budget_start,
        "settings": {
            "min_calls": min_calls,
            "time_budget_s": time_budget_s,
            "concurrency": concurrency,
            "seed": seed,
        },
        "machine": _machine(concurrency),
    }
