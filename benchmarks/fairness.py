"""Group metrics with bootstrap CIs: our confusion-count engine against fairlearn's MetricFrame, as JSON.

    python benchmarks/fairness.py --rows 100000 1000000 10000000 --resamples 1000 --out benchmarks/results/fairness.json

Data: synthetic rows with the Adult sex x race group shares (2 x 5 groups, intersections included), labels and
scores drawn per row. Each size runs in a fresh process so its peak RSS is its own. fairlearn runs one MetricFrame
pass (the same eight group metrics, over sex and race jointly) and a MetricFrame bootstrap at a small n_boot; its
time for the full number of resamples is extrapolated linearly from that (each resample is another full pass).
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

# Adult evaluation shares (adult.test): sex x race
SEX = {"Male": 0.667, "Female": 0.333}
RACE = {
    "White": 0.857,
    "Black": 0.096,
    "Asian-Pac-Islander": 0.029,
    "Amer-Indian-Eskimo": 0.01,
    "Other": 0.008,
}


def synthetic(rows: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "sex": rng.choice(list(SEX), rows, p=list(SEX.values())),
            "race": rng.choice(list(RACE), rows, p=np.array(list(RACE.values())) / sum(RACE.values())),
        }
    )
    score = np.clip(rng.beta(2, 5, rows) + 0.1 * (frame["sex"] == "Male").to_numpy(), 0, 1)
    y = (rng.random(rows) < score).astype(np.int64)
    return frame, y, (score >= 0.3).astype(np.int64), score


def ours(frame: pd.DataFrame, y: np.ndarray, pred: np.ndarray, score: np.ndarray, resamples: int) -> float:
    started = time.perf_counter()
    tables = engine.audit(frame, ["sex", "race"], y, pred, score, resamples=resamples)
    for table in tables.values():
        for name in engine.DISPARITIES:
            engine.disparity(table, name, engine.Comparison(30))
    return time.perf_counter() - started


def fairlearn_frame(frame: pd.DataFrame, y: np.ndarray, pred: np.ndarray, n_boot: int | None) -> float:
    from fairlearn.metrics import (
        MetricFrame,
        count,
        false_negative_rate,
        false_positive_rate,
        selection_rate,
        true_positive_rate,
    )
    from sklearn.metrics import accuracy_score, precision_score

    metrics = {
        "count": count,
        "selection_rate": selection_rate,
        "base_rate": lambda t, p: float(np.mean(t)),
        "tpr": true_positive_rate,
        "fpr": false_positive_rate,
        "fnr": false_negative_rate,
        "ppv": lambda t, p: precision_score(t, p, zero_division=0),
        "accuracy": accuracy_score,
    }
    started = time.perf_counter()
    extra = {"n_boot": n_boot, "ci_quantiles": [0.025, 0.975], "random_state": 0} if n_boot else {}
    MetricFrame(metrics=metrics, y_true=y, y_pred=pred, sensitive_features=frame[["sex", "race"]], **extra)
    return time.perf_counter() - started


def worker(rows: int, resamples: int, boot_sample: int) -> dict[str, Any]:
    frame, y, pred, score = synthetic(rows)
    ours(frame.head(1000), y[:1000], pred[:1000], score[:1000], 10)  # warm imports and caches
    our_seconds = ours(frame, y, pred, score, resamples)
    our_rss = peak_rss_mb()
    one_pass = fairlearn_frame(frame, y, pred, None)
    boot = fairlearn_frame(frame, y, pred, boot_sample) if boot_sample else None
    # Without a measured bootstrap (too slow at 10M rows), count each resample as one more pass: a lower bound.
    extrapolated = (
        one_pass * (1 + resamples) if boot is None else one_pass + (boot - one_pass) * resamples / boot_sample
    )
    return {
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
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
        print(json.dumps(worker(args.worker, args.resamples, args.fairlearn_boot)))
        return

    results = []
    for rows in args.rows:
        command = [sys.executable, __file__, "--worker", str(rows), "--resamples", str(args.resamples)]
        done = subprocess.run(
            [*command, "--fairlearn-boot", str(args.fairlearn_boot)], capture_output=True, text=True
        )
        if done.returncode:
            results.append({"rows": rows, "error": done.stderr[-2000:]})
        else:
            results.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(json.dumps(results[-1]), file=sys.stderr)
    write_report("fairness", results, args.out)


if __name__ == "__main__":
    main()
