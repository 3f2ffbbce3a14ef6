"""model_certification: validate spec → data validation → evaluation → robustness | fairness | compliance → gate
→ human sign-off per role → certificate or recorded rejection. Tasks pass only the run id; all logic is in the
`certification` package and every task is idempotent (the run id is derived from the DAG run)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import Param, dag, task
from certification_airflow.hooks.ledger import pipeline
from certification_airflow.operators.signoff import RoleSignoffOperator
from certification_airflow.runtime import run_id_from, submitter

from certification.config import settings

OPTIONAL = ["null", "string"]
STAGE_TIMEOUT = timedelta(hours=2)
# $CERTIFICATION_POOL_<STAGE> puts a stage's tasks into an Airflow pool (e.g. a small one for the robustness attacks,
# so that many runs at once cannot starve everyone's evaluation); $CERTIFICATION_MAX_ACTIVE_RUNS bounds the runs
CONFIGURED = settings()


@dag(
    dag_id="model_certification",
    schedule=None,
    catchup=False,
    # a run waiting for its approvers holds no worker slot (the sign-off is deferred) but does count here, so this
    # bounds how many runs can wait for people at once; the pools and executor parallelism bound the work
    max_active_runs=CONFIGURED.max_active_runs,
    tags=["certification"],
    # upstream: a task's priority grows with the work before it, so runs under way reach their gate before new runs
    # take the slots (Airflow's default, downstream, runs every run's first stages first)
    default_args={"retries": 1, "retry_delay": timedelta(seconds=10), "weight_rule": "upstream"},
    params={
        "spec_path": Param(
            CONFIGURED.default_spec,
            type="string",
            minLength=1,
            title="Certification spec",
            description="Path of the YAML spec of the use case",
        ),
        "model_uri": Param(
            None,
            type=OPTIONAL,
            title="Model URI override",
            description="models:/name/version or models:/name@alias",
        ),
        "model_path": Param(None, type=OPTIONAL, title="Local model file override"),
        "model_sha256": Param(None, type=OPTIONAL, title="SHA-256 pin of the local model file"),
        "train_path": Param(None, type=OPTIONAL, title="Training data override (CSV or Parquet)"),
        "evaluation_path": Param(None, type=OPTIONAL, title="Evaluation data override (CSV or Parquet)"),
        "recertifies": Param(None, type=OPTIONAL, title="Certificate this run replaces (set by monitoring)"),
        "reason": Param(None, type=OPTIONAL, title="Why re-certification started (set by monitoring)"),
        "discovered": Param(None, type=OPTIONAL, title="Why the certification sweep started this run"),
    },
    doc_md=__doc__,
)
def model_certification() -> None:
    @task(retries=0)
    def validate_spec(**context: Any) -> list[str]:
        """Bind the run to its inputs; returns the approver roles the sign-off step fans out over."""
        from airflow.sdk.exceptions import AirflowFailException

        from certification.errors import InputError

        params, dag_run = context["params"], context["dag_run"]
        overrides = {
            k: params.get(k)
            for k in ("model_uri", "model_path", "model_sha256", "train_path", "evaluation_path")
        }
        certification = pipeline()
        try:
            run_id, _ = certification.start(
                params["spec_path"],
                overrides,
                origin="airflow",
                submitted_by=submitter(dag_run, params),
                run_id=run_id_from(context),
                airflow_run=context["run_id"],
            )
        except InputError as exc:  # recorded as an error run by start(); retrying cannot fix the input
            raise AirflowFailException(str(exc)) from exc
        return list(certification.ledger.run(run_id)["required_roles_json"])

    def stage_task(stage: str):  # type: ignore[no-untyped-def]
        # a model that never returns must not hold the run forever: the stage is killed, its checks have no
        # result and the gate fails; each stage's own time budgets (e.g. the attack's) are far below this
        @task(task_id=stage, execution_timeout=STAGE_TIMEOUT, pool=CONFIGURED.pool(stage))
        def run_stage(**context: Any) -> dict[str, Any]:
            results = pipeline().run_stage(run_id_from(context), stage)
            return {r.check_id: r.status.value for r in results}

        return run_stage()

    @task(trigger_rule="all_done")
    def gate(**context: Any) -> str:
        certification = pipeline()
        run_id = run_id_from(context)
        final = certification.decision(run_id, "final")
        return str(final["verdict"] if final else certification.gate(run_id)["verdict"])

    @task(trigger_rule="all_done")
    def finalize(**context: Any) -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowFailException

        certification = pipeline()
        run_id = run_id_from(context)
        final = certification.finalize(run_id, signoff_closed=True)
        status = certification.status(run_id)
        if final.get("verdict") == "error":
            raise AirflowFailException(f"{run_id}: {final['reasons_json']}")
        return {"run_id": run_id, "verdict": final.get("verdict"), "documents": status["documents"]}

    started = validate_spec()
    data_validation = stage_task("data_validation")
    evaluation = stage_task("evaluation")
    parallel = [stage_task("robustness"), stage_task("fairness"), stage_task("compliance")]
    decided = gate()
    signoff = RoleSignoffOperator.partial(task_id="signoff", retries=0, poke_interval=2.0).expand(
        role=started
    )
    started >> data_validation >> evaluation >> parallel >> decided >> signoff >> finalize()


dag = model_certification()
