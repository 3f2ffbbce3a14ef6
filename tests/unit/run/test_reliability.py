"""Reliability under faults, on real PostgreSQL: a killed worker, lost database connections, a write that fails
half-way, and two certifications of the same model at once. None may duplicate rows or pass silently."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.exc import OperationalError

from certification import Pipeline
from certification.checks import STAGES
from certification.checks.registry import checks_for
from certification.cli import ERROR, main
from certification.errors import LedgerError
from certification.ledger import Writer

pytestmark = pytest.mark.parametrize("ledger_url", ["postgresql"], indirect=True)
EXPECTED = {item.check_id for stage in STAGES for item in checks_for(stage, "binary")}


def _consistent(pipeline: Pipeline, run_id: str) -> None:
    """Every check recorded exactly once, the gate decided once, and the hash chain intact."""
    rows = pipeline.ledger.query("SELECT check_id FROM {s}.check_results WHERE run_id = :r", r=run_id)
    assert sorted(r["check_id"] for r in rows) == sorted(EXPECTED)
    assert len(pipeline.ledger.query("SELECT 1 FROM {s}.decisions WHERE run_id = :r", r=run_id)) == 1
    assert pipeline.ledger.verify().ok


def _finish(pipeline: Pipeline, run_id: str) -> None:
    for stage in STAGES:  # what an Airflow retry of each task does
        pipeline.run_stage(run_id, stage)
    assert pipeline.gate(run_id)["verdict"] == "passed"


def test_a_killed_worker_is_rerun_without_duplicates(home: Path, ledger_url: str, write_spec) -> None:
    spec, run_id = str(write_spec()), "cert-killed-worker"
    worker = (
        "from certification import Pipeline\n"
        "from certification.checks import STAGES\n"
        f"p = Pipeline({ledger_url!r})\n"
        f"run_id, ctx = p.start({spec!r}, submitted_by='dana', run_id={run_id!r})\n"
        "for stage in STAGES:\n"
        "    p.run_stage(run_id, stage, ctx)\n"
        "    print(stage, flush=True)\n"
    )
    process = subprocess.Popen([sys.executable, "-c", worker], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stdout.readline().strip() == STAGES[0]
    os.kill(process.pid, signal.SIGKILL)  # mid-run, while the next stage is computing
    process.wait()

    pipeline = Pipeline(ledger_url)
    done = {r.stage for r in pipeline.results(run_id)}
    assert STAGES[0] in done and STAGES[-1] not in done
    assert pipeline.start(spec, submitted_by="dana", run_id=run_id) == (run_id, None)  # the run is reused
    _finish(pipeline, run_id)
    _finish(pipeline, run_id)  # and once more: nothing is recorded twice
    _consistent(pipeline, run_id)


def test_lost_connections_recover_and_a_failed_write_leaves_nothing_half_done(
    home: Path, ledger_url: str, write_spec, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline = Pipeline(ledger_url)
    run_id, ctx = pipeline.start(str(write_spec()), submitted_by="dana")
    pipeline.run_stage(run_id, STAGES[0], ctx)

    database = make_url(ledger_url).database
    admin = create_engine(ledger_url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:  # a failover: the server drops every connection the pipeline holds
        dropped = conn.execute(
            text("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = :d"),
            {"d": database},
        ).scalar()
    admin.dispose()
    assert dropped and dropped > 0
    pipeline.run_stage(run_id, "robustness", ctx)  # the pool notices and reconnects

    original = Writer.insert
    calls = {"n": 0}

    def flaky(self: Writer, table: str, row: dict[str, Any]) -> dict[str, Any]:
        calls["n"] += 1
        if calls["n"] == 2:  # the connection dies after the stage's first result was written
            raise OperationalError("INSERT", {}, Exception("server closed the connection unexpectedly"))
        return original(self, table, row)

    monkeypatch.setattr(Writer, "insert", flaky)
    with pytest.raises(LedgerError, match="ledger unreachable"):
        pipeline.run_stage(run_id, "evaluation", ctx)
    assert not [r for r in pipeline.results(run_id) if r.stage == "evaluation"]  # rolled back as a whole
    monkeypatch.setattr(Writer, "insert", original)

    _finish(pipeline, run_id)
    _consistent(pipeline, run_id)


def test_an_unreachable_ledger_is_an_error_not_a_pass(
    home: Path, ledger_url: str, write_spec, capsys
) -> None:
    nowhere = "postgresql+psycopg2://postgres@127.0.0.1:9/ledger"  # nothing listens on port 9
    assert main(["--ledger-url", nowhere, "run", str(write_spec()), "--submitted-by", "dana"]) == ERROR
    assert "cannot initialise the ledger" in capsys.readouterr().err


def test_two_certifications_of_one_model_do_not_interfere(home: Path, ledger_url: str, write_spec) -> None:
    spec = str(write_spec())
    outcomes: dict[int, Any] = {}

    def certify(index: int) -> None:
        try:
            outcomes[index] = Pipeline(ledger_url).run_automated(spec, submitted_by=f"submitter-{index}")
        except Exception as exc:  # noqa: BLE001 - surfaced by the assertion below
            outcomes[index] = exc

    threads = [threading.Thread(target=certify, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = [outcomes[i] for i in range(2)]
    assert all(isinstance(s, dict) and s["status"] == "awaiting_signoff" for s in statuses), statuses
    run_ids = {s["run"]["run_id"] for s in statuses}
    assert len(run_ids) == 2
    pipeline = Pipeline(ledger_url)
    for run_id in run_ids:
        _consistent(pipeline, run_id)
