"""`make demo`: a complete, real certification through the model_certification DAG on embedded defaults.

1. Trains a model on UCI Adult (offline copy) and registers it in a local MLflow store as `candidate`.
2. Starts a local Airflow (`airflow standalone`: scheduler, dag-processor, triggerer, api-server; SQLite).
3. The model owner `dana` triggers the DAG through the REST API, exactly as the UI's trigger form does.
4. The approvers `alice` (risk) and `bob` (compliance) answer their Required Actions through the REST API that
   the Airflow UI uses; each answer lands in the ledger under their authenticated identity.
5. Post-market monitoring: the drifting-stream generator writes two days of production to the inference log (a
   stable day, then a sudden shift in age and hours); the model's generated monitor DAG judges each day. The shift
   suspends the certificate, takes the `certified` alias off and triggers model_certification, which the approvers
   answer again.
6. Prints the verdicts and the certificate paths, verifies the ledger, and stops Airflow.
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
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
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
    return {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "CERTIFICATION_HOME": str(home),
        "CERTIFICATION_RESPONSIBILITIES": os.environ.get(
            "CERTIFICATION_RESPONSIBILITIES", str(REPO / "config" / "responsibilities.yaml")
        ),
        "MLFLOW_TRACKING_URI": os.environ.get("MLFLOW_TRACKING_URI", f"sqlite:///{home / 'mlflow.db'}"),
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


# -- Airflow component by component, on PostgreSQL (tests/test_celery.py, benchmarks/orchestration.py) -------------
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
        "AIRFLOW__CORE__HOSTNAME_CALLABLE": "certification_airflow.glue.worker_name",
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


def monitor(api: Api, home: Path, run_id: str) -> str | None:
    """Step 5: two days of production judged by the model's monitor DAG; returns the re-certification's DAG run."""
    import shutil

    from certification import demo, inference_log, postmarket, tracking, watchlist
    from certification.jsonutil import iso
    from certification.pipeline import Pipeline

    pipeline = Pipeline()
    certified = next(c for c in postmarket.certificates(pipeline.ledger) if c.run_id == run_id)
    print(
        "5/6 post-market monitoring: the generator writes a stable day, then a sudden shift in age and hours ..."
    )
    log = home / "inference-log"
    shutil.rmtree(log, ignore_errors=True)  # an earlier demo's production
    # days that end before the latest midnight: the scheduler's own first run (for the day up to that midnight)
    # finds no requests and records that, so the two days are judged in order by the runs triggered here
    start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - 3 * DAY
    for day, frame in enumerate(demo.production_days(pipeline, certified.run_id, "sudden", start)):
        inference_log.write_parquet(frame, log, f"day{day}")
    [entry] = [e for e in watchlist.entries(home) if e.model_name == certified.name]
    wait_for(f"the DAG {entry.dag_id}", lambda: api.call("GET", f"/api/v2/dags/{entry.dag_id}", "admin"), 180)
    api.call("PATCH", f"/api/v2/dags/{entry.dag_id}", "admin", {"is_paused": False})
    for day in (1, 2):
        state = run_monitoring(api, entry.dag_id, start + day * DAY)
        [window] = pipeline.ledger.query(
            "SELECT * FROM {s}.monitoring_windows WHERE certificate_id = :c AND window_end = :e",
            c=certified.certificate_id,
            e=iso(start + day * DAY),
        )
        print(
            f"    day {day} ({entry.dag_id}: {state}): {window['status']} on {window['rows_seen']} requests"
        )
        for breach in json.loads(window["breaches_json"]):
            print(f"      {breach}")
        print(f"      root cause: {json.loads(window['summary_json'])['text']}")
    done = postmarket.actions(pipeline.ledger, certified.certificate_id)
    alias = tracking.certified_version(pipeline.settings, certified.name)
    print(
        f"    certificate {certified.certificate_id}: {', '.join(done) or 'untouched'}; `certified` alias: {alias}"
    )
    if postmarket.RECERTIFY not in done:
        return None
    recertification = str(done[postmarket.RECERTIFY]["detail_json"]["dag_run_id"])
    print(f"    re-certification {recertification} runs the same spec; the approvers answer again ...")
    print(f"    re-certification finished: {finish_with_signoffs(api, recertification)}")
    return recertification


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


def main() -> int:
    started = time.monotonic()
    home = Path(os.environ.get("CERTIFICATION_HOME", REPO / ".certification")).resolve()
    port = int(os.environ.get("DEMO_AIRFLOW_PORT") or free_port())
    env = environment(home, port)
    os.environ.update({k: env[k] for k in ("CERTIFICATION_HOME", "MLFLOW_TRACKING_URI")})

    sys.path.insert(0, str(REPO / "plugins"))
    from certification_airflow.glue import run_id_for

    from certification import demo
    from certification.config import settings
    from certification.pipeline import Pipeline

    print("1/6 training a model on UCI Adult and registering it in MLflow as 'candidate' ...")
    spec = demo.prepare(settings())
    print(f"    spec: {spec}")

    print(f"2/6 starting Airflow (standalone) on http://127.0.0.1:{port} ...")
    airflow = start_airflow(home, env)
    api = Api(f"http://127.0.0.1:{port}")
    try:
        wait_for("the Airflow API server", lambda: api.call("GET", "/api/v2/monitor/health"), 240)
        passwords_file = home / "airflow" / "simple_auth_manager_passwords.json.generated"
        api.login(json.loads(passwords_file.read_text()))
        wait_for("the DAG to be parsed", lambda: api.call("GET", f"/api/v2/dags/{DAG_ID}", "admin"), 180)
        api.call("PATCH", f"/api/v2/dags/{DAG_ID}", "admin", {"is_paused": False})

        print(f"3/6 '{SUBMITTER}' triggers {DAG_ID} (the UI's trigger form posts the same request) ...")
        run = api.call(
            "POST",
            f"/api/v2/dags/{DAG_ID}/dagRuns",
            SUBMITTER,
            {"logical_date": None, "conf": {"spec_path": str(spec)}},
        )
        run_id = run["dag_run_id"]
        print(f"    DAG run: {run_id}")

        print("4/6 waiting for the automated stages, then signing off as each approver ...")
        print(f"    DAG run finished: {finish_with_signoffs(api, run_id)}")
        certified = Pipeline().status(run_id_for(DAG_ID, run_id))["status"] == "certified"
        recertification = monitor(api, home, run_id_for(DAG_ID, run_id)) if certified else None
    finally:
        stop_airflow(airflow)

    print("6/6 reading the decisions from the audit ledger ...")
    pipeline = Pipeline()
    status = pipeline.status(run_id_for(DAG_ID, run_id))
    report = pipeline.ledger.verify()
    print(f"    certification run: {status['run']['run_id']}")
    for result in status["results"]:
        print(f"    {result['status']:>14}  {result['check_id']}: {result['message']}")
    for signoff in status["signoffs"]:
        print(
            f"    sign-off {signoff['role']}: {signoff['decision']} by {signoff['approver']} via {signoff['channel']}"
        )
    monitoring = status["monitoring"] or {}
    print(f"    certificate state: {monitoring.get('state')}")
    for event in monitoring.get("events", []):
        print(f"      {event['at']}  {event['kind']}: {event['text'][:160]}")
    renewed = pipeline.status(run_id_for(DAG_ID, recertification)) if recertification else None
    if renewed:
        print(f"    re-certification run {renewed['run']['run_id']}: {renewed['status']}")
    print(
        f"    ledger: {report.events} events, {'intact' if report.ok else 'TAMPERED'} ({pipeline.ledger.safe_url})"
    )
    print(f"verdict: {status['status']}")
    print(f"certificate: {status['documents'].get('certificate.json', '(none)')}")
    print(
        f"certificate page (with its monitoring timeline): {status['documents'].get('certificate.html', '(none)')}"
    )
    print(f"report: {status['documents'].get('report.html', '(none)')}")
    for name in (
        "certificate.pdf",
        "model-card.html",
        "risk-summary.html",
        "data-dictionary.html",
        "rollback.md",
    ):
        print(f"{name}: {status['documents'].get(name, '(none)')}")
    if renewed:
        print(
            f"re-certification: {renewed['status']}, {renewed['documents'].get('certificate.html', '(none)')}"
        )
    print(f"demo wall time: {time.monotonic() - started:.0f}s")
    # the re-certification is a real run and may be rejected (e.g. latency on a loaded laptop): it must be decided
    monitored = (
        monitoring.get("state") == "suspended" and renewed is not None and renewed["final"] is not None
    )
    return 0 if status["status"] == "certified" and monitored and report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
