"""The audit ledger on real PostgreSQL and on SQLite: append-only, hash-chained, and verifiable."""

from __future__ import annotations

import threading
import uuid

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DatabaseError

from certification.ledger import Duplicate, Ledger


def _ledger(url: str) -> Ledger:
    ledger = Ledger(url)
    ledger.init_schema()
    ledger.init_schema()  # idempotent
    return ledger


def _run(ledger: Ledger, run_id: str = "run-1", complete: bool = False) -> None:
    """A run row and a sign-off; the run names only its required columns (as an error run does) unless complete."""
    row = {
        "run_id": run_id,
        "created_at": "2026-11-28T00:00:00.000000Z",
        "origin": "cli",
        "submitted_by": "dana",
        "spec_source": "spec.yaml",
        "overrides_json": {},
    }
    if complete:
        with ledger.engine.connect() as conn:
            columns = conn.execute(text("SELECT * FROM certification_audit.runs LIMIT 0")).keys()
        row = {**dict.fromkeys(columns, "x"), **row}
    ledger.record("runs", row)
    ledger.record(
        "signoffs",
        {
            "run_id": run_id,
            "role": "risk",
            "approver": "alice",
            "decision": "approve",
            "comment": "ok",
            "channel": "cli",
            "model_sha256": "m",
            "data_sha256": "d",
            "spec_sha256": "s",
            "signed_at": "2026-11-28T01:00:00.000000Z",
        },
    )


def _as_superuser(ledger: Ledger, sql: str) -> None:
    """Change a row behind the ledger's back, with the append-only triggers switched off."""
    with ledger.engine.begin() as conn:
        if ledger.dialect == "postgresql":
            conn.exec_driver_sql("SET LOCAL session_replication_role = replica")  # disables triggers
        else:
            for name in (
                "signoffs_append_only",
                "signoffs_no_delete",
                "events_append_only",
                "events_no_delete",
            ):
                conn.exec_driver_sql(f"DROP TRIGGER certification_audit.{name}")
        conn.exec_driver_sql(sql)


def test_rows_and_events_verify(ledger_url: str) -> None:
    ledger = _ledger(ledger_url)
    _run(ledger)
    ledger.log("run-1", "note", {"value": 0.1 + 0.2, "nested": {"b": [1, 2]}})
    report = ledger.verify()
    assert report.ok, report.problems
    assert report.events == 3
    assert ledger.rows("signoffs", "run-1")[0]["approver"] == "alice"
    assert ledger.run("run-1")["overrides_json"] == {}


