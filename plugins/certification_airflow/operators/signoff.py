"""One sign-off request per required role, answerable from Airflow's "Required Actions" (human-in-the-loop)
or from `certify signoff`. The ledger is the single record: both paths write there under the same rules."""

from __future__ import annotations

from typing import Any

from airflow.providers.standard.operators.hitl import HITLOperator
from airflow.sdk import Param
from airflow.sdk.exceptions import AirflowSkipException
from airflow.sdk.execution_time.hitl import update_hitl_detail_response, upsert_hitl_detail

from certification_airflow.hooks.ledger import ledger_url, pipeline
from certification_airflow.runtime import run_id_from
from certification_airflow.triggers.signoff import SignoffTrigger

APPROVE, REJECT = "Approve", "Reject"


class RoleSignoffOperator(HITLOperator):
    template_fields = ()

    def __init__(self, *, role: str, poke_interval: float = 5.0, **kwargs: Any) -> None:
        # Unmapping a mapped task passes `params` back in; the form is always just the comment field.
        kwargs["params"] = {"comment": Param("", type="string", description="Reason for your decision")}
        super().__init__(subject=f"Sign off as {role}", options=[APPROVE, REJECT], **kwargs)
        self.role, self.poke_interval = role, poke_interval

    def _body(self, status: dict[str, Any]) -> str:
        run = status["run"]
        lines = [
            f"**Run** `{run['run_id']}` · use case **{run['use_case']}** ({run['risk_tier']} risk)",
            f"**Model** `{run['model_reference']}` sha256 `{run['model_sha256']}`",
            f"**Submitted by** {run['submitted_by']} · spec sha256 `{run['spec_sha256']}`",
            "",
            "| check | status | result |",
            "|---|---|---|",
        ]
        lines += [f"| {r['check_id']} | {r['status']} | {r['message']} |" for r in status["results"]]
        lines += [
            "",
            f"Evidence: MLflow run `{run['mlflow_run_id']}`, per-stage results under `{status['run_dir']}`.",
            "Your decision is recorded in the audit ledger with your Airflow identity.",
        ]
        return "\n".join(lines)

    def execute(self, context: Any) -> Any:
        certification = pipeline()
        run_id = run_id_from(context)
        gate = certification.decision(run_id, "gate")
        if gate is None or gate["verdict"] != "passed":
            raise AirflowSkipException("the automated gate did not pass: no human sign-off is requested")
        self._request(context, certification, run_id)

    def _assigned_users(self) -> Any:
        """Only the people the responsibility matrix names for this role may answer in the UI/API."""
        from certification.governance import responsibilities

        matrix = responsibilities.load()
        if matrix is None or "*" in matrix.approvers(self.role):
            return self.assigned_users
        return [{"id": name, "name": name} for name in matrix.approvers(self.role)]

    def _request(self, context: Any, certification: Any, run_id: str) -> None:
        ti_id = context["task_instance"].id
        upsert_hitl_detail(
            ti_id=ti_id,
            options=self.options,
            subject=f"Certification {run_id}: sign off as {self.role}",
            body=self._body(certification.status(run_id)),
            multiple=False,
            params=self.serialized_params,
            assigned_users=self._assigned_users(),
        )
        self.defer(
            trigger=SignoffTrigger(run_id, self.role, ti_id, ledger_url(), self.poke_interval),
            method_name="execute_complete",
        )

    def execute_complete(self, context: Any, event: dict[str, Any]) -> Any:
        run_id = run_id_from(context)
        if event.get("source") == "ledger":
            if event["decision"]:  # close the UI's pending action so nobody answers twice
                update_hitl_detail_response(
                    ti_id=context["task_instance"].id,
                    chosen_options=[APPROVE if event["decision"] == "approve" else REJECT],
                    params_input={"comment": "recorded through certify signoff"},
                )
            return event
        from certification.errors import SignoffRefused

        certification = pipeline()
        user = event.get("responded_by_user") or {}
        comment = str((event.get("params_input") or {}).get("comment") or "")
        decision = "approve" if APPROVE in event["chosen_options"] else "reject"
        try:
            certification.signoff(
                run_id,
                role=self.role,
                approver=str(user.get("name") or user.get("id")),
                decision=decision,
                comment=comment or f"{decision}d in Airflow",
                channel="airflow",
            )
        except SignoffRefused as exc:
            self.log.warning("sign-off refused (%s); asking again", exc)
            if certification.signoff_state(run_id).outcome == "pending":
                self._request(context, certification, run_id)
        return {"source": "airflow", "role": self.role, "decision": decision, "responded_by_user": user}
