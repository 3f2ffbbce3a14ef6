"""A local Airflow stack for the demo, the tests and the benchmarks: `airflow standalone` (SQLite, LocalExecutor) or
its components one by one on PostgreSQL (LocalExecutor or CeleryExecutor with single-process workers), the REST
API as the UI uses it, and the approvers answering their Required Actions. It drives Airflow's CLI and API from the
outside; nothing here imports Airflow.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from certification.config import settings

REPO = Path(__file__).resolve().parents[2]
DAG_ID = "model_certification"
APPROVERS = {"risk": "alice", "compliance": "bob"}
SUBMITTER = "dana"
READING_SECONDS = 10
DAY = timedelta(days=1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Api:
    def __init__(self, base: str) -> None:
        self.base, self.tokens = base, {}  # type: ignore[var-annotated]

    def call(self, method: str, path: str, user: str | None = None, body: Any = None) -> Any:
        request = urllib.request.Request(
            self.base + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        if user:
            request.add_header("Authorization", f"Bearer {self.tokens[user]}")
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"null")

    def login(self, passwords: dict[str, str]) -> None:
        for user, password in passwords.items():
            self.tokens[user] = self.call(
                "POST", "/auth/token", body={"username": user, "password": password}
            )["access_token"]


def wait_for(what: str, probe: Any, timeout: float, interval: float = 2.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            result = probe()
            if result:
                return result
        except (urllib.error.URLError, OSError, KeyError, json.JSONDecodeError):
            pass
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")


def environment(home: Path, port: int) -> dict[str, str]:
    users = ",".join(["admin:admin", f"{SUBMITTER}:user", *(f"{u}:user" for u in APPROVERS.values())])
    inherited = dict(os.environ)
    configured = settings(environ={**inherited, "CERTIFICATION_HOME": str(home)})
    return {
        **inherited,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{inherited.get('PATH', '')}",
        "CERTIFICATION_HOME": str(home),
        "CERTIFICATION_RESPONSIBILITIES": configured.responsibilities
        or str(REPO / "config" / "responsibilities.yaml"),
        "MLFLOW_TRACKING_URI": configured.tracking_uri,
        "AIRFLOW_HOME": str(home / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": users,
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL": "5",
        "CERTIFICATION_INFERENCE_LOG": str(home / "inference-log"),
    }


def start_airflow(home: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """`airflow standalone` in its own process group, logging to $AIRFLOW_HOME/standalone.log."""
    (home / "airflow").mkdir(parents=True, exist_ok=True)
    log = (home / "airflow" / "standalone.log").open("w")
    # standalone gives every component one environment: all of them preload, though only the scheduler forks tasks
    return subprocess.Popen(
        ["airflow", "standalone"],
        env={**env, "CERTIFICATION_PRELOAD": "1"},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop_airflow(airflow: subprocess.Popen[bytes]) -> None:
    os.killpg(airflow.pid, signal.SIGINT)
    try:
        airflow.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(airflow.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(airflow.pid, signal.SIGKILL)  # children that outlived the parent


# -- Airflow component by component, on PostgreSQL (the Celery test, benchmarks/orchestration.py) -----------------
WORKERS = ("worker-a", "worker-b")


@contextlib.contextmanager
def scratch_database(admin_url: str, prefix: str) -> Iterator[str]:
    """A fresh PostgreSQL database on the server of `admin_url`, dropped afterwards; yields its URL."""
    from sqlalchemy import create_engine, text

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def distributed_environment(
    home: Path, port: int, metadata: str, ledger: str, broker: str | None = None
) -> dict[str, str]:
    """CeleryExecutor with `broker`, else LocalExecutor; Airflow's metadata and the ledger on PostgreSQL."""
    env = {
        **environment(home, port),
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor" if broker else "LocalExecutor",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata,
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__API_AUTH__JWT_SECRET": uuid.uuid4().hex,  # every component must sign and accept the same
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__CORE__HOSTNAME_CALLABLE": "certification_airflow.runtime.worker_name",
        "CERTIFICATION_LEDGER_URL": ledger,
    }
    if broker:
        env |= {
            "AIRFLOW__CELERY__BROKER_URL": broker,
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + metadata.replace("+psycopg2", ""),
            "AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS": "certification_airflow.celery_config.CELERY_CONFIG",
        }
    subprocess.run(["airflow", "db", "migrate"], env=env, check=True, capture_output=True)
    return env


