"""Group metrics with bootstrap CIs: our confusion-count engine against fairlearn's MetricFrame, as JSON.

    python benchmarks/fairness.py --rows 100000 1000000 10000000 --resamples 1000 --out benchmarks/results/fairness.json
    python benchmarks/fairness.py --task regression --rows 1000000 --out benchmarks/results/fairness_regression.json
    python benchmarks/fairness.py --task multiclass --rows 1000000 --out benchmarks/results/fairness_multiclass.json

Data: synthetic rows with the Adult sex x race group shares (2 x 5 groups, intersections included), labels and
scores drawn per row. Each size runs in a fresh process so its peak RSS is its own. fairlearn runs one MetricFrame
pass (the same eight group metrics, over sex and race jointly) and a MetricFrame bootstrap at a small n_boot; its
time for the full number of resamples is extrapolated linearly from that (each resample is another full pass).
--task regression audits a continuous prediction of a wage-like target on the same groups (mean prediction, mean
target, mean residual, MAE, RMSE, share above a threshold) and adds the largest absolute difference between our
point values and fairlearn's over the joint groups. --task multiclass audits a three-class prediction one-vs-rest
(the same group metrics for each class); fairlearn has no multiclass group metrics, so its matching pass is one
MetricFrame per class on that class's one-vs-rest labels, and the largest difference is taken over classes and
joint groups.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import peak_rss_mb, write_report  # noqa: E402
from certification.checks.fairness import audit as engine  # noqa: E402
from certification.checks.fairness import multiclass, regression  # noqa: E402

# Adult evaluation shares (adult.test): sex x race
SEX = {"Male": 0.667, "Female": 0.333}
RACE = {
    "White": 0.857,
    "Black": 0.096,
    "Asian-Pac-Islander": 0.029,
    "Amer-Indian-Eskimo": 0.01,
    "Other": 0.008,
}

THRESHOLD = 600.0  # regression: the share of predictions at or above it


def _groups(rng: np.random.Generator, rows: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "sex": rng.choice(list(SEX), rows, p=list(SEX.values())),
            "race": rng.choice(list(RACE), rows, p=np.array(list(RACE.values())) / sum(RACE.values())),
        }
    )


def synthetic(rows: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    frame = _groups(rng, rows)
    score = np.clip(rng.beta(2, 5, rows) + 0.1 * (frame["sex"] == "Male").to_numpy(), 0, 1)
    y = (rng.random(rows) < score).astype(np.int64)
    return frame, y, (score >= 0.3).astype(np.int64), score


def synthetic_regression(rows: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """A weekly wage (log-normal, higher for men) and a prediction with multiplicative error and a small bias."""
    rng = np.random.default_rng(seed)
    frame = _groups(rng, rows)
    male = (frame["sex"] == "Male").to_numpy()
    y = rng.lognormal(6.2, 0.6, rows) * np.where(male, 1.2, 1.0)
    return frame, y, y * rng.lognormal(0.0, 0.3, rows) + np.where(male, 15.0, -5.0)


CLASSES = ("low", "medium", "high")


def synthetic_multiclass(rows: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
    """Three classes whose probabilities shift with sex; the outcome is drawn from them, the prediction is their
    argmax."""
    rng = np.random.default_rng(seed)
    frame = _groups(rng, rows)
    male = (frame["sex"] == "Male").to_numpy()
    logits = rng.normal(size=(rows, 3)) + np.where(male, 0.3, 0.0)[:, None] * np.arange(3)
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    y = (rng.random(rows)[:, None] > np.cumsum(proba, axis=1)).sum(axis=1)
    return frame, y, proba.argmax(axis=1), proba


def ours(
    frame: pd.DataFrame, y: np.ndarray, pred: np.ndarray, score: np.ndarray, resamples: int
) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    tables = engine.audit(frame, ["sex", "race"], y, pred, score, resamples=resamples)
    for table in tables.values():
        for name in engine.DISPARITIES:
            engine.disparity(table, name, engine.Comparison(30))
    return time.perf_counter() - started, tables


def ours_regression(
    frame: pd.DataFrame, y: np.ndarray, pred: np.ndarray, resamples: int
) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    tables = regression.audit(frame, ["sex", "race"], y, pred, threshold=THRESHOLD, resamples=resamples)
    for table in tables.values():
        for name in regression.DISPARITIES:
            regression.disparity(table, name, engine.Comparison(30))
    return time.perf_counter() - started, tables


def ours_multiclass(
    frame: pd.DataFrame, y: np.ndarray, pred: np.ndarray, proba: np.ndarray, resamples: int
) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    tables = multiclass.audit(frame, ["sex", "race"], y, pred, proba, CLASSES, resamples=resamples)
    for grouping in next(iter(tables.values())):
        for name in multiclass.DISPARITIES:
            multiclass.disparity(multiclass.for_grouping(tables, grouping), name, engine.Comparison(30))
    return time.perf_counter() - started, tables


def binary_metrics() -> dict[str, Any]:
    from fairlearn.metrics import (
        count,
        false_negative_rate,
        false_positive_rate,
        selection_rate,
        true_positive_rate,
    )
    from sklearn.metrics import accuracy_score, precision_score

    return {
        "count": count,
        "selection_rate": selection_rate,
        "base_rate": lambda t, p: float(np.mean(t)),
        "tpr": true_positive_rate,
        "fpr": false_positive_rate,
        "fnr": false_negative_rate,
        "ppv": lambda t, p: precision_score(t, p, zero_division=0),
        "accuracy": accuracy_score,
    }


def regression_metrics() -> dict[str, Any]:
    from fairlearn.metrics import count
    from sklearn.metrics import mean_absolute_error, root_mean_squared_error

    return {
        "count": count,
        "mean_prediction": lambda t, p: float(np.mean(p)),
        "mean_target": lambda t, p: float(np.mean(t)),
        "mean_residual": lambda t, p: float(np.mean(p - t)),
        "mae": mean_absolute_error,
        "rmse": root_mean_squared_error,
        "share_above": lambda t, p: float(np.mean(p >= THRESHOLD)),
    }


def fairlearn_frame(
    metrics: dict[str, Any], frame: pd.DataFrame, y: np.ndarray, pred: np.ndarray, n_boot: int | None
) -> tuple[float, Any]:
    from fairlearn.metrics import MetricFrame

    started = time.perf_counter()
    extra = {"n_boot": n_boot, "ci_quantiles": [0.025, 0.975], "random_state": 0} if n_boot else {}
    result = MetricFrame(
        metrics=metrics, y_true=y, y_pred=pred, sensitive_features=frame[["sex", "race"]], **extra
    )
    return time.perf_counter() - started, result


def _max_difference(table: engine.Table, by_group: pd.DataFrame) -> float:
    """Largest absolute difference between our point values (and counts) and fairlearn's, over the joint groups."""
    by_group = by_group.set_axis([engine.JOIN.join(k) for k in by_group.index])
    rows = table.counts.reshape(len(table.labels), -1).sum(axis=1)
    ours = pd.DataFrame({**table.values, "count": rows}, index=table.labels)
    return float((ours[by_group.columns] - by_group.loc[table.labels]).abs().to_numpy(dtype=float).max())