def test_only_runs_whose_sums_disagree_are_compared_row_by_row(
    ledger_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A complete row's event payload is the row, so its run's fingerprints cancel; a run whose insert left columns
    out (its event lacks them) and a tampered run are compared row by row, and only the tampered one is named."""
    ledger = _ledger(ledger_url)
    _run(ledger, "complete", complete=True)
    _run(ledger, "partial")
    compared: list[str] = []
    compare = Ledger._compare_runs
    monkeypatch.setattr(
        Ledger, "_compare_runs", lambda self, conn, runs: compared.extend(runs) or compare(self, conn, runs)
    )
    assert ledger.verify().ok and compared == ["partial"]
    compared.clear()
    _as_superuser(ledger, "UPDATE certification_audit.signoffs SET comment = 'no' WHERE run_id = 'complete'")
    report = ledger.verify()
    assert compared == ["complete", "partial"]
    assert report.problems == ['signoffs row ["complete","risk"] differs from its recording event 2']


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE certification_audit.signoffs SET decision = 'reject'",
        "DELETE FROM certification_audit.signoffs",
        "UPDATE certification_audit.events SET payload = '{}'",
        "DELETE FROM certification_audit.events",
    ],
)
def test_database_refuses_update_and_delete(ledger_url: str, statement: str) -> None:
    ledger = _ledger(ledger_url)
    _run(ledger)
    with pytest.raises(DatabaseError, match="append-only"), ledger.engine.begin() as conn:
        conn.exec_driver_sql(statement)
    assert ledger.verify().ok


def test_truncate_is_refused_on_postgres(postgres_url: str) -> None:
    ledger = _ledger(postgres_url)
    with pytest.raises(DatabaseError, match="append-only"), ledger.engine.begin() as conn:
        conn.exec_driver_sql("TRUNCATE certification_audit.events CASCADE")


def test_duplicate_key_is_refused_and_nothing_is_half_written(ledger_url: str) -> None:
    ledger = _ledger(ledger_url)
    _run(ledger)
    before = ledger.verify().events
    with pytest.raises(Duplicate):
        _run(ledger)
    assert ledger.verify().events == before
    assert ledger.verify().ok


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        ("UPDATE certification_audit.signoffs SET decision = 'reject'", "signoffs row"),
        ("UPDATE certification_audit.events SET payload = '{\"forged\":true}' WHERE seq = 3", "event 3"),
        ("DELETE FROM certification_audit.signoffs", "was deleted"),
        ("DELETE FROM certification_audit.events WHERE seq = 2", "event 2 is missing"),
    ],
)
def test_verify_detects_changes_made_with_triggers_disabled(
    ledger_url: str, tamper: str, expected: str
) -> None:
    ledger = _ledger(ledger_url)
    _run(ledger)
    ledger.log("run-1", "note", {"x": 1})
    assert ledger.verify().ok
    _as_superuser(ledger, tamper)
    report = ledger.verify()
    assert not report.ok
    assert any(expected in problem for problem in report.problems), report.problems


def test_concurrent_writers_keep_one_chain(ledger_url: str) -> None:
    ledger = _ledger(ledger_url)
    errors: list[Exception] = []

    def write(worker: int) -> None:
        try:
            for i in range(15):
                Ledger(ledger_url).log(f"run-{worker}", "note", {"i": i})
        except Exception as exc:  # pragma: no cover - surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    report = ledger.verify()
    assert report.ok, report.problems
    assert report.events == 60


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        (
            "UPDATE certification_audit.check_results SET status = 'pass' WHERE check_id = 'auc'",
            'check_results row ["run-1","auc"] differs from its recording event 3',
        ),
        (
            "INSERT INTO certification_audit.decisions VALUES ('run-1', 'final', 'certified', '[]', 'x', 't')",
            'decisions row ["run-1","final"] has no recording event',
        ),
    ],
)
def test_superuser_with_triggers_disabled_is_named(postgres_url: str, tamper: str, expected: str) -> None:
    """ALTER TABLE ... DISABLE TRIGGER ALL (the other bypass to session_replication_role, tested above)."""
    name = f"ledger_{uuid.uuid4().hex[:8]}"
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        _tamper_and_verify(_ledger(postgres_url.rsplit("/", 1)[0] + f"/{name}"), tamper, expected)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _tamper_and_verify(ledger: Ledger, tamper: str, expected: str) -> None:
    run_id = "run-1"
    _run(ledger, run_id)
    check = {"run_id": run_id, "stage": "evaluation", "measured_json": {}, "threshold_json": {}}
    extra = {"rationale": "", "message": "", "evidence_json": [], "requirements_json": [], "recorded_at": "t"}
    ledger.record("check_results", {**check, **extra, "check_id": "auc", "status": "fail"})
    assert ledger.verify().ok
    table = tamper.split("certification_audit.")[1].split()[0]
    with ledger.engine.begin() as conn:
        conn.exec_driver_sql(f"ALTER TABLE certification_audit.{table} DISABLE TRIGGER ALL")
        conn.exec_driver_sql(tamper)
        conn.exec_driver_sql(f"ALTER TABLE certification_audit.{table} ENABLE TRIGGER ALL")
    report = ledger.verify()
    assert expected in report.problems, report.problems
    assert report.first_broken_seq is None  # the chain itself is intact: only the row betrays the change
    ledger.engine.dispose()


def test_edited_event_names_the_first_broken_event(ledger_url: str) -> None:
    ledger = _ledger(ledger_url)
    _run(ledger)
    for i in range(3):
        ledger.log("run-1", "note", {"i": i})
    _as_superuser(ledger, "UPDATE certification_audit.events SET payload = '{\"i\":9}' WHERE seq = 4")
    report = ledger.verify()
    assert report.first_broken_seq == 4
    assert report.problems == ["event 4: content does not match its hash"]


@pytest.mark.parametrize(
    "tamper",
    [
        "UPDATE certification_audit.signoffs SET decision = 'reject' WHERE run_id = 'run-4'",
        "UPDATE certification_audit.events SET payload = '{\"forged\":true}' WHERE seq = 7",
        "DELETE FROM certification_audit.events WHERE seq = 9",
        "DELETE FROM certification_audit.signoffs WHERE run_id = 'run-5'",
        "DELETE FROM certification_audit.events WHERE seq = 6",
    ],
)
def test_parallel_verification_finds_what_one_process_finds(ledger_url: str, tamper: str) -> None:
    """Three processes (chain parts 1-6, 7-12, 13-18; run-id ranges split at run-2 and run-4) on one snapshot."""
    ledger = _ledger(ledger_url)
    for i in range(6):
        _run(ledger, f"run-{i}")
        ledger.log(f"run-{i}", "note", {"i": i})
    intact = ledger.verify(workers=3)
    assert intact.ok and intact.events == 18, intact.problems
    _as_superuser(ledger, tamper)
    one, three = ledger.verify(workers=1), ledger.verify(workers=3)
    assert not one.ok and three.first_broken_seq == one.first_broken_seq
    if tamper.endswith("seq = 6"):  # the gap ends the first part, so that part names it as a range
        assert one.problems[0] == "event 6 is missing (next is 7)"
        assert three.problems[0] == "events 6 to 6 are missing"
        assert three.problems[1:] == one.problems[1:]
    else:
        assert three.problems == one.problems
