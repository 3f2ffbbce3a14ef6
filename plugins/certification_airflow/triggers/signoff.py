"""Waits in the triggerer (no worker slot) for a sign-off: this role's answer in Airflow's Required Actions,
its decision in the ledger (from `certify signoff`), a rejection by another role, or the deadline."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

from airflow.triggers.base import BaseTrigger, TriggerEvent
from asgiref.sync import sync_to_async


class SignoffTrigger(BaseTrigger):
    def __init__(
        self, run_id: str, role: str, ti_id: str | UUID, ledger_url: str | None, poke_interval: float = 5.0
    ) -> None:
        super().__init__()
        self.run_id, self.role, self.ti_id = run_id, role, str(ti_id)
        self.ledger_url, self.poke_interval = ledger_url, poke_interval

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            "certification_airflow.triggers.signoff.SignoffTrigger",
            {
                "run_id": self.run_id,
                "role": self.role,
                "ti_id": self.ti_id,
                "ledger_url": self.ledger_url,
                "poke_interval": self.poke_interval,
            },
        )

    def _ledger_event(self, pipeline: Any) -> dict[str, Any] | None:
        state = pipeline.signoff_state(self.run_id)
        decided = self.role in state.approved or self.role in state.rejected
        if decided or state.outcome in {"rejected", "expired"} or pipeline.decision(self.run_id, "final"):
            return {
                "source": "ledger",
                "role": self.role,
                "outcome": state.outcome,
                "decision": "approve"
                if self.role in state.approved
                else "reject"
                if self.role in state.rejected
                else None,
            }
        return None

    def _ui_event(self) -> dict[str, Any] | None:
        """The Required Actions answer; the API server normally resumes the task itself, this covers dag.test()."""
        from airflow.sdk.execution_time.hitl import get_hitl_detail_content_detail

        response = get_hitl_detail_content_detail(ti_id=UUID(self.ti_id))
        # dag.test()'s in-process supervisor does not serve HITL reads (it answers None): the ledger then decides
        if response is None or not (response.response_received and response.chosen_options):
            return None
        user = response.responded_by_user
        return {
            "chosen_options": list(response.chosen_options),
            "params_input": response.params_input or {},
            "responded_by_user": {"id": user.id, "name": user.name} if user else None,
            "responded_at": response.responded_at,
        }

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from certification.run.pipeline import Pipeline

        pipeline = await asyncio.to_thread(Pipeline, self.ledger_url)
        while True:
            event = (
                await asyncio.to_thread(self._ledger_event, pipeline) or await sync_to_async(self._ui_event)()
            )  # comms are not thread-safe
            if event is not None:
                yield TriggerEvent(event)
                return
            await asyncio.sleep(self.poke_interval)
