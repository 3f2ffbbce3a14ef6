"""The responsibility matrix: who may submit runs, approve for each sign-off role, waive findings and administer.

Configured by a YAML file named in $CERTIFICATION_RESPONSIBILITIES and enforced by the pipeline itself, so every
path a decision can take (Airflow UI/API, REST, CLI) meets the same rules. Without the variable nothing is
restricted beyond the four-eyes rules: fine for a laptop, never for production.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from certification.config import settings
from certification.errors import SpecError

ANYONE = "*"
People = list[Annotated[str, Field(min_length=1)]]


class Responsibilities(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str = ""
    submit: People = [ANYONE]
    approve: dict[str, People] = Field(default_factory=dict, description="Sign-off role -> who may fill it")
    waive: People = []
    administer: People = []

    @staticmethod
    def _has(people: list[str], who: str) -> bool:
        return ANYONE in people or who.strip().lower() in {p.lower() for p in people}

    def may_submit(self, who: str) -> bool:
        return self._has(self.submit, who)

    def may_approve(self, role: str, who: str) -> bool:
        return self._has(self.approve.get(role, []), who)

    def may_waive(self, who: str) -> bool:
        return self._has(self.waive, who)

    def may_administer(self, who: str) -> bool:
        return self._has(self.administer, who)

    def approvers(self, role: str) -> list[str]:
        return list(self.approve.get(role, []))


def load(path: str | Path | None = None) -> Responsibilities | None:
    """The configured matrix, or None when none is configured; a broken file is an error, never 'no rules'."""
    path = path or settings().responsibilities
    if not path:
        return None
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        return Responsibilities.model_validate({**(raw or {}), "source": str(path)})
    except (OSError, yaml.YAMLError, ValidationError, TypeError) as exc:
        raise SpecError(str(path), f"invalid responsibility matrix: {exc}") from exc
