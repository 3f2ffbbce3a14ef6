"""Throughput and peak memory of `Ledger.verify()` on ledgers of growing size, as JSON.

    python benchmarks/ledger_verify.py --events 100000 1000000 --url sqlite postgresql \
        --out benchmarks/results/ledger_verify.json

Each ledger holds realistic certification runs (a run row, 19 check results, gate and final decisions, the
sign-off request, two sign-offs and a certificate: 27 events per run), with a valid hash chain. The rows and
events are precomputed and bulk-loaded (SQLite executemany, PostgreSQL COPY) in one transaction, then
`verify()` runs in a fresh process so its peak RSS is its own. PostgreSQL gets a scratch database on the server
of $CERTIFICATION_BENCH_PG (default postgres@127.0.0.1), dropped afterwards.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import peak_rss_mb, write_report  # noqa: E402

# ENCODER and event_digest: the verifier's fast paths, equal to canonical_json and event_hash for plain values
# (tests/unit/test_properties.py); they keep bulk generation quick
from certification.jsonutil import ENCODER  # noqa: E402
from certification.ledger import GENESIS, ROW_EVENT, SCHEMA, Ledger, event_digest  # noqa: E402

PG_ADMIN_URL = os.environ.get(
    "CERTIFICATION_BENCH_PG", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
)
TABLES = ("runs", "check_results", "decisions", "signoffs", "certificates", "events")
EVENT_COLUMNS = ("seq", "run_id", "event_type", "payload", "recorded_at", "prev_hash", "hash")
CHECKS = [
    f"{stage}.check_{i}"
    for stage, count in (("data", 8), ("evaluation", 7), ("other", 4))
    for i in range(count)
]
BATCH = 50_000


def _stamp(i: int) -> str:
    return f"2026-{1 + i // 2_600_000 % 12:02d}-01T00:00:00.{i % 1_000_000:06d}Z"


def run_entries(r: int) -> Iterator[tuple[str | None, dict[str, Any]]]:
    """(table or None, row or event payload) of one realistic run, in the order the pipeline writes them."""
    run_id, sha = f"cert-20261128-{r:08d}", f"{r:064x}"
    datasets = {
        n: {"path": f"/data/{n}.parquet", "sha256": sha, "rows": 48842} for n in ("train", "evaluation")
    }
    yield (
        "runs",
        {
            "run_id": run_id,
            "created_at": _stamp(r),
            "origin": "airflow",
            "submitted_by": "dana",
            "spec_source": "specs/adult.yaml",
            "use_case": "credit-scoring",
            "risk_tier": "high",
            "spec_sha256": sha,
            "spec_json": {"use_case": "credit-scoring", "approvals": {"roles": ["risk", "compliance"]}},
            "overrides_json": {},
            "model_reference": "models:/adult/3",
            "model_sha256": sha,
            "datasets_json": datasets,
            "required_roles_json": ["risk", "compliance"],
            "signoff_deadline": None,
            "mlflow_run_id": f"{r:032x}",
            "airflow_run": f"manual__{r}",
        },
    )
    for i, check in enumerate(CHECKS):
        yield (
            "check_results",
            {
                "run_id": run_id,
                "check_id": check,
                "stage": check.split(".")[0],
                "status": "pass" if i % 7 else "warn",
                "measured_json": {"value": 0.8 + i / 1000, "ci_lower": 0.79, "ci_upper": 0.81, "rows": 16281},
                "threshold_json": {"min": 0.75},
                "rationale": "the model must rank applicants at least as well as the approved baseline",
                "message": f"{check}: 0.{800 + i} >= 0.75",
                "evidence_json": [f"runs/{run_id}/{check}.json"],
                "requirements_json": ["EU-AI-Act-15", "SR-11-7"],
                "recorded_at": _stamp(r * 30 + i),
            },
        )
    decision = {"run_id": run_id, "decided_by": "automated-gate", "decided_at": _stamp(r)}
    yield (
        "decisions",
        {**decision, "kind": "gate", "verdict": "passed", "reasons_json": ["every check passed"]},
    )
    yield None, {"roles": ["risk", "compliance"], "deadline": _stamp(r + 1)}
    for role, approver in (("risk", "alice"), ("compliance", "bob")):
        yield (
            "signoffs",
            {
                "run_id": run_id,
                "role": role,
                "approver": approver,
                "decision": "approve",
                "comment": "reviewed the evidence pack",
                "channel": "airflow",
                "model_sha256": sha,
                "data_sha256": sha,
                "spec_sha256": sha,
                "signed_at": _stamp(r + 2),
            },
        )
    yield "decisions", {**decision, "kind": "final", "verdict": "certified", "reasons_json": ["approved"]}
    yield (
        "certificates",
        {
            "certificate_id": f"crt-{r:08d}",
            "run_id": run_id,
            "issued_at": _stamp(r + 3),
            "expires_at": _stamp(r + 4),
            "sha256": sha,
            "document_json": {"run_id": run_id, "verdict": "certified", "model_sha256": sha},
        },
    )


def batches(events: int) -> Iterator[dict[str, list[tuple[Any, ...]]]]:
    """Rows per table, BATCH events at a time, with the hash chain computed as the ledger would."""
    prev, seq, r = GENESIS, 0, 0
    out: dict[str, list[tuple[Any, ...]]] = {t: [] for t in TABLES}
    while seq < events:
        for table, data in run_entries(r):
            if seq == events:
                break
            seq += 1
            run_id = data["run_id"] if table else f"cert-20261128-{r:08d}"
            if table:
                stored = {k: (ENCODER.encode(v) if k.endswith("_json") else v) for k, v in data.items()}
                out[table].append(tuple(stored.values()))
                event_type, payload = ROW_EVENT, ENCODER.encode({"table": table, "row": stored})
            else:
                event_type, payload = "signoff_requested", ENCODER.encode(data)
            recorded_at = _stamp(seq)
            digest = event_digest(seq, run_id, event_type, payload, recorded_at, prev)
            out["events"].append((seq, run_id, event_type, payload, recorded_at, prev, digest))
            prev = digest
            if len(out["events"]) == BATCH:
                yield out
                out = {t: [] for t in TABLES}
        r += 1
    if out["events"]:
        yield out


def columns(table: str) -> tuple[str, ...]:
    if table == "events":
        return EVENT_COLUMNS
    return tuple(next(row for name, row in run_entries(0) if name == table))


def load_sqlite(path: Path, events: int) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("BEGIN")
    for batch in batches(events):
        for table in TABLES:  # runs first: the other tables reference it
            cols = columns(table)
            sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
            conn.executemany(sql, batch[table])
    conn.execute("COMMIT")
    conn.close()


def load_postgres(url: str, events: int) -> None:
    engine = create_engine(url)
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        for batch in batches(events):
            for table in TABLES:
                buffer = io.StringIO()
                # \N marks NULL; the generated values never contain it
                csv.writer(buffer).writerows(
                    tuple("\\N" if v is None else v for v in row) for row in batch[table]
                )
                buffer.seek(0)
                cursor.copy_expert(
                    f"COPY {SCHEMA}.{table} ({', '.join(columns(table))}) FROM STDIN WITH (FORMAT csv, NULL '\\N')",
                    buffer,
                )
        raw.commit()
    finally:
        raw.close()
        engine.dispose()


def worker(url: str, workers: int | None) -> dict[str, Any]:
    ledger = Ledger(url)
    before = peak_rss_mb()
    started = time.perf_counter()
    report = ledger.verify(workers)
    seconds = time.perf_counter() - started
    return {
        "ok": report.ok,
        "problems": report.problems[:5],
        "verified_events": report.events,
        "verify_seconds": round(seconds, 2),
        "events_per_second": round(report.events / seconds),
        "rss_before_verify_mb": round(before, 1),
        "peak_rss_mb": round(peak_rss_mb(), 1),  # the coordinating process; each worker streams alike
    }


def measure(backend: str, events: int, work: Path, workers: list[int | None]) -> list[dict[str, Any]]:
    started = time.perf_counter()
    admin = None
    if backend == "sqlite":
        work.mkdir(parents=True, exist_ok=True)
        path = work / f"ledger-{events}.db"
        path.unlink(missing_ok=True)
        url = f"sqlite:///{path}"
        Ledger(url).init_schema()
        load_sqlite(path, events)
    else:
        name = f"ledger_bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
        Ledger(url).init_schema()
        load_postgres(url, events)
        with create_engine(url, isolation_level="AUTOCOMMIT").connect() as conn:
            conn.execute(text("VACUUM ANALYZE"))  # as autovacuum would have, long before a real audit
    loaded = time.perf_counter() - started
    results = []
    try:
        for count in workers:
            command = [sys.executable, __file__, "--worker", url, "--workers", str(count or 0)]
            done = subprocess.run(command, capture_output=True, text=True)
            found = {
                "backend": backend,
                "events": events,
                "workers": count or "auto",
                "load_seconds": round(loaded, 1),
            }
            if done.returncode:
                results.append({**found, "error": done.stderr[-2000:]})
            else:
                results.append({**found, **json.loads(done.stdout.strip().splitlines()[-1])})
            print(json.dumps(results[-1]), file=sys.stderr)
        return results
    finally:
        if admin is not None:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
        elif backend == "sqlite":
            path.unlink(missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--events", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument(
        "--url", nargs="+", default=["sqlite", "postgresql"], choices=["sqlite", "postgresql"]
    )
    parser.add_argument("--work", type=Path, default=ROOT / ".certification" / "benchmarks")
    parser.add_argument(
        "--workers",
        type=int,
        nargs="+",
        default=[1, 0],
        help="verifier processes; 0 = one per core (the default)",
    )
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--worker", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.workers[0] or None)))
        return

    results = []
    for backend in args.url:
        for events in args.events:
            results += measure(backend, events, args.work, [w or None for w in args.workers])
    write_report("ledger_verify", results, args.out)


if __name__ == "__main__":
    main()
