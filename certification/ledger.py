"""Tamper-evident audit ledger over SQLAlchemy: PostgreSQL in production, SQLite as the embedded default.

Every row written to a ledger table is paired, in the same transaction, with an event whose payload is that row;
events form a SHA-256 hash chain. The database refuses UPDATE and DELETE (sql/*_hardening.sql), and `verify`
recomputes the chain and compares every table row with its event, so a change made behind the triggers' back
(e.g. by a superuser who disabled them) is found and named.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from operator import itemgetter
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
        """Recompute the hash chain, then check every ledger row against the event that recorded it.

        Both passes stream (server-side cursors on PostgreSQL), so memory stays bounded by the largest run, not by
        the ledger: the chain in seq order, then row events and table rows merged run by run. One snapshot
        (REPEATABLE READ on PostgreSQL; BEGIN IMMEDIATE on SQLite) keeps concurrent writers from raising alarms.
        """
        report = VerifyReport()
        with self.engine.connect() as conn:
            if self.dialect == "postgresql":
                conn.execution_options(isolation_level="REPEATABLE READ")
            conn.execute(text("SELECT 1"))  # begins the transaction both passes read in
            self._verify_chain(conn, report)
            self._verify_rows(conn, report)
        return report

    def _stream(self, conn: Connection, sql: str) -> Iterator[tuple[Any, ...]]:
        """Rows as plain tuples straight from the driver: a server-side cursor on PostgreSQL, batch by batch."""
        raw: Any = conn.connection.driver_connection
        if self.dialect == "postgresql":
            cursor = raw.cursor(name=f"verify_{next(_cursors)}")
            cursor.itersize = _BATCH
        else:
            cursor = raw.cursor()
        cursor.execute(sql)
        try:
            yield from cursor
        finally:
            cursor.close()

    def _verify_chain(self, conn: Connection, report: VerifyReport) -> None:
        prev, expected_seq = GENESIS, 1
        rows = self._stream(
            conn,
            f"SELECT seq, run_id, event_type, payload, recorded_at, prev_hash, hash FROM {SCHEMA}.events ORDER BY seq",
        )
        for seq, run_id, event_type, payload, recorded_at, prev_hash, digest in rows:
            report.events += 1
            problem = None
            if seq != expected_seq:
                problem = f"event {expected_seq} is missing (next is {seq})"
            elif prev_hash != prev:
                problem = f"event {seq}: prev_hash does not match event {seq - 1}"
            elif _event_digest(seq, run_id, event_type, payload, recorded_at, prev_hash) != digest:
                problem = f"event {seq}: content does not match its hash"
            if problem:
                report.problems.append(problem)
                report.first_broken_seq = report.first_broken_seq or seq
            prev, expected_seq = digest, seq + 1

    def _verify_rows(self, conn: Connection, report: VerifyReport) -> None:
        """Merge the row events and every table by run_id: each group is one run's rows and their events."""
        # byte order on both sides, so that Python's str order (used to merge) is the database's order
        order = 'run_id COLLATE "C" NULLS FIRST' if self.dialect == "postgresql" else "run_id"
        events = self._stream(
            conn,
            f"SELECT run_id, seq, payload FROM {SCHEMA}.events WHERE event_type = '{ROW_EVENT}' ORDER BY {order}",
        )
        streams = [_grouped(events, itemgetter(0), itemgetter(1, 2))]
        for table in TABLE_KEYS:
            columns = list(conn.execute(text(f"SELECT * FROM {SCHEMA}.{table} LIMIT 0")).keys())
            rows = self._stream(conn, f"SELECT {', '.join(columns)} FROM {SCHEMA}.{table} ORDER BY {order}")
            streams.append(_grouped(rows, itemgetter(columns.index("run_id")), _as_dict(columns)))
        for parts in _merge(streams):
            _compare_run(report, parts[0], dict(zip(TABLE_KEYS, parts[1:], strict=True)))


# canonical_json's settings: for str/int/None values (all the ledger stores) it encodes exactly as canonical_json
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
_quote = json.encoder.encode_basestring  # type: ignore[attr-defined]
_BATCH = 5_000
_cursors = itertools.count()


