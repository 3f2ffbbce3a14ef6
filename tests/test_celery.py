"""The DAGs unchanged on Airflow's CeleryExecutor: Redis as the broker, PostgreSQL for Airflow's metadata and the
ledger, and two Celery workers with one process each. One certification run goes through every stage and both
sign-offs, its tasks land on both workers, and what they hand each other through XCom is small references.

In CI (CI=true) Redis must be reachable on 127.0.0.1:6379: the test fails rather than skips without it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from certification.pipeline import Pipeline
from tests.conftest import PG_ADMIN_URL, demo_script, demo_spec

REDIS = os.environ.get("CERTIFICATION_TEST_REDIS", "redis://127.0.0.1:6379")
WORKERS = ("worker-a", "worker-b")
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


@contextlib.contextmanager
def _airflow_database() -> Iterator[str]:
    name = f"airflow_celery_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextlib.contextmanager
def _processes(home: Path, env: dict[str, str]) -> Iterator[None]:
    """The Airflow components one by one (`airflow standalone` would force the LocalExecutor), each in its own
    process group with its own log, plus two single-process Celery workers."""
    logs = home / "airflow" / "logs-components"
    logs.mkdir(parents=True, exist_ok=True)
    commands = {
        "api-server": ["airflow", "api-server"],
        "scheduler": ["airflow", "scheduler"],
        "dag-processor": ["airflow", "dag-processor"],
        "triggerer": ["airflow", "triggerer"],
    }
    for name in WORKERS:
        commands[name] = [
            "airflow",
            "celery",
            "worker",
            "--concurrency",
            "1",
            "--celery-hostname",
            f"{name}@%h",
        ]
    started = []
    try:
        for name, command in commands.items():
            worker = {"CERTIFICATION_WORKER_NAME": name} if name in WORKERS else {}
            started.append(
                subprocess.Popen(
                    command,
                    env={**env, **worker},
                    stdout=(logs / f"{name}.log").open("w"),
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        yield
    finally:
        for process in started:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in started:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=30)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)


def _tail(home: Path) -> str:
    logs = sorted((home / "airflow" / "logs-components").glob("*.log"))
    return "\n".join(f"--- {log.name}\n{log.read_text()[-1500:]}" for log in logs)


def test_a_certification_runs_on_two_celery_workers(
    home: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    demo = demo_script()
    port = demo.free_port()
    ledger = postgres_url
    with _redis_db() as broker, _airflow_database() as metadata:
        env = {
            **demo.environment(home, port),
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata,
            "AIRFLOW__CELERY__BROKER_URL": broker,
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + metadata.replace("+psycopg2", ""),
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "certification_airflow.glue.worker_name",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            "AIRFLOW__API_AUTH__JWT_SECRET": uuid.uuid4().hex,  # every component must sign and accept the same
            "AIRFLOW__API__WORKERS": "1",
            "CERTIFICATION_LEDGER_URL": ledger,
            "CERTIFICATION_POOL_ROBUSTNESS": ATTACK_POOL,
        }
        subprocess.run(["airflow", "db", "migrate"], env=env, check=True, capture_output=True)
        spec = demo_spec()
        base, dag = f"http://127.0.0.1:{port}", f"/api/v2/dags/{demo.DAG_ID}"
        with _processes(home, env):
            api = demo.Api(base)
            demo.wait_for("the Airflow API server", lambda: api.call("GET", "/api/v2/monitor/health"), 240)
            passwords = json.loads(
                (home / "airflow" / "simple_auth_manager_passwords.json.generated").read_text()
            )
            api.login(passwords)
            demo.wait_for("the DAG to be parsed", lambda: api.call("GET", dag, "admin"), 180)
            api.call("POST", "/api/v2/pools", "admin", {"name": ATTACK_POOL, "slots": 1})
            api.call("PATCH", dag, "admin", {"is_paused": False})
            run = api.call(
                "POST",
                f"{dag}/dagRuns",
                demo.SUBMITTER,
                {"logical_date": None, "conf": {"spec_path": str(spec)}},
            )
            try:
                state = demo.finish_with_signoffs(api, run["dag_run_id"], timeout=1500)
            except TimeoutError as exc:
                raise AssertionError(_tail(home)) from exc
            runs = f"{dag}/dagRuns/{run['dag_run_id']}"
            instances = api.call("GET", f"{runs}/taskInstances", "admin")["task_instances"]
            xcoms = [
                api.call("GET", f"{runs}/taskInstances/{ti['task_id']}/xcomEntries/return_value", "admin")
                for ti in instances
                if ti["map_index"] == -1 and ti["state"] == "success"
            ]
        assert state == "success", _tail(home)

    pools = {ti["task_id"]: ti["pool"] for ti in instances}
    assert pools["robustness"] == ATTACK_POOL and pools["evaluation"] == "default_pool"
    by_worker = {ti["hostname"] for ti in instances if ti["state"] == "success"}
    assert by_worker == set(WORKERS), {ti["task_id"]: ti["hostname"] for ti in instances}
    assert all(len(json.dumps(x["value"])) <= MAX_XCOM_BYTES for x in xcoms), [x["value"] for x in xcoms]

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "plugins"))
    from certification_airflow.glue import run_id_for

    status = Pipeline(ledger).status(run_id_for(demo.DAG_ID, run["dag_run_id"]))
    assert status["status"] == "certified" and {s["approver"] for s in status["signoffs"]} == {"alice", "bob"}
    assert Pipeline(ledger).ledger.verify().ok
