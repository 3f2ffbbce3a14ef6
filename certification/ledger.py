"""Tamper-evident audit ledger over SQLAlchemy: PostgreSQL in production, SQLite as the embedded default.

Every row written to a ledger table is paired, in the same transaction, with an event whose payload is that row;
events form a SHA-256 hash chain. The database refuses UPDATE and DELETE (sql/*_hardening.sql), and `verify`
recomputes the chain and compares every table row with its event, so a change made behind the triggers' back
(e.g. by a superuser who disabled them) is found and named.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, create_engine, event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from certification.errors import LedgerError
from certification.jsonutil import canonical_json, utcnow

SCHEMA = "certification_audit"
GENESIS = "0" * 64
TABLE_KEYS = {
    "runs": ("run_id",),
    "check_results": ("run_id", "check_id"),
    "decisions": ("run_id", "kind"),
    "signoffs": ("run_id", "role"),
    "certificates": ("certificate_id",),
}
ROW_EVENT = "row_recorded"


def sql_dir() -> Path:
    return Path(os.environ.get("CERTIFICATION_SQL_DIR", Path(__file__).resolve().parent.parent / "sql"))


def event_hash(
    seq: int, run_id: str | None, event_type: str, payload: str, recorded_at: str, prev: str
) -> str:
    body = canonical_json(
        {
            "seq": seq,
            "run_id": run_id,
            "event_type": event_type,
            "payload": payload,
            "recorded_at": recorded_at,
            "prev_hash": prev,
        }
    )
    return hashlib.sha256(body.encode()).hexdigest()


class Duplicate(LedgerError):
    """The row exists already (idempotent retries and single-winner races land here)."""


@dataclass
class VerifyReport:
    events: int = 0
    problems: list[str] = field(default_factory=list)
    first_broken_seq: int | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


class Writer:
    """Inserts rows and events inside one transaction, keeping the hash chain intact."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        last = conn.execute(text(f"SELECT seq, hash FROM {SCHEMA}.events ORDER BY seq DESC LIMIT 1")).first()
        self.seq, self.prev = (int(last[0]), str(last[1])) if last else (0, GENESIS)

    def event(self, run_id: str | None, event_type: str, payload: dict[str, Any]) -> int:
        self.seq += 1
        body, now = canonical_json(payload), utcnow()
        digest = event_hash(self.seq, run_id, event_type, body, now, self.prev)
        self.conn.execute(
            text(
                f"INSERT INTO {SCHEMA}.events (seq, run_id, event_type, payload, recorded_at, prev_hash, hash) "
                "VALUES (:seq, :run_id, :event_type, :payload, :recorded_at, :prev_hash, :hash)"
            ),
            {
                "seq": self.seq,
                "run_id": run_id,
                "event_type": event_type,
                "payload": body,
                "recorded_at": now,
                "prev_hash": self.prev,
                "hash": digest,
            },
        )
        self.prev = digest
        return self.seq

    def insert(self, table: str, row: dict[str, Any]) -> dict[str, Any]:
        stored = {k: (canonical_json(v) if k.endswith("_json") else v) for k, v in row.items()}
        columns = ", ".join(stored)
        values = ", ".join(f":{k}" for k in stored)
        try:
            with self.conn.begin_nested():
                self.conn.execute(text(f"INSERT INTO {SCHEMA}.{table} ({columns}) VALUES ({values})"), stored)
        except IntegrityError as exc:
            key = {k: stored.get(k) for k in TABLE_KEYS[table]}
            raise Duplicate(f"{table} already holds {key}: {exc.orig}") from exc
        self.event(stored.get("run_id"), ROW_EVENT, {"table": table, "row": stored})
        return stored


