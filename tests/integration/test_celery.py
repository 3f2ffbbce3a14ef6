"""The DAGs unchanged on Airflow's CeleryExecutor: Redis as the broker, PostgreSQL for Airflow's metadata and the
ledger, and two Celery workers with one process each. One certification run goes through every stage and both
sign-offs, survives its scheduler being killed, its tasks land on both workers (forked from worker processes that
imported the certification stack once), and what they hand each other through XCom is small references.

In CI (CI=true) Redis must be reachable on 127.0.0.1:6379: the test fails rather than skips without it.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from certification import Pipeline
from certification.demo import stack as demo
from tests.helpers import PG_ADMIN_URL, REPO, demo_spec

REDIS = os.environ.get("CERTIFICATION_TEST_REDIS", "redis://127.0.0.1:6379")
ATTACK_POOL = "certification_attacks"  # robustness takes one of its slots, the other stages the default pool
MAX_XCOM_BYTES = 4096  # run ids and per-check statuses, never frames or models


@contextlib.contextmanager
def _redis_db() -> Iterator[str]:
    """A Redis database of its own for the broker, flushed afterwards."""
    import redis

    url = f"{REDIS}/{uuid.uuid4().int % 15 + 1}"
    try:
        redis.Redis.from_url(url).ping()
    except redis.RedisError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis is needed at {REDIS}: {exc}")
        pytest.skip(f"Redis is not reachable at {REDIS}: {exc}")
    try:
        yield url
    finally:
        redis.Redis.from_url(url).flushdb()


def _main_process_maps(worker: str) -> str:
    """/proc/PID/maps of a Celery worker's main process, the one that forks its pool (found by its title)."""
    for proc in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError):
            title = (proc / "cmdline").read_bytes().decode(errors="replace")
            if f"{worker}@" in title and "MainProcess" in title:
                return (proc / "maps").read_text()
    raise AssertionError(f"no main process of Celery worker {worker}")


def test_preload_only_when_asked() -> None:
    plugins = str(REPO / "plugins")
    heavy = "{'sklearn', 'art', 'evidently'}"
    probe = f"import sys, certification_airflow.preload; print(sorted({heavy} & set(sys.modules)))"
    for flag, expected in (("1", "['art', 'evidently', 'sklearn']"), ("", "[]")):
        done = subprocess.run(
            [sys.executable, "-c", probe],
            env={**os.environ, "PYTHONPATH": plugins, "CERTIFICATION_PRELOAD": flag},
            capture_output=True,
            text=True,
            check=True,
        )
        assert done.stdout.strip() == expected, done.stderr


def test_a_certification_runs_on_two_celery_workers(
    home: Path, postgres_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = demo.free_port()
    with _redis_db() as broker, demo.scratch_database(PG_ADMIN_URL, "airflow_celery") as metadata:
        env = demo.distributed_environment(home, port, metadata, postgres_database, broker)
        env["CERTIFICATION_POOL_ROBUSTNESS"] = ATTACK_POOL
        spec = demo_spec()
        api, dag = demo.Api(f"http://127.0.0.1:{port}"), f"/api/v2/dags/{demo.DAG_ID}"
        with demo.components(home, env) as crash:
            demo.login(api, home)
            demo.wait_for("the DAG to be parsed", lambda: api.call("GET", dag, "admin"), 180)
            api.call("POST", "/api/v2/pools", "admin", {"name": ATTACK_POOL, "slots": 1})
            api.call("PATCH", dag, "admin", {"is_paused": False})
            run = api.call(
                "POST",
                f"{dag}/dagRuns",
                demo.SUBMITTER,
                {"logical_date": None, "conf": {"spec_path": str(spec)}},
            )
            runs = f"{dag}/dagRuns/{run['dag_run_id']}"
            # the run outlives its scheduler: killed once the run is under way, a new one carries it on
            demo.wait_for(
                "the run to start",
                lambda: api.call("GET", f"{runs}/taskInstances/validate_spec", "admin")["state"] == "success",
                300,
            )
            crash("scheduler")
            preloaded = {name: "/sklearn/" in _main_process_maps(name) for name in demo.WORKERS}
            try:
                state = demo.finish_with_signoffs(api, run["dag_run_id"], timeout=1500)
            except TimeoutError as exc:
                raise AssertionError(demo.component_logs(home)) from exc
            instances = api.call("GET", f"{runs}/taskInstances", "admin")["task_instances"]
            xcoms = [
                api.call("GET", f"{runs}/taskInstances/{ti['task_id']}/xcomEntries/return_value", "admin")
                for ti in instances
                if ti["map_index"] == -1 and ti["state"] == "success"
            ]
        assert state == "success", demo.component_logs(home)

    assert preloaded == dict.fromkeys(demo.WORKERS, True)
    pools = {ti["task_id"]: ti["pool"] for ti in instances}
    assert pools["robustness"] == ATTACK_POOL and pools["evaluation"] == "default_pool"
    by_worker = {ti["hostname"] for ti in instances if ti["state"] == "success"}
    assert by_worker == set(demo.WORKERS), {ti["task_id"]: ti["hostname"] for ti in instances}
    assert all(len(json.dumps(x["value"])) <= MAX_XCOM_BYTES for x in xcoms), [x["value"] for x in xcoms]

    monkeypatch.syspath_prepend(str(REPO / "plugins"))
    from certification.run.records import airflow_run_id

    status = Pipeline(postgres_database).status(airflow_run_id(demo.DAG_ID, run["dag_run_id"]))
    assert status["status"] == "certified" and {s["approver"] for s in status["signoffs"]} == {"alice", "bob"}
    assert Pipeline(postgres_database).ledger.verify().ok
