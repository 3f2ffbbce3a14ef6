"""What Airflow's runtime tells the certification library about a task: which certification run it works on, who
submitted it, which monitoring window it judges, and the name its worker records on task instances."""

from __future__ import annotations

import socket
from datetime import UTC, datetime
from typing import Any

from certification.config import settings
from certification.run.records import airflow_run_id

MONITORING_IDENTITY = "monitoring"
SWEEP_IDENTITY = "discovery"


def worker_name() -> str:
    """For `[core] hostname_callable`: $CERTIFICATION_WORKER_NAME when several Celery workers share one host (so
    task instances say which worker ran them), else the host's FQDN as Airflow's default."""
    return settings().worker_name or socket.getfqdn()


def run_id_from(context: Any) -> str:
    """The certification run of the task's DAG run (the same for every task and retry of it)."""
    return airflow_run_id(context["dag"].dag_id, context["run_id"])


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


def submitter(dag_run: Any, params: Any) -> str:
    """Who submits a certification run: the authenticated user who triggered it; a run triggered by a monitoring
    DAG or by the certification sweep (no user) is submitted by that service's identity, which the responsibility
    matrix must list. A person cannot borrow one: their runs always carry their own name."""
    if dag_run.triggering_user_name:
        return str(dag_run.triggering_user_name)
    if params.get("recertifies"):
        return MONITORING_IDENTITY
    return SWEEP_IDENTITY if params.get("discovered") else "unknown"
