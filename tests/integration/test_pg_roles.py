"""PostgreSQL grants: login users in each group role can do exactly what the role allows, and nothing more.

The append-only triggers also refuse UPDATE/DELETE/TRUNCATE with SQLSTATE 42501, so a refusal only counts as the
grant's when PostgreSQL says "permission denied", which it checks before any trigger runs.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg2
import pytest
from psycopg2 import errors
from sqlalchemy import create_engine, make_url, text

from certification.ledger import SCHEMA, Ledger

TABLES = (
    "runs",
    "check_results",
    "decisions",
    "signoffs",
    "certificates",
    "monitoring_windows",
    "certificate_actions",
    "events",
)
GROUPS = {
    "pipeline": "certification_pipeline",
    "approver": "certification_approver",
    "auditor": "certification_auditor",
}
ALLOWED = {
    "pipeline": {("select", t) for t in TABLES} | {("insert", t) for t in TABLES},
    "approver": {("select", t) for t in TABLES} | {("insert", "signoffs"), ("insert", "events")},
    "auditor": {("select", t) for t in TABLES},
}
INSERTS = {
    "runs": "(run_id, created_at, origin, submitted_by, spec_source, overrides_json) "
    "VALUES ('run-new', 't', 'cli', 'dana', 'spec.yaml', '{}')",
    "check_results": "VALUES ('run-1', 'c', 'evaluation', 'pass', '{}', '{}', '', '', '[]', '[]', 't')",
    "decisions": "VALUES ('run-1', 'gate', 'passed', '[]', 'automated-gate', 't')",
    "signoffs": "VALUES ('run-1', 'risk', 'alice', 'approve', 'ok', 'cli', 'm', 'd', 's', 't')",
    "certificates": "VALUES ('crt-1', 'run-1', 't', 't', 'h', '{}')",
    "monitoring_windows": "VALUES ('w-1', 'run-1', 'm', 'crt-0', 't', 't', 1, 0, 'ok', '[]', '{}', NULL, 't')",
    "certificate_actions": "VALUES ('run-1', 'crt-0', 'suspended', 'r', NULL, '{}', 'monitoring', 't')",
    "events": "VALUES (1000, 'run-1', 'note', '{}', 't', 'p', 'h')",
}


def _statement(operation: str, table: str) -> str:
    name = f"{SCHEMA}.{table}"
    return {
        "select": f"SELECT count(*) FROM {name}",
        "insert": f"INSERT INTO {name} {INSERTS[table]}",
        "update": f"UPDATE {name} SET run_id = run_id",
        "delete": f"DELETE FROM {name}",
        "truncate": f"TRUNCATE {name}",
    }[operation]


@pytest.fixture(scope="module")
def roles_db(postgres_url: str) -> Iterator[tuple[str, dict[str, str]]]:
    """A ledger holding one run and its certificate, and one login user per group role (roles are cluster-wide)."""
    name = f"roles_{uuid.uuid4().hex[:8]}"
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = postgres_url.rsplit("/", 1)[0] + f"/{name}"
    ledger = Ledger(url)
    try:
        ledger.init_schema()
    except Exception:  # another session created the group roles between our check and CREATE ROLE
        ledger.init_schema()
    for run_id in ("run-0", "run-1"):
        row = {
            "created_at": "t",
            "origin": "cli",
            "submitted_by": "dana",
            "spec_source": "s",
            "overrides_json": {},
        }
        ledger.record("runs", {"run_id": run_id, **row})
    certificate = {
        "certificate_id": "crt-0",
        "run_id": "run-0",
        "issued_at": "t",
        "expires_at": "t",
        "sha256": "h",
    }
    ledger.record("certificates", {**certificate, "document_json": {}})
    ledger.engine.dispose()
    users = {role: f"cert_test_{role}_{uuid.uuid4().hex[:6]}" for role in GROUPS}
    with admin.connect() as conn:
        for role, user in users.items():
            conn.execute(text(f'DROP ROLE IF EXISTS "{user}"'))
            conn.execute(text(f'CREATE ROLE "{user}" LOGIN IN ROLE {GROUPS[role]}'))
    yield url, users
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        for user in users.values():
            conn.execute(text(f'DROP ROLE IF EXISTS "{user}"'))
    admin.dispose()


def _connect(url: str, user: str) -> psycopg2.extensions.connection:
    parsed = make_url(url)
    return psycopg2.connect(host=parsed.host, port=parsed.port or 5432, dbname=parsed.database, user=user)


@pytest.mark.parametrize("role", list(GROUPS))
def test_each_role_can_do_exactly_what_it_is_granted(roles_db: tuple[str, dict[str, str]], role: str) -> None:
    url, users = roles_db
    conn = _connect(url, users[role])
    wrong: list[str] = []
    try:
        for table in TABLES:
            for operation in ("select", "insert", "update", "delete", "truncate"):
                allowed = (operation, table) in ALLOWED[role]
                try:
                    with conn.cursor() as cursor:
                        cursor.execute(_statement(operation, table))
                    outcome = "ok"
                except errors.InsufficientPrivilege as exc:
                    # 42501 from the grant, not from the append-only trigger (which says "append-only")
                    outcome = "denied" if "permission denied" in str(exc) else f"other: {exc}"
                finally:
                    conn.rollback()  # leave the ledger as it was, whatever happened
                if outcome != ("ok" if allowed else "denied"):
                    wrong.append(f"{operation} on {table}: {outcome}")
        with pytest.raises(errors.InsufficientPrivilege, match="permission denied for schema"):
            conn.cursor().execute(f"CREATE TABLE {SCHEMA}.extra (x int)")
        conn.rollback()
    finally:
        conn.close()
    assert not wrong, f"{role}: {wrong}"


def test_the_trigger_refusal_is_told_apart_from_the_grant(roles_db: tuple[str, dict[str, str]]) -> None:
    """The owner has every grant, so its UPDATE reaches the trigger: same SQLSTATE, different message."""
    url, _ = roles_db
    conn = _connect(url, str(make_url(url).username))
    try:
        with pytest.raises(errors.InsufficientPrivilege, match="append-only") as caught:
            conn.cursor().execute(_statement("update", "runs"))
        assert caught.value.pgcode == "42501" and "permission denied" not in str(caught.value)
    finally:
        conn.close()