class Ledger:
    def __init__(self, url: str) -> None:
        self.url = url
        self.dialect = make_url(url).get_backend_name()
        self.engine = self._engine(url)

    def _engine(self, url: str) -> Engine:
        if self.dialect != "sqlite":
            return create_engine(url, pool_pre_ping=True, future=True)
        database = make_url(url).database
        if not database or database == ":memory:":
            raise LedgerError(
                "the SQLite ledger needs a file path, e.g. sqlite:////var/lib/certification/ledger.db"
            )
        Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine("sqlite://", future=True, connect_args={"timeout": 60})

        @event.listens_for(engine, "connect")
        def _attach(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves, below
            dbapi_conn.execute(f"ATTACH DATABASE '{database}' AS {SCHEMA}")
            dbapi_conn.execute("PRAGMA busy_timeout = 60000")

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")  # serialise writers so the hash chain cannot fork

        return engine

    def ensure_schema(self) -> None:
        """Create the schema on first use; `certify ledger init` re-applies DDL and hardening explicitly."""
        try:
            with self.engine.connect() as conn:
                conn.execute(text(f"SELECT 1 FROM {SCHEMA}.events LIMIT 0"))
        except (OperationalError, ProgrammingError):
            self.init_schema()

    def init_schema(self) -> None:
        ddl = (sql_dir() / "schema.sql").read_text()
        hardening = sql_dir() / f"{'postgres' if self.dialect == 'postgresql' else 'sqlite'}_hardening.sql"
        try:
            if self.dialect == "postgresql":
                with self.engine.begin() as conn:
                    conn.exec_driver_sql("SELECT pg_advisory_xact_lock(hashtext('certification_audit.ddl'))")
                    conn.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
                    conn.exec_driver_sql(f"SET LOCAL search_path TO {SCHEMA}")
                    conn.exec_driver_sql(
                        ddl.replace(f"INDEX IF NOT EXISTS {SCHEMA}.", "INDEX IF NOT EXISTS ")
                    )
                    # the raw cursor, because psycopg2 would read the %I of format() as a parameter
                    conn.connection.driver_connection.cursor().execute(hardening.read_text())  # type: ignore[union-attr]
            else:
                raw = self.engine.raw_connection()
                try:
                    raw.driver_connection.executescript(ddl + hardening.read_text())  # type: ignore[union-attr]
                finally:
                    raw.close()
        except (OperationalError, ProgrammingError) as exc:
            raise LedgerError(f"cannot initialise the ledger at {self.safe_url}: {exc.orig}") from exc

    @property
    def safe_url(self) -> str:
        return make_url(self.url).render_as_string(hide_password=True)

    @contextmanager
    def write(self) -> Iterator[Writer]:
        try:
            with self.engine.begin() as conn:
                if self.dialect == "postgresql":
                    conn.exec_driver_sql(
                        "SELECT pg_advisory_xact_lock(hashtext('certification_audit.events'))"
                    )
                yield Writer(conn)
        except OperationalError as exc:
            raise LedgerError(f"ledger unreachable at {self.safe_url}: {exc.orig}") from exc

    def record(self, table: str, row: dict[str, Any]) -> dict[str, Any]:
        with self.write() as writer:
            return writer.insert(table, row)

    def log(self, run_id: str | None, event_type: str, payload: dict[str, Any]) -> None:
        with self.write() as writer:
            writer.event(run_id, event_type, payload)

    def query(self, sql: str, **params: Any) -> list[dict[str, Any]]:
        try:
            with self.engine.connect() as conn:
                return [dict(r._mapping) for r in conn.execute(text(sql.format(s=SCHEMA)), params)]
        except OperationalError as exc:
            raise LedgerError(f"ledger unreachable at {self.safe_url}: {exc.orig}") from exc

    def rows(self, table: str, run_id: str) -> list[dict[str, Any]]:
        order = ", ".join(TABLE_KEYS[table])
        return [
            _decode(r)
            for r in self.query(f"SELECT * FROM {{s}}.{table} WHERE run_id = :r ORDER BY {order}", r=run_id)
        ]

    def run(self, run_id: str) -> dict[str, Any] | None:
        found = self.rows("runs", run_id)
        return found[0] if found else None

    def events(self, run_id: str) -> list[dict[str, Any]]:
        return self.query("SELECT * FROM {s}.events WHERE run_id = :r ORDER BY seq", r=run_id)

    def verify(self) -> VerifyReport:
        """Recompute the hash chain, then check every ledger row against the event that recorded it."""
        report = VerifyReport()
        recorded: dict[tuple[str, str], dict[str, Any]] = {}
        prev, expected_seq = GENESIS, 1
        with self.engine.connect() as conn:
            result = conn.execute(
                text(
                    f"SELECT seq, run_id, event_type, payload, recorded_at, prev_hash, hash "
                    f"FROM {SCHEMA}.events ORDER BY seq"
                )
            )
            for seq, run_id, event_type, payload, recorded_at, prev_hash, digest in result:
                report.events += 1
                problem = None
                if seq != expected_seq:
                    problem = f"event {expected_seq} is missing (next is {seq})"
                elif prev_hash != prev:
                    problem = f"event {seq}: prev_hash does not match event {seq - 1}"
                elif event_hash(seq, run_id, event_type, payload, recorded_at, prev_hash) != digest:
                    problem = f"event {seq}: content does not match its hash"
                if problem:
                    report.problems.append(problem)
                    report.first_broken_seq = report.first_broken_seq or seq
                prev, expected_seq = digest, seq + 1
                if event_type == ROW_EVENT:
                    body = json.loads(payload)
                    key = (
                        body["table"],
                        canonical_json([body["row"].get(k) for k in TABLE_KEYS[body["table"]]]),
                    )
                    recorded[key] = body["row"]
            for table, keys in TABLE_KEYS.items():
                for row in conn.execute(text(f"SELECT * FROM {SCHEMA}.{table}")):
                    data = dict(row._mapping)
                    key = (table, canonical_json([data[k] for k in keys]))
                    if key not in recorded:
                        report.problems.append(f"{table} row {key[1]} has no recording event")
                    elif canonical_json({**dict.fromkeys(data), **recorded.pop(key)}) != canonical_json(data):
                        report.problems.append(f"{table} row {key[1]} differs from its recording event")
        report.problems += [f"{table} row {key} was deleted" for table, key in recorded]
        return report


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (json.loads(v) if k.endswith("_json") and v is not None else v) for k, v in row.items()}
