"""Credentials of a served model (`model.endpoint.connection`) from Airflow's Connections: inside a task the
metadata database and secrets backends are reachable too, not only `AIRFLOW_CONN_<ID>` in the environment."""

from __future__ import annotations

import json

from airflow.sdk import BaseHook


def airflow_connection(conn_id: str) -> str | None:
    """The Connection's login and password as JSON (what the library reads), or None when Airflow has none."""
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        conn = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        return None
    return json.dumps({"login": conn.login, "password": conn.password})
