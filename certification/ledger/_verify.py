"""Verification of the ledger: the hash chain recomputed, and every table row matched with the event that recorded it.

One pass streams the events in seq order; each table is streamed unordered; row events and rows meet in per-run sums
of keyed BLAKE2b fingerprints, and only runs whose sums disagree are compared row by row to name what changed. Large
ledgers are split into ranges verified by several processes reading one snapshot.
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
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.engine import Engine

from certification.jsonutil import ENCODER, canonical_json, quote
from certification.ledger._chain import GENESIS, ROW_EVENT, SCHEMA, TABLE_KEYS, event_digest

PARALLEL_FROM = 200_000  # events; below this, starting verifier processes costs more than it saves


@dataclass
class VerifyReport:
    events: int = 0
    problems: list[str] = field(default_factory=list)
    first_broken_seq: int | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


class Verification:
    """The verifier's half of `Ledger` (a mixin): needs its engine, dialect and URL."""

    engine: Engine
    dialect: str
    url: str
    read_only: bool

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
                            _verify_in_process,
                            [type(self)] * count,
                            [self.url] * count,
                            [snapshot] * count,
                            parts,
                            [key] * count,
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
            elif event_digest(seq, run_id, event_type, payload, recorded_at, prev_hash) != digest:
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


def _verify_in_process(
    kind: Callable[..., Verification], url: str, snapshot: Any, part: _Part, key: bytes
) -> _PartReport:
    ledger = kind(url, read_only=True)
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
        self._names = [f"{quote(columns[i])}:" for i in order]
        self._tail = f'}},"table":{quote(name)}}}'

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
                parts.append(name + quote(value))
            elif value is None:
                parts.append(name + "null")
            elif kind is int:
                parts.append(name + str(value))
            else:  # e.g. a blob written into SQLite behind the ledger's back
                return _payload(self.name, self.as_dict(row))
        return '{"row":{' + ",".join(parts) + self._tail


_BATCH = 5_000
_MODULUS = 1 << 256
_cursors = itertools.count()


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
        return ENCODER.encode({"row": row, "table": table})
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