def worker(task: str, rows: int, resamples: int, boot_sample: int) -> dict[str, Any]:
    if task == "binary":
        frame, y, pred, score = synthetic(rows)
        metrics = binary_metrics()

        def run(n: int, resamples: int) -> tuple[float, dict[str, Any]]:
            return ours(frame[:n], y[:n], pred[:n], score[:n], resamples)

    elif task == "multiclass":
        frame, y, pred, proba = synthetic_multiclass(rows)
        metrics = binary_metrics()

        def run(n: int, resamples: int) -> tuple[float, dict[str, Any]]:
            return ours_multiclass(frame[:n], y[:n], pred[:n], proba[:n], resamples)

    else:
        frame, y, pred = synthetic_regression(rows)
        metrics = regression_metrics()

        def run(n: int, resamples: int) -> tuple[float, dict[str, Any]]:
            return ours_regression(frame[:n], y[:n], pred[:n], resamples)

    run(1000, 10)  # warm imports and caches
    our_seconds, tables = run(rows, resamples)
    our_rss = peak_rss_mb()
    # fairlearn's matching pass: one MetricFrame (one per class, on its one-vs-rest labels, for a multiclass model)
    labels = [(y == k, pred == k) for k in range(len(CLASSES))] if task == "multiclass" else [(y, pred)]
    passes = [fairlearn_frame(metrics, frame, t, p, None) for t, p in labels]
    one_pass, references = sum(seconds for seconds, _ in passes), [found for _, found in passes]
    boot = (
        sum(fairlearn_frame(metrics, frame, t, p, boot_sample)[0] for t, p in labels) if boot_sample else None
    )
    # Without a measured bootstrap (too slow at 10M rows), count each resample as one more pass: a lower bound.
    extrapolated = (
        one_pass * (1 + resamples) if boot is None else one_pass + (boot - one_pass) * resamples / boot_sample
    )
    result = {
        "rows": rows,
        "resamples": resamples,
        "ours_seconds": round(our_seconds, 3),
        "ours_peak_rss_mb": round(our_rss, 1),
        "fairlearn_one_pass_seconds": round(one_pass, 3),
        f"fairlearn_n_boot_{boot_sample}_seconds": None if boot is None else round(boot, 3),
        "fairlearn_bootstrap_seconds_extrapolated": round(extrapolated, 1),
        "speedup_vs_one_fairlearn_pass": round(one_pass / our_seconds, 1),
        "speedup_vs_fairlearn_bootstrap": round(extrapolated / our_seconds, 0),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }
    if task == "binary":
        return result
    ours_by_class = [tables[c] for c in CLASSES] if task == "multiclass" else [tables]
    difference = max(
        _max_difference(mine["sex & race"], reference.by_group)
        for mine, reference in zip(ours_by_class, references, strict=True)
    )
    return {"task": task, **result, "max_abs_difference": difference}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--task", choices=["binary", "multiclass", "regression"], default="binary")
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000, 10_000_000])
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument(
        "--fairlearn-boot",
        type=int,
        default=5,
        help="fairlearn n_boot actually measured (0: skip, lower bound)",
    )
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.task, args.worker, args.resamples, args.fairlearn_boot)))
        return

    results = []
    for rows in args.rows:
        command = [sys.executable, __file__, "--task", args.task, "--worker", str(rows)]
        command += ["--resamples", str(args.resamples)]
        done = subprocess.run(
            [*command, "--fairlearn-boot", str(args.fairlearn_boot)], capture_output=True, text=True
        )
        if done.returncode:
            results.append({"rows": rows, "error": done.stderr[-2000:]})
        else:
            results.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(json.dumps(results[-1]), file=sys.stderr)
    write_report("fairness" if args.task == "binary" else f"fairness_{args.task}", results, args.out)


if __name__ == "__main__":
    main()
