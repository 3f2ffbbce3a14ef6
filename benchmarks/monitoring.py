"""Wall time and peak memory of monitoring one production window, against a plain Evidently report, as JSON.

    python benchmarks/monitoring.py --rows 1000000 10000000 --out benchmarks/results/monitoring.json

The window is a suddenly drifting Adult stream (certification.drift_stream) scored by the demo model and written
as Parquet, 1M rows per file (generated once per size under --work). "ours" reads the window in chunks into a
`monitoring.Profile` (exact counts over every row plus a 20,000-row sample), compares it with the baseline and runs
Evidently's drift report on the sample; "evidently" is one DataDriftPreset report on the full window, run only up to
--evidently-max-rows. Each measurement runs in a fresh process, so its peak RSS is its own.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import peak_rss_mb, write_report  # noqa: E402

PER_FILE = 1_000_000
PROTECTED = ["sex", "race"]
START = datetime(2027, 1, 1, tzinfo=UTC)


def _setting(folder: Path) -> tuple[Any, Any, list[str]]:
    """The demo model (trained once per folder) and the evaluation split it is monitored against."""
    import joblib

    from certification.demo import adult_model
    from certification.demo.datasets import load_adult

    evaluation = load_adult("test")
    features = [c for c in evaluation.columns if c not in (*PROTECTED, "income")]
    path = folder / "model.joblib"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        joblib.dump(adult_model(load_adult("train"), features), path)
    return joblib.load(path), evaluation, features


def prepare(folder: Path, rows: int) -> None:
    from certification.demo.drift_stream import production_stream
    from certification.monitoring import inference_log

    files = -(-rows // PER_FILE)
    if len(list(folder.glob("part-*.parquet"))) == files:
        return
    model, evaluation, features = _setting(folder)
    stream = production_stream(
        evaluation, model, features=features, protected=PROTECTED, label="income", positive=">50K",
        scenario="sudden", drift_columns=["age", "hours_per_week"], windows=files,
        rows_per_window=min(rows, PER_FILE), window=timedelta(hours=1), model_name="adult",
    )  # fmt: skip
    for i, window in enumerate(stream):
        inference_log.write_parquet(window, folder, f"part-{i:03d}")


def measure(folder: Path, kind: str, chunk_rows: int) -> dict[str, Any]:
    import evidently  # noqa: F401 - imported before the clock starts: a fixed cost, paid once per worker

    from certification import monitoring
    from certification.monitoring import inference_log

    model, evaluation, features = _setting(folder)
    chunks = inference_log.read_window(  # a generator: nothing is read before the clock starts
        folder, "adult", START, START + timedelta(days=3650), features, PROTECTED, chunk_rows=chunk_rows
    )
    if kind == "evidently":
        import pandas as pd

        from certification.checks.data_validation.profiling import shift_summary

        started = time.perf_counter()
        window = pd.concat(chunks, ignore_index=True)
        found = shift_summary(evaluation, window, columns=features)
        return {
            "seconds": time.perf_counter() - started,
            "rows": len(window),
            "drifted": found["drifted_columns"],
        }
    scored = evaluation.assign(  # the baseline is built once, at certification: not part of a monitoring run
        prediction=(model.predict(evaluation[features]) == ">50K").astype(int),
        score=model.predict_proba(evaluation[features])[:, 1],
        label=(evaluation["income"] == ">50K").astype(int),
    )
    bins = monitoring.bins_for(evaluation, features)
    baseline = monitoring.Profile(bins, PROTECTED).read([scored])
    started = time.perf_counter()  # from here: what one monitoring run of this window costs
    window = monitoring.Profile(bins, PROTECTED).read(chunks)
    compared = monitoring.compare(baseline, window)
    drift = monitoring.evidently_drift(baseline, window, features)
    return {
        "seconds": time.perf_counter() - started,
        "rows": window.rows,
        "most_drifted": compared["most_drifted"][:3],
        "drifted": drift["drifted_columns"],
        "evidently_sampled_rows": drift["sampled_rows"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--evidently-max-rows", type=int, default=1_000_000)
    parser.add_argument("--chunk-rows", type=int, default=200_000)
    parser.add_argument("--work", type=Path, default=ROOT / ".certification" / "benchmarks" / "monitoring")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--measure", nargs=2, metavar=("FOLDER", "KIND"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        found = measure(Path(args.measure[0]), args.measure[1], args.chunk_rows)
        print(json.dumps({**found, "peak_rss_mb": round(peak_rss_mb(), 1)}))
        return
    results = []
    for rows in args.rows:
        folder = args.work / f"rows-{rows}"
        started = time.perf_counter()
        prepare(folder, rows)
        prepared = round(time.perf_counter() - started, 1)
        for kind in ("ours", "evidently"):
            if kind == "evidently" and rows > args.evidently_max_rows:
                continue
            command = [
                sys.executable,
                __file__,
                "--measure",
                str(folder),
                kind,
                "--chunk-rows",
                str(args.chunk_rows),
            ]
            output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
            found = json.loads(output.strip().splitlines()[-1])
            results.append({"rows": rows, "kind": kind, "prepare_seconds": prepared, **found})
            print(json.dumps(results[-1]), file=sys.stderr)
    write_report("monitoring", results, args.out)


if __name__ == "__main__":
    main()
