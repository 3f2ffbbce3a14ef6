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
import multiprocessing
import os
import re
import secrets
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
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
    "monitoring_windows": ("window_id",),
    "certificate_actions": ("certificate_id", "action"),
}
ROW_EVENT = "row_recorded"
PARALLEL_FROM = 200_000  # events; below this, starting verifier processes costs more than it saves


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


class Ledger:
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
            decode(r)
            for r in self.query(f"SELECT * FROM {{s}}.{table} WHERE run_id = :r ORDER BY {order}", r=run_id)
        ]

    def run(self, run_id: str) -> dict[str, Any] | None:
        found = self.rows("runs", run_id)
        return found[0] if found else None

    def events(self, run_id: str) -> list[dict[str, Any]]:
        return self.query("SELECT * FROM {s}.events WHERE run_id = :r ORDER BY seq", r=run_id)

    def verify(self, workers: int | None = None) -> VerifyReport:
        """Recompute the hash chain, then check every ledger row against the event that recorded it.

        One pass streams the events in seq order (server-side cursors on PostgreSQL): it recomputes the chain and
        adds a keyed BLAKE2b fingerprint of each row event's payload to its run's sum; a second streams each table
        unordered and subtracts the fingerprint of the payload each row's writer would have recorded. A run whose
        sum is not zero (mod 2^256) is compared row by row to name what changed. The key is random per
        verification, so whoever edits rows cannot make the sums agree. Memory grows with the number of runs, not
        events. One snapshot (REPEATABLE READ on PostgreSQL; BEGIN IMMEDIATE on SQLite) keeps concurrent writers
        from raising alarms. Large ledgers are split into seq ranges and run-id ranges verified by `workers`
        processes (default: one per core from PARALLEL_FROM events on) that all read the same snapshot
        (PostgreSQL exports it to them; on SQLite the held write lock keeps the file still).
        """
        key = secrets.token_bytes(32)
        with self.engine.connect() as conn:
            if self.dialect == "postgresql":
                conn.execution_options(isolation_level="REPEATABLE READ")
                snapshot = conn.exec_driver_sql("SELECT pg_export_snapshot()").scalar()
            else:
                snapshot = conn.exec_driver_sql(
                    "SELECT 1"
                ).scalar()  # begins the transaction, taking the lock
            last = conn.exec_driver_sql(f"SELECT max(seq) FROM {SCHEMA}.events").scalar() or 0
            if workers is None:
                workers = min(os.cpu_count() or 1, 8) if last >= PARALLEL_FROM else 1
            parts = self._partition(conn, last, workers)
            if len(parts) == 1:
                found = [self._verify_part(conn, parts[0], key)]
            else:
                context = multiprocessing.get_context("spawn")  # no inherited engines, locks or threads
                with ProcessPoolExecutor(len(parts), mp_context=context) as pool:
                    count = len(parts)
                    found = list(
                        pool.map(
                            _verify_in_process, [self.url] * count, [snapshot] * count, parts, [key] * count
                        )
                    )
            report = _merged(found)
            totals: dict[Any, int] = {}
            for part in found:
                for run_id, total in part.sums.items():
                    totals[run_id] = totals.get(run_id, 0) + total
            # str: a forged SQLite row may hold a number or a blob where a run id belongs
            differing = sorted(
                (r for r, total in totals.items() if total % _MODULUS), key=lambda r: (r is not None, str(r))
            )
            for at in range(0, len(differing), 500):
                report.problems += self._compare_runs(conn, differing[at : at + 500])
            return report

    def _partition(self, conn: Connection, last: int, workers: int) -> list[_Part]:
        """Equal seq ranges for the chain, and run-id ranges at quantiles of the runs table for the rows."""
        runs = conn.exec_driver_sql(f"SELECT count(*) FROM {SCHEMA}.runs").scalar() or 0
        workers = max(1, min(workers, last, runs))
        cuts: list[Any] = [None]
        for i in range(1, workers):
            cuts.append(
                conn.execute(
                    text(f"SELECT run_id FROM {SCHEMA}.runs ORDER BY {self._run_order} LIMIT 1 OFFSET :n"),
                    {"n": runs * i // workers},
                ).scalar()
            )
        cuts.append(None)
        seqs = [last * i // workers for i in range(workers + 1)]
        return [_Part(seqs[i] + 1, seqs[i + 1], cuts[i], cuts[i + 1]) for i in range(workers)]

    @property
    def _run_order(self) -> str:
        # byte order on both sides, so that the cuts taken in Python split the runs as the database compares them
        return 'run_id COLLATE "C"' if self.dialect == "postgresql" else "run_id"

    def _verify_part(self, conn: Connection, part: _Part, key: bytes) -> _PartReport:
        found = _PartReport()
        fingerprint = _fingerprinter(key)
        self._verify_chain(conn, part, found, fingerprint)
        self._sum_rows(conn, part, found, fingerprint)
        return found

    def _stream(self, conn: Connection, sql: str, **params: Any) -> Iterator[tuple[Any, ...]]:
        """Rows as plain tuples straight from the driver: a server-side cursor on PostgreSQL, batch by batch."""
        raw: Any = conn.connection.driver_connection
        if self.dialect == "postgresql":
            cursor = raw.cursor(name=f"verify_{next(_cursors)}")
            cursor.itersize = _BATCH
            sql = re.sub(r":(\w+)", r"%(\1)s", sql)
        else:
            cursor = raw.cursor()
        cursor.execute(sql, params)
        try:
            yield from cursor
        finally:
            cursor.close()

    def _verify_chain(
        self, conn: Connection, part: _Part, found: _PartReport, fingerprint: Callable[[Any], int]
    ) -> None:
        if part.first_seq == 1:
            prev: str | None = GENESIS
        else:  # the part before checks that hash; a missing event is reported there
            prev = conn.execute(
                text(f"SELECT hash FROM {SCHEMA}.events WHERE seq = :s"), {"s": part.first_seq - 1}
            ).scalar()
        expected_seq = part.first_seq
        rows = self._stream(
            conn,
            f"SELECT seq, run_id, event_type, payload, recorded_at, prev_hash, hash FROM {SCHEMA}.events "
            "WHERE seq BETWEEN :a AND :b ORDER BY seq",
            a=part.first_seq,
            b=part.last_seq,
        )
        sums = found.sums
        for seq, run_id, event_type, payload, recorded_at, prev_hash, digest in rows:
            found.events += 1
            problem, broken = None, seq
            if seq != expected_seq:
                problem, broken = f"event {expected_seq} is missing (next is {seq})", expected_seq
            elif prev is not None and prev_hash != prev:
                problem = f"event {seq}: prev_hash does not match event {seq - 1}"
            elif _event_digest(seq, run_id, event_type, payload, recorded_at, prev_hash) != digest:
                problem = f"event {seq}: content does not match its hash"
            if problem:
                found.chain.append(problem)
                found.first_broken_seq = found.first_broken_seq or broken
            if event_type == ROW_EVENT:
                sums[run_id] = sums.get(run_id, 0) + fingerprint(payload)
            prev, expected_seq = digest, seq + 1
        if expected_seq <= part.last_seq:
            found.chain.append(f"events {expected_seq} to {part.last_seq} are missing")
            found.first_broken_seq = found.first_broken_seq or expected_seq

    def _sum_rows(
        self, conn: Connection, part: _Part, found: _PartReport, fingerprint: Callable[[Any], int]
    ) -> None:
        """Subtract from each run's sum the fingerprint of every row of the part's runs, in whatever order."""
        span = [f"{self._run_order} >= :lo"] if part.first_run is not None else []
        if part.end_run is not None:
            below = f"{self._run_order} < :hi"
            span.append(below if part.first_run is not None else f"({below} OR run_id IS NULL)")
        sums = found.sums
        for table in self._tables(conn):
            run_at = table.columns.index("run_id")
            rows = self._stream(
                conn,
                f"SELECT {', '.join(table.columns)} FROM {SCHEMA}.{table.name} WHERE {' AND '.join(span) or 'TRUE'}",
                lo=part.first_run,
                hi=part.end_run,
            )
            for row in rows:
                run_id = row[run_at]
                sums[run_id] = sums.get(run_id, 0) - fingerprint(table.payload(row))

    def _tables(self, conn: Connection) -> list[_Table]:
        return [
            _Table(name, list(conn.execute(text(f"SELECT * FROM {SCHEMA}.{name} LIMIT 0")).keys()))
            for name in TABLE_KEYS
        ]

    def _compare_runs(self, conn: Connection, run_ids: list[Any]) -> list[str]:
        """Row by row, for runs whose sums disagree: which row was changed, added or deleted."""
        named = [r for r in run_ids if r is not None]
        params = {f"r{i}": r for i, r in enumerate(named)}
        within = " OR ".join(
            ([f"run_id IN ({', '.join(f':{p}' for p in params)})"] if named else [])
            + (["run_id IS NULL"] if len(named) < len(run_ids) else [])
        )
        events: dict[Any, list[tuple[int, str]]] = {r: [] for r in run_ids}
        query = f"SELECT run_id, seq, payload FROM {SCHEMA}.events WHERE event_type = :t AND ({within})"
        for run_id, seq, payload in conn.execute(text(query), {**params, "t": ROW_EVENT}):
            events[run_id].append((seq, payload))
        tables = self._tables(conn)
        rows: dict[Any, list[tuple[_Table, list[tuple[Any, ...]]]]] = {
            r: [(t, []) for t in tables] for r in run_ids
        }
        for i, table in enumerate(tables):
            found = conn.execute(
                text(f"SELECT {', '.join(table.columns)} FROM {SCHEMA}.{table.name} WHERE {within}"), params
            )
            run_at = table.columns.index("run_id")
            for row in found:
                rows[row[run_at]][i][1].append(tuple(row))
        problems: list[str] = []
        for run_id in run_ids:
            _compare_run(problems, events[run_id], rows[run_id])
        return problems


@dataclass(frozen=True)
class _Part:
    """Events first_seq..last_seq for the chain, and runs first_run <= run_id < end_run (None: unbounded)."""

    first_seq: int
    last_seq: int
    first_run: Any
    end_run: Any


@dataclass
class _PartReport:
    events: int = 0
    chain: list[str] = field(default_factory=list)
    first_broken_seq: int | None = None
    # per run: the fingerprints of its row events minus those of its rows
    sums: dict[Any, int] = field(default_factory=dict)


def _merged(parts: list[_PartReport]) -> VerifyReport:
    broken = [p.first_broken_seq for p in parts if p.first_broken_seq is not None]
    return VerifyReport(
        events=sum(p.events for p in parts),
        problems=[x for p in parts for x in p.chain],
        first_broken_seq=min(broken, default=None),
    )


def _verify_in_process(url: str, snapshot: Any, part: _Part, key: bytes) -> _PartReport:
    ledger = Ledger(url, read_only=True)
    try:
        with ledger.engine.connect() as conn:
            if ledger.dialect == "postgresql":
                conn.execution_options(isolation_level="REPEATABLE READ")
                conn.execute(text("SET TRANSACTION SNAPSHOT :s"), {"s": snapshot})
            return ledger._verify_part(conn, part, key)
    finally:
        ledger.engine.dispose()


def _fingerprinter(key: bytes) -> Callable[[Any], int]:
    """A keyed BLAKE2b of a payload as an integer; anything but text (a forged value) by its repr."""
    keyed = hashlib.blake2b(digest_size=32, key=key)
    from_bytes = int.from_bytes

    def fingerprint(payload: Any) -> int:
        h = keyed.copy()
        h.update(payload.encode() if type(payload) is str else repr(payload).encode())
        return from_bytes(h.digest())

    return fingerprint


class _Table:
    """A ledger table's columns, its key, and the payload its writer would have recorded for a row (a tuple)."""

    def __init__(self, name: str, columns: list[str]) -> None:
        self.name, self.columns = name, columns
        self.key_at = [columns.index(k) for k in TABLE_KEYS[name]]
        order = sorted(range(len(columns)), key=columns.__getitem__)
        self._values = itemgetter(*order)
        self._names = [f"{_quote(columns[i])}:" for i in order]
        self._tail = f'}},"table":{_quote(name)}}}'

    def key(self, row: tuple[Any, ...]) -> tuple[Any, ...]:
        return (self.name, *[row[i] for i in self.key_at])

    def as_dict(self, row: tuple[Any, ...]) -> dict[str, Any]:
        return dict(zip(self.columns, row, strict=True))

    def payload(self, row: tuple[Any, ...]) -> str | None:
        """canonical_json of {"row": ..., "table": ...}, written out for the text/integer/NULL values a row holds."""
        parts = []
        for name, value in zip(self._names, self._values(row), strict=True):
            kind = type(value)
            if kind is str:
                parts.append(name + _quote(value))
            elif value is None:
                parts.append(name + "null")
            elif kind is int:
                parts.append(name + str(value))
            else:  # e.g. a blob written into SQLite behind the ledger's back
                return _payload(self.name, self.as_dict(row))
        return '{"row":{' + ",".join(parts) + self._tail


# canonical_json's settings: for str/int/None values (all the ledger stores) it encodes exactly as canonical_json
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
_quote = json.encoder.encode_basestring  # type: ignore[attr-defined]
_BATCH = 5_000
_MODULUS = 1 << 256
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
    problems: list[str], events: list[tuple[int, str]], tables: list[tuple[_Table, list[tuple[Any, ...]]]]
) -> None:
    """One run's rows against the last event that recorded each (table, key), as the writer paired them."""
    prepared = [(table, row, table.key(row), table.payload(row)) for table, rows in tables for row in rows]
    expected = {payload: key for _, _, key, payload in prepared if payload is not None}
    recorded: dict[tuple[Any, ...], tuple[int, str]] = {}
    for seq, payload in sorted(events):
        key = expected.get(payload)  # an identical payload needs no parsing
        if key is None:
            try:
                body = json.loads(payload)
                key = _key(body["table"], body["row"])
            except (ValueError, TypeError, KeyError, AttributeError):
                problems.append(f"event {seq}: row payload is not a row of a ledger table")
                continue
        recorded[key] = (seq, payload)
    for table, row, key, encoded in prepared:
        found = recorded.pop(key, None)
        if found is None:
            problems.append(f"{table.name} row {_shown(key)} has no recording event")
        elif found[1] != encoded and not _same_row(table.as_dict(row), found[1]):
            problems.append(f"{table.name} row {_shown(key)} differs from its recording event {found[0]}")
    problems += [
        f"{k[0]} row {_shown(k)} was deleted (recorded by event {s})" for k, (s, _) in recorded.items()
    ]


def _same_row(data: dict[str, Any], payload: str) -> bool:
    """Equal up to columns the insert left out (NULL in the table), compared in canonical form."""
    try:
        return canonical_json({**dict.fromkeys(data), **json.loads(payload)["row"]}) == canonical_json(data)
    except (TypeError, ValueError, KeyError):
        return False


def decode(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (json.loads(v) if k.endswith("_json") and v is not None else v) for k, v in row.items()}