@contextlib.contextmanager
def components(
    home: Path, env: dict[str, str], workers: tuple[str, ...] = WORKERS
) -> Iterator[Callable[[str], None]]:
    """api-server, scheduler, dag-processor and triggerer (`airflow standalone` would force the LocalExecutor),
    plus single-process Celery `workers` under the CeleryExecutor; each in its own process group and log. Yields
    `crash(name)`: SIGKILL that component and start it again (what a supervisor would do)."""
    logs = home / "airflow" / "logs-components"
    logs.mkdir(parents=True, exist_ok=True)
    commands = {name: ["airflow", name] for name in ("api-server", "scheduler", "dag-processor", "triggerer")}
    celery = ["airflow", "celery", "worker", "--concurrency", "1", "--celery-hostname"]
    if env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor":
        commands |= {name: [*celery, f"{name}@%h"] for name in workers}
    started: dict[str, subprocess.Popen[bytes]] = {}

    def start(name: str) -> None:
        named = {"CERTIFICATION_WORKER_NAME": name} if name in workers else {}
        if name in {"scheduler", *workers}:  # the processes tasks are forked from (plugins/.../preload.py)
            named["CERTIFICATION_PRELOAD"] = "1"
        log = (logs / f"{name}.log").open("a")
        started[name] = subprocess.Popen(
            commands[name], env={**env, **named}, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def crash(name: str) -> None:
        os.killpg(started[name].pid, signal.SIGKILL)
        started[name].wait()
        start(name)

    try:
        for name in commands:
            start(name)
        yield crash
    finally:
        for process in started.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in started.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=30)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)


def component_logs(home: Path) -> str:
    logs = sorted((home / "airflow" / "logs-components").glob("*.log"))
    return "\n".join(f"--- {log.name}\n{log.read_text()[-1500:]}" for log in logs)


def login(api: Api, home: Path) -> None:
    wait_for("the Airflow API server", lambda: api.call("GET", "/api/v2/monitor/health"), 240)
    api.login(json.loads((home / "airflow" / "simple_auth_manager_passwords.json.generated").read_text()))


def finish_with_signoffs(api: Api, run_id: str, timeout: float = 1200) -> str:
    """Wait for a certification DAG run, approving each role's Required Action as its approver."""
    answered: set[str] = set()

    def finished() -> str | None:
        approve_pending(api, run_id, answered)
        state = api.call("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}", "admin")["state"]
        return state if state in {"success", "failed"} else None

    return str(wait_for(f"the DAG run {run_id} to finish", finished, timeout, interval=3))


def run_monitoring(api: Api, dag_id: str, window_end: datetime) -> str:
    """Trigger the model's monitor DAG for the day ending at window_end (the scheduler would at midnight)."""
    run = api.call(
        "POST",
        f"/api/v2/dags/{dag_id}/dagRuns",
        "admin",
        {"logical_date": None, "conf": {"window_end": window_end.isoformat()}},
    )

    def finished() -> str | None:
        state = api.call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run['dag_run_id']}", "admin")["state"]
        return state if state in {"success", "failed"} else None

    return str(wait_for(f"{dag_id} to finish", finished, 600, interval=3))


def approve_pending(api: Api, run_id: str, answered: set[str]) -> None:
    details = api.call("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/hitlDetails", "admin")["hitl_details"]
    for detail in details:
        role = detail["subject"].rsplit(" ", 1)[-1]
        ti = detail["task_instance"]
        if (
            detail["response_received"]
            or role in answered
            or role not in APPROVERS
            or ti["state"] != "deferred"
        ):
            continue
        # A human reads before answering; answering within the scheduler's executor-event loop of the deferral
        # races Airflow's own bookkeeping (the resumed task is then marked failed).
        if time.time() - datetime.fromisoformat(detail["created_at"]).timestamp() < READING_SECONDS:
            continue
        approver = APPROVERS[role]
        api.call(
            "PATCH",
            f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{ti['task_id']}/"
            f"{ti['map_index']}/hitlDetails",
            approver,
            {"chosen_options": ["Approve"], "params_input": {"comment": f"{role} review complete"}},
        )
        answered.add(role)
        print(f"  {approver} approved as {role} (Airflow Required Actions API)")
