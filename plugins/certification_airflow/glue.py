"""Identity of a certification run inside Airflow, the ledger URL from the `certification_ledger` connection, and
the name a worker records on its task instances."""

from __future__ import annotations

import hashlib
import os
import socket
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import URL

LEDGER_CONN_ID = "certification_ledger"


def worker_name() -> str:
    """For `[core] hostname_callable`: $CERTIFICATION_WORKER_NAME when several Celery workers share one host (so
    task instances say which worker ran them), else the host's FQDN as Airflow's default."""
    return os.environ.get("CERTIFICATION_WORKER_NAME") or socket.getfqdn()


def ledger_url() -> str | None:
    """The ledger URL from the Airflow Connection, or None to fall back to CERTIFICATION_LEDGER_URL/the default."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        conn = BaseHook.get_connection(LEDGER_CONN_ID)
    except AirflowNotFoundException:
        return None
    if conn.conn_type in {"postgres", "postgresql", "postgresql+psycopg2"}:
        return URL.create(
            "postgresql+psycopg2",
            username=conn.login,
            password=conn.password,
            host=conn.host,
            port=conn.port,
            database=conn.schema,
        ).render_as_string(hide_password=False)
    return conn.get_uri()


def pipeline() -> Any:
    from certification.pipeline import Pipeline

    return Pipeline(ledger_url())


def run_id_for(dag_id: str, dag_run_id: str) -> str:
    """Deterministic, so every task (and every retry) of one DAG run addresses the same certification run."""
    return "cert-af-" + hashlib.sha256(f"{dag_id}/{dag_run_id}".encode()).hexdigest()[:16]


def run_id_from(context: Any) -> str:
    return run_id_for(context["dag"].dag_id, context["run_id"])


def window_end(context: Any) -> datetime:
    """The end of the window a monitoring run judges: the `window_end` param (replays, backfills), else the end of
    the run's data interval, else when the run was due."""
    given = context["params"].get("window_end")
    if given:
        moment = datetime.fromisoformat(given)
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    for key in ("data_interval_end", "logical_date"):
        if context.get(key) is not None:
            return context[key]
    return context["dag_run"].run_after


MONITORING_IDENTITY = "monitoring"
SWEEP_IDENTITY = "discovery"


def submitter(dag_run: Any, params: Any) -> str:
    """Who submits a certification run: the authenticated user who triggered it; a run triggered by a monitoring
    DAG or by the certification sweep (no user) is submitted by that service's identity, which the responsibility
    matrix must list. A person cannot borrow one: their runs always carry their own name."""
    if dag_run.triggering_user_name:
        return str(dag_run.triggering_user_name)
    if params.get("recertifies"):
        return MONITORING_IDENTITY
    return SWEEP_IDENTITY if params.get("discovered") else "unknown"
