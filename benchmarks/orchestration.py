"""Orchestration overhead and throughput of concurrent certification runs, as JSON.

    python benchmarks/orchestration.py --runs 1 4 16 --executors local celery \
        --out benchmarks/results/orchestration.json

The Adult demo spec (with the test suite's attack budget unless --full) runs once in-process
(`Pipeline.run_automated`, all stages and the gate) and then through the model_certification DAG, N runs triggered
at once, on the LocalExecutor or the CeleryExecutor with two single-process workers (Redis broker); Airflow's
metadata and the ledger are scratch PostgreSQL databases. A run's time ends when its gate task ends: after that it
waits for people. Overhead = the single Airflow run's time / the in-process time; throughput = N / (last gate end -
first trigger). Each configuration gets a fresh Airflow (fresh metadata database, fresh components).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import peak_rss_mb, write_report  # noqa: E402
from certification.demo import stack  # noqa: E402

PG_ADMIN_URL = os.environ.get(
    "CERTIFICATION_BENCH_PG", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
)
REDIS = os.environ.get("CERTIFICATION_BENCH_REDIS", "redis://127.0.0.1:6379/14")


def _spec(full: bool) -> Path:
    from certification import demo
    from certification.config import settings

    path = demo.prepare(settings())
    if not full:  # the attack budget and latency tolerance of the test suite
        spec = yaml.safe_load(path.read_text())
        spec["checks"]["robustness"].update(sample_size=6, max_iter=2)
        spec["checks"]["evaluation"]["latency"].update(max_p99_ms={1: 2000}, min_throughput_rows_per_s=100)
        path.write_text(yaml.safe_dump(spec))
    return path


def _seconds(stamp: str) -> float:
    return datetime.fromisoformat(stamp).timestamp()


def in_process(spec: Path, ledger: str) -> dict[str, Any]:
    from certification import Pipeline

    start = time.perf_counter()
    status = Pipeline(ledger).run_automated(str(spec), submitted_by="dana")
    return {"seconds": round(time.perf_counter() - start, 1), "gate": status["gate"]["verdict"]}


def through_airflow(home: Path, spec: Path, executor: str, runs: int, ledger: str) -> dict[str, Any]:
    import redis

    port = stack.free_port()
    broker = REDIS if executor == "celery" else None
    with stack.scratch_database(PG_ADMIN_URL, "airflow_bench") as metadata:
        env = stack.distributed_environment(home, port, metadata, ledger, broker)
        env["AIRFLOW__CORE__PARALLELISM"] = "8"  # LocalExecutor: at most 8 tasks at once on these 2 cores
        api, dag = stack.Api(f"http://127.0.0.1:{port}"), f"/api/v2/dags/{stack.DAG_ID}"
        with stack.components(home, env):
            stack.login(api, home)
            stack.wait_for("the DAG to be parsed", lambda: api.call("GET", dag, "admin"), 180)
            api.call("PATCH", dag, "admin", {"is_paused": False})
            started = time.time()
            ids = [
                api.call(
                    "POST", f"{dag}/dagRuns", "dana", {"logical_date": None, "conf": {"spec_path": str(spec)}}
                )["dag_run_id"]
                for _ in range(runs)
            ]

            def gates() -> list[dict[str, Any]] | None:
                found = [api.call("GET", f"{dag}/dagRuns/{i}/taskInstances/gate", "admin") for i in ids]
                failed = [g for g in found if g["state"] in {"failed", "upstream_failed"}]
                if failed:
                    raise RuntimeError(f"gate tasks failed: {failed}\n{stack.component_logs(home)}")
                return found if all(g["state"] == "success" for g in found) else None

            done = stack.wait_for(f"{runs} gates", gates, 600 + 300 * runs, interval=3)
    if broker:
        redis.Redis.from_url(broker).flushdb()
    ends = [_seconds(g["end_date"]) for g in done]
    return {
        "executor": executor,
        "runs": runs,
        "seconds_to_last_gate": round(max(ends) - started, 1),
        "seconds_per_run": [round(end - started, 1) for end in ends],
        "runs_per_hour": round(3600 * runs / (max(ends) - started), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--executors", nargs="+", default=["local", "celery"], choices=["local", "celery"])
    parser.add_argument("--full", action="store_true", help="the demo's own attack budget (slow)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    results: list[dict[str, Any]] = []
    with (
        tempfile.TemporaryDirectory() as scratch,
        stack.scratch_database(PG_ADMIN_URL, "ledger_bench") as ledger,
    ):
        home = Path(scratch)
        os.environ["CERTIFICATION_HOME"] = str(home)
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{home / 'mlflow.db'}"
        spec = _spec(args.full)
        baseline = in_process(spec, ledger)
        results.append({"mode": "in_process", "full_budget": args.full, **baseline})
        print(results[0], flush=True)
        for executor in args.executors:
            for runs in args.runs:
                found = through_airflow(home, spec, executor, runs, ledger)
                if runs == 1:
                    found["overhead"] = round(found["seconds_to_last_gate"] / baseline["seconds"], 2)
                results.append({"mode": "airflow", **found})
                print(found, flush=True)
    results.append({"mode": "driver", "peak_rss_mb": round(peak_rss_mb())})
    write_report("orchestration", results, args.out)


if __name__ == "__main__":
    main()