def _event_digest(
    seq: Any, run_id: Any, event_type: Any, payload: Any, recorded_at: Any, prev_hash: Any
) -> str:
    """event_hash, with the canonical JSON written out directly when every value is of the usual type."""
    if (
        type(seq) is int
        and type(event_type) is str
        and type(payload) is str
        and type(recorded_at) is str
        and type(prev_hash) is str
        and (run_id is None or type(run_id) is str)
    ):
        rid = "null" if run_id is None else _quote(run_id)
        body = (
            f'{{"event_type":{_quote(event_type)},"payload":{_quote(payload)},"prev_hash":{_quote(prev_hash)},'
            f'"recorded_at":{_quote(recorded_at)},"run_id":{rid},"seq":{seq}}}'
        )
        return hashlib.sha256(body.encode()).hexdigest()
    return event_hash(seq, run_id, event_type, payload, recorded_at, prev_hash)


def _order(value: Any) -> tuple[int, Any]:
    """Sort key matching the database's: NULL first, then (SQLite only) numbers, text, blobs."""
    if value is None:
        return (0, 0)
    if isinstance(value, str):
        return (2, value)
    return (3, value) if isinstance(value, bytes) else (1, value)


def _grouped(
    rows: Iterable[Any], run_of: Callable[[Any], Any], item: Callable[[Any], Any]
) -> Iterator[tuple[tuple[int, Any], list[Any]]]:
    for run_id, group in itertools.groupby(rows, key=run_of):
        yield _order(run_id), [item(r) for r in group]


def _as_dict(columns: list[str]) -> Callable[[Any], dict[str, Any]]:
    return lambda row: dict(zip(columns, row, strict=True))


def _merge(streams: list[Iterator[tuple[tuple[int, Any], list[Any]]]]) -> Iterator[list[list[Any]]]:
    """Zip streams of (run key, items), each sorted by run key, into one list of items per stream and run."""
    heads = [next(s, None) for s in streams]
    while any(heads):
        low = min(h[0] for h in heads if h)
        parts: list[list[Any]] = []
        for i, head in enumerate(heads):
            if head and head[0] == low:
                parts.append(head[1])
                heads[i] = next(streams[i], None)
            else:
                parts.append([])
        yield parts


def _key(table: str, row: dict[str, Any]) -> tuple[Any, ...]:
    key = (table, *(row.get(k) for k in TABLE_KEYS[table]))
    try:
        hash(key)
    except TypeError:  # a forged event may hold a list where a key belongs
        return (table, repr(key[1:]))
    return key


def _shown(key: tuple[Any, ...]) -> str:
    try:
        return canonical_json(list(key[1:]))
    except (TypeError, ValueError):  # e.g. a blob written into SQLite behind the ledger's back
        return repr(list(key[1:]))


def _payload(table: str, row: dict[str, Any]) -> str | None:
    """The payload of the event that recorded `row` when the insert named every column."""
    try:
        return _ENCODER.encode({"row": row, "table": table})
    except (TypeError, ValueError):
        return None


def _compare_run(
    report: VerifyReport, events: list[tuple[int, str]], rows: dict[str, list[dict[str, Any]]]
) -> None:
    """One run's rows against the last event that recorded each (table, key), as the writer paired them."""
    prepared = [
        (table, data, _key(table, data), _payload(table, data)) for table in rows for data in rows[table]
    ]
    expected = {payload: key for _, _, key, payload in prepared if payload is not None}
    recorded: dict[tuple[Any, ...], tuple[int, str]] = {}
    for seq, payload in sorted(events):
        key = expected.get(payload)  # an identical payload needs no parsing
        if key is None:
            try:
                body = json.loads(payload)
                key = _key(body["table"], body["row"])
            except (ValueError, TypeError, KeyError, AttributeError):
                report.problems.append(f"event {seq}: row payload is not a row of a ledger table")
                continue
        recorded[key] = (seq, payload)
    for table, data, key, encoded in prepared:
        found = recorded.pop(key, None)
        if found is None:
            report.problems.append(f"{table} row {_shown(key)} has no recording event")
        elif found[1] != encoded and not _same_row(data, found[1]):
            report.problems.append(f"{table} row {_shown(key)} differs from its recording event {found[0]}")
    report.problems += [
        f"{k[0]} row {_shown(k)} was deleted (recorded by event {s})" for k, (s, _) in recorded.items()
    ]


def _same_row(data: dict[str, Any], payload: str) -> bool:
    """Equal up to columns the insert left out (NULL in the table), compared in canonical form."""
    try:
        return canonical_json({**dict.fromkeys(data), **json.loads(payload)["row"]}) == canonical_json(data)
    except (TypeError, ValueError, KeyError):
        return False


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (json.loads(v) if k.endswith("_json") and v is not None else v) for k, v in row.items()}
