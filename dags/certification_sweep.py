"""certification_sweep: on a schedule, find the specs in $CERTIFICATION_SPECS_DIR whose exact inputs (spec, model
version, data) have no standing certificate and start `model_certification` for each (certification.discovery says
which and why). The DAG run id comes from the inputs, so sweeping again before a run is decided starts nothing
new. Without $CERTIFICATION_SPECS_DIR the DAG is not defined."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import dag, task
from certification_airflow.hooks.ledger import pipeline

from certification.config import settings

log = logging.getLogger(__name__)
CONFIGURED = settings()
SPECS_DIR = CONFIGURED.specs_dir


@dag(
    dag_id="certification_sweep",
    schedule=CONFIGURED.sweep_schedule,
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    tags=["certification"],
    default_args={"retries": 2, "retry_delay": timedelta(minutes=1)},
    doc_md=__doc__,
)
def certification_sweep() -> None:
    @task
    def survey() -> list[dict[str, Any]]:
        """One model_certification trigger per due spec; every spec's state and reason goes to the task log."""
        from certification.governance import discovery

        found = discovery.survey(pipeline().ledger, Path(str(SPECS_DIR)))
        for item in found:
            log.log(
                logging.WARNING if item.action == "invalid" else logging.INFO,
                "%s: %s (%s)",
                item.spec_path,
                item.action,
                item.reason,
            )
        return [
            {
                "trigger_run_id": item.dag_run_id,
                "conf": {"spec_path": item.spec_path, "discovered": item.reason},
            }
            for item in found
            if item.action == "certify"
        ]

    TriggerDagRunOperator.partial(
        task_id="certify",
        trigger_dag_id="model_certification",
        logical_date=None,
        skip_when_already_exists=True,
    ).expand_kwargs(survey())


if SPECS_DIR:
    dag = certification_sweep()
