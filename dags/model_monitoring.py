"""monitor_<model>: one scheduled DAG per certified model on the watch list (certification.monitoring.watchlist), on the
schedule its spec sets. Each run judges one window of the production inference log against the certified baseline
and, on a breach or expiry, in this order: alerts (ledger event and log line, then the spec's notifiers), withdraws
the certificate (ledger, then the registry's `certified` alias), and triggers `model_certification` with the same
spec. Tasks pass small outcome dictionaries; a replayed window changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import DAG, Param, dag, task
from certification_airflow.hooks.ledger import pipeline
from certification_airflow.runtime import window_end

from certification.config import settings
from certification.monitoring.watchlist import Entry, entries

RECERTIFICATION = "{{{{ ti.xcom_pull(task_ids='recertification')['{}'] }}}}"


def monitoring_dag(entry: Entry) -> DAG:
    @dag(
        dag_id=entry.dag_id,
        schedule=entry.schedule,
        start_date=datetime(2026, 1, 1, tzinfo=UTC),
        catchup=False,
        max_active_runs=1,
        render_template_as_native_obj=True,  # the trigger's conf stays a dictionary
        tags=["certification", "monitoring"],
        default_args={"retries": 2, "retry_delay": timedelta(minutes=1)},
        params={
            "window_end": Param(
                None,
                type=["null", "string"],
                title="Window end (ISO 8601)",
                description="Judge the window ending here instead of the run's data interval (replay or backfill)",
            )
        },
        doc_md=__doc__,
    )
    def monitor() -> None:
        @task
        def evaluate(**context: Any) -> dict[str, Any]:
            from certification import monitoring

            return monitoring.monitor(
                pipeline(), entry.model_name, window_end(context), airflow_run=context["run_id"]
            )

        @task
        def alert(outcome: dict[str, Any], **context: Any) -> list[str]:
            from certification_airflow.notifiers import send_alerts

            return send_alerts(pipeline(), outcome, context)

        @task
        def withdraw(outcome: dict[str, Any]) -> list[str]:
            from certification import monitoring

            return monitoring.withdraw(pipeline(), outcome)

        @task.short_circuit(ignore_downstream_trigger_rules=False)
        def recertification(outcome: dict[str, Any]) -> dict[str, Any] | None:
            from certification import monitoring

            return monitoring.request_recertification(pipeline(), outcome)

        trigger = TriggerDagRunOperator(
            task_id="recertify",
            trigger_dag_id="model_certification",
            trigger_run_id=RECERTIFICATION.format("dag_run_id"),
            conf=RECERTIFICATION.format("conf"),
            logical_date=None,
            skip_when_already_exists=True,
        )

        @task(trigger_rule="none_failed")
        def document(outcome: dict[str, Any]) -> None:
            """Redraw the trend plot and the certificate's page with its monitoring timeline."""
            from certification import monitoring

            if "run_id" in outcome:
                monitoring.publish(pipeline(), outcome["run_id"])

        outcome = evaluate()
        alert(outcome) >> withdraw(outcome) >> recertification(outcome) >> trigger >> document(outcome)

    return monitor()


for _entry in entries(settings().home):
    globals()[_entry.dag_id] = monitoring_dag(_entry)
