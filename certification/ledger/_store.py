"""Tamper-evident audit ledger over SQLAlchemy: PostgreSQL in production, SQLite as the embedded default.

Every row written to a ledger table is paired, in the same transaction, with an event whose payload is that row;
events form a SHA-256 hash chain (_chain.py). The database refuses UPDATE and DELETE (sql/*_hardening.sql), and
`verify` (_verify.py) recomputes the chain and compares every table row with its event, so a change made behind the
triggers' back (e.g. by a superuser who disabled them) is found and named.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, create_engine, event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from certification.config import settings
from certification.errors import LedgerError
from certification.jsonutil import canonical_json, utcnow
from certification.ledger._chain import GENESIS, ROW_EVENT, SCHEMA, TABLE_KEYS, decode, event_hash
from certification.ledger._verify import Verification


class Duplicate(LedgerError):
    """The row exists already (idempotent retries and single-winner races land here)."""


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

    def events(self, run_id: str) -> list[dict[str, Any]]:
        """The run's events as seen inside this transaction, i.e. under the write lock on PostgreSQL."""
        query = text(f"SELECT * FROM {SCHEMA}.events WHERE run_id = :r ORDER BY seq")
        return [dict(r._mapping) for r in self.conn.execute(query, {"r": run_id})]

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


class Ledger(Verification):
    def __init__(self, url: str, read_only: bool = False) -> None:
        self.url, self.read_only = url, read_only
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
            # serialise writers so the hash chain cannot fork
            conn.exec_driver_sql("BEGIN" if self.read_only else "BEGIN IMMEDIATE")

        return engine

    def ensure_schema(self) -> None:
        """Create the schema on first use; `certify ledger init` re-applies DDL and hardening explicitly."""
        try:
            with self.engine.connect() as conn:
                conn.execute(text(f"SELECT 1 FROM {SCHEMA}.events LIMIT 0"))
        except (OperationalError, ProgrammingError):
            self.init_schema()

    def init_schema(self) -> None:
        folder = settings().sql_dir
        ddl = (folder / "schema.sql").read_text()
        hardening = folder / f"{'postgres' if self.dialect == 'postgresql' else 'sqlite'}_hardening.sql"
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
            decode(r)
            for r in self.query(f"SELECT * FROM {{s}}.{table} WHERE run_id = :r ORDER BY {order}", r=run_id)
        ]

    def run(self, run_id: str) -> dict[str, Any] | None:
        found = self.rows("runs", run_id)
        return found[0] if found else None

    def events(self, run_id: str) -> list[dict[str, Any]]:
        return self.query("SELECT * FROM {s}.events WHERE run_id = :r ORDER BY seq", r=run_id)
