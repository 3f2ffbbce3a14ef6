"""Waits in the triggerer (no worker slot) until the ledger holds this role's decision, a rejection, or the
deadline passes. Decisions reach the ledger from the CLI; UI answers resume the task directly."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent


class SignoffTrigger(BaseTrigger):
    def __init__(self, run_id: str, role: str, ledger_url: str | None, poke_interval: float = 5.0) -> None:
        super().__init__()
        self.run_id, self.role, self.ledger_url, self.poke_interval = run_id, role, ledger_url, poke_interval

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return ("certification_airflow.triggers.SignoffTrigger",
                {"run_id": self.run_id, "role": self.role, "ledger_url": self.ledger_url,
                 "poke_interval": self.poke_interval})

    def _poll(self, pipeline: Any) -> dict[str, Any] | None:
        state = pipeline.signoff_state(self.run_id)
        decided = self.role in state.approved or self.role in state.rejected
        if decided or state.outcome in {"rejected", "expired"} or pipeline.decision(self.run_id, "final"):
            return {"source": "ledger", "role": self.role, "outcome": state.outcome,
                    "decision": "approve" if self.role in state.approved else
                    "reject" if self.role in state.rejected else None}
        return None

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from certification.pipeline import Pipeline

        pipeline = await asyncio.to_thread(Pipeline, self.ledger_url)
        while True:
            event = await asyncio.to_thread(self._poll, pipeline)
            if event is not None:
                yield TriggerEvent(event)
                return
            await asyncio.sleep(self.poke_interval)
