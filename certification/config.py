"""Where state lives. Everything is configurable by environment so the same code runs embedded and in production."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    home: Path
    ledger_url: str
    tracking_uri: str

    @property
    def artifact_root(self) -> Path:
        return self.home / "mlartifacts"

    def run_dir(self, run_id: str) -> Path:
        path = self.home / "runs" / run_id
        path.mkdir(parents=True, exist_ok=True)
        return path


def settings(ledger_url: str | None = None) -> Settings:
    """Resolve settings; an explicit ledger URL (e.g. from an Airflow Connection) wins over the environment."""
    home = Path(os.environ.get("CERTIFICATION_HOME", ".certification")).resolve()
    home.mkdir(parents=True, exist_ok=True)
    return Settings(
        home=home,
        ledger_url=ledger_url
        or os.environ.get("CERTIFICATION_LEDGER_URL")
        or f"sqlite:///{home / 'ledger.db'}",
        tracking_uri=os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{home / 'mlflow.db'}",
    )
