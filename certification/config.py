"""Every environment variable the project reads, in one place. The same code runs embedded (state under
./.certification, SQLite) and in production (PostgreSQL, shared volumes, Airflow pools); `VARIABLES` is the one list,
documented in the README's configuration table, and nothing else in the project reads the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

POOL_PREFIX = "CERTIFICATION_POOL_"
CONNECTION_PREFIX = "AIRFLOW_CONN_"
VARIABLES = {
    "CERTIFICATION_HOME": "where state lives: ledger.db, mlflow.db, runs/, keys/, monitoring/ "
    "(default ./.certification)",
    "CERTIFICATION_LEDGER_URL": "SQLAlchemy URL of the ledger (default sqlite:///$CERTIFICATION_HOME/ledger.db); "
    "inside Airflow the Connection certification_ledger wins",
    "MLFLOW_TRACKING_URI": "MLflow tracking and registry store (default sqlite:///$CERTIFICATION_HOME/mlflow.db)",
    "CERTIFICATION_SQL_DIR": "folder of the schema and hardening SQL (default: the repository's sql/)",
    "CERTIFICATION_SIGNING_KEY": "Ed25519 private key (PEM) that signs certificates (default: generated on first "
    "use under $CERTIFICATION_HOME/keys/)",
    "CERTIFICATION_RESPONSIBILITIES": "YAML responsibility matrix: who may submit, approve per role, waive, "
    "administer (unset: only the four-eyes rules)",
    "CERTIFICATION_INFERENCE_LOG": "inference log monitoring reads when the spec names none: a PostgreSQL URL or a "
    "Parquet file/folder",
    "CERTIFICATION_CHROMIUM": "the Chromium that prints certificate PDFs (default: the first on PATH)",
    "CERTIFY_USER": "who the CLI acts as by default (default: the login name)",
    "CERTIFICATION_SPECS_DIR": "spec folder the certification_sweep DAG surveys (unset: no sweep DAG)",
    "CERTIFICATION_SWEEP_SCHEDULE": "schedule of the certification_sweep DAG (default @hourly)",
    "CERTIFICATION_MAX_ACTIVE_RUNS": "model_certification runs at once, including those waiting for approvers "
    "(default 64)",
    "CERTIFICATION_DEFAULT_SPEC": "spec path pre-filled in the trigger form",
    POOL_PREFIX + "<STAGE>": "Airflow pool of a stage's tasks, e.g. CERTIFICATION_POOL_ROBUSTNESS (default "
    "default_pool)",
    "CERTIFICATION_PRELOAD": "1 on the scheduler or Celery workers: import the stack once before forking tasks",
    "CERTIFICATION_WORKER_NAME": "the name a Celery worker records on its task instances (default the host's FQDN)",
    "DEMO_AIRFLOW_PORT": "port of the demo's Airflow API server (default: a free one)",
    CONNECTION_PREFIX
    + "<ID>": "credentials of a served model whose spec says `model.endpoint.connection: <id>`, "
    "in Airflow's own Connection format (a URI or JSON; the password is a bearer token, login and password basic "
    "auth); never recorded",
}


@dataclass(frozen=True)
class Settings:
    home: Path
    ledger_url: str
    tracking_uri: str
    sql_dir: Path
    signing_key: Path | None = None
    responsibilities: str | None = None
    inference_log: str | None = None
    chromium: str | None = None
    user: str | None = None
    specs_dir: str | None = None
    sweep_schedule: str = "@hourly"
    max_active_runs: int = 64
    default_spec: str = ""
    preload: bool = False
    worker_name: str | None = None
    demo_port: int | None = None
    pools: Mapping[str, str] = field(default_factory=dict)  # stage -> Airflow pool
    connections: Mapping[str, str] = field(
        default_factory=dict, repr=False
    )  # lower-case id -> URI/JSON (secret)

    @property
    def artifact_root(self) -> Path:
        return self.home / "mlartifacts"

    def run_dir(self, run_id: str) -> Path:
        path = self.home / "runs" / run_id
        path.mkdir(parents=True, exist_ok=True)
        return path

    def pool(self, stage: str) -> str:
        """The Airflow pool a stage's tasks take a slot of; the pool must exist (README, "Scaling out")."""
        return self.pools.get(stage) or "default_pool"


def settings(ledger_url: str | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Read the environment now; an explicit ledger URL (e.g. from an Airflow Connection) wins over it."""
    env = os.environ if environ is None else environ

    def get(name: str) -> str | None:
        assert name in VARIABLES, f"{name} is not documented in certification.config.VARIABLES"
        return env.get(name) or None

    home = Path(get("CERTIFICATION_HOME") or ".certification").resolve()
    port, key = get("DEMO_AIRFLOW_PORT"), get("CERTIFICATION_SIGNING_KEY")
    return Settings(
        home=home,
        ledger_url=ledger_url or get("CERTIFICATION_LEDGER_URL") or f"sqlite:///{home / 'ledger.db'}",
        tracking_uri=get("MLFLOW_TRACKING_URI") or f"sqlite:///{home / 'mlflow.db'}",
        sql_dir=Path(get("CERTIFICATION_SQL_DIR") or Path(__file__).resolve().parent.parent / "sql"),
        signing_key=Path(key) if key else None,
        responsibilities=get("CERTIFICATION_RESPONSIBILITIES"),
        inference_log=get("CERTIFICATION_INFERENCE_LOG"),
        chromium=get("CERTIFICATION_CHROMIUM"),
        user=get("CERTIFY_USER"),
        specs_dir=get("CERTIFICATION_SPECS_DIR"),
        sweep_schedule=get("CERTIFICATION_SWEEP_SCHEDULE") or "@hourly",
        max_active_runs=int(get("CERTIFICATION_MAX_ACTIVE_RUNS") or 64),
        default_spec=get("CERTIFICATION_DEFAULT_SPEC") or "",
        preload=get("CERTIFICATION_PRELOAD") == "1",
        worker_name=get("CERTIFICATION_WORKER_NAME"),
        demo_port=int(port) if port else None,
        pools={
            k.removeprefix(POOL_PREFIX).lower(): v for k, v in env.items() if k.startswith(POOL_PREFIX) and v
        },
        connections={
            k.removeprefix(CONNECTION_PREFIX).lower(): v
            for k, v in env.items()
            if k.startswith(CONNECTION_PREFIX) and v
        },
    )
