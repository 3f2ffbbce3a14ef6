"""The ledger's Airflow Connection (`certification_ledger`): its SQLAlchemy URL for the library, and a Pipeline on it.
Without the Connection the library's own configuration applies ($CERTIFICATION_LEDGER_URL, else the embedded SQLite
ledger)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow.sdk import BaseHook
from sqlalchemy.engine import URL

from certification_airflow.hooks.endpoint import airflow_connection

if TYPE_CHECKING:
    from certification.run.pipeline import Pipeline

POSTGRES = {"postgres", "postgresql", "postgresql+psycopg2"}


class LedgerHook(BaseHook):
    conn_name_attr = "ledger_conn_id"
    default_conn_name = "certification_ledger"
    conn_type = "postgres"
    hook_name = "Certification ledger"

    def __init__(self, ledger_conn_id: str = default_conn_name) -> None:
        super().__init__()
        self.ledger_conn_id = ledger_conn_id

    def get_uri(self) -> str | None:
        """The ledger URL the Connection names, or None when there is no such Connection."""
        from airflow.sdk.exceptions import AirflowNotFoundException

        try:
            conn = self.get_connection(self.ledger_conn_id)
        except AirflowNotFoundException:
            return None
        if conn.conn_type in POSTGRES:
            return URL.create(
                "postgresql+psycopg2",
                username=conn.login,
                password=conn.password,
                host=conn.host,
                port=conn.port,
                database=conn.schema,
            ).render_as_string(hide_password=False)
        return str(conn.get_uri())

    def get_pipeline(self) -> Pipeline:
        from certification.models import use_connection_lookup
        from certification.run.pipeline import Pipeline

        use_connection_lookup(airflow_connection)  # a task's served model may name a Connection of Airflow's
        return Pipeline(self.get_uri())


def ledger_url() -> str | None:
    return LedgerHook().get_uri()


def pipeline() -> Pipeline:
    """The certification pipeline on the ledger Airflow is configured with: what every task calls."""
    return LedgerHook().get_pipeline()
