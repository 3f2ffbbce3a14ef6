-- Audit ledger of the certification pipeline: one source of truth for PostgreSQL and the embedded SQLite default.
-- Portable DDL: on SQLite the ledger file is ATTACHed under the schema name, so every name is the same
-- (references and the index name are unqualified as SQLite requires; PostgreSQL resolves them by search_path).
-- Values are canonical JSON or ISO-8601 UTC text so that hashes recompute identically on both databases;
-- auditors can cast, e.g. payload::jsonb or recorded_at::timestamptz.
-- Every row insert is paired with an event whose payload holds the row, chained by SHA-256 (see events).

CREATE TABLE IF NOT EXISTS certification_audit.runs (
    run_id              TEXT PRIMARY KEY,
    created_at          TEXT NOT NULL,
    origin              TEXT NOT NULL CHECK (origin IN ('cli', 'airflow')),
    submitted_by        TEXT NOT NULL,
    spec_source         TEXT NOT NULL,
    use_case            TEXT,
    risk_tier           TEXT,
    spec_sha256         TEXT,
    spec_json           TEXT,
    overrides_json      TEXT NOT NULL,
    model_reference     TEXT,
    model_sha256        TEXT,
    datasets_json       TEXT,
    required_roles_json TEXT,
    signoff_deadline    TEXT,
    mlflow_run_id       TEXT,
    airflow_run         TEXT
);

CREATE TABLE IF NOT EXISTS certification_audit.check_results (
    run_id            TEXT NOT NULL REFERENCES runs (run_id),
    check_id          TEXT NOT NULL,
    stage             TEXT NOT NULL,
    status            TEXT NOT NULL CHECK (status IN ('pass', 'fail', 'warn', 'error', 'not_applicable')),
    measured_json     TEXT NOT NULL,
    threshold_json    TEXT NOT NULL,
    rationale         TEXT NOT NULL,
    message           TEXT NOT NULL,
    evidence_json     TEXT NOT NULL,
    requirements_json TEXT NOT NULL,
    recorded_at       TEXT NOT NULL,
    PRIMARY KEY (run_id, check_id)
);

CREATE TABLE IF NOT EXISTS certification_audit.decisions (
    run_id       TEXT NOT NULL REFERENCES runs (run_id),
    kind         TEXT NOT NULL CHECK (kind IN ('gate', 'final')),
    verdict      TEXT NOT NULL CHECK (verdict IN ('passed', 'failed', 'certified', 'rejected', 'error')),
    reasons_json TEXT NOT NULL,
    decided_by   TEXT NOT NULL,
    decided_at   TEXT NOT NULL,
    PRIMARY KEY (run_id, kind)
);

-- One decision per role (a single winner under concurrency) and one role per person.
CREATE TABLE IF NOT EXISTS certification_audit.signoffs (
    run_id       TEXT NOT NULL REFERENCES runs (run_id),
    role         TEXT NOT NULL,
    approver     TEXT NOT NULL,
    decision     TEXT NOT NULL CHECK (decision IN ('approve', 'reject')),
    comment      TEXT NOT NULL,
    channel      TEXT NOT NULL,
    model_sha256 TEXT NOT NULL,
    data_sha256  TEXT NOT NULL,
    spec_sha256  TEXT NOT NULL,
    signed_at    TEXT NOT NULL,
    PRIMARY KEY (run_id, role),
    UNIQUE (run_id, approver)
);

CREATE TABLE IF NOT EXISTS certification_audit.certificates (
    certificate_id TEXT PRIMARY KEY,
    run_id         TEXT NOT NULL UNIQUE REFERENCES runs (run_id),
    issued_at      TEXT NOT NULL,
    expires_at     TEXT NOT NULL,
    sha256         TEXT NOT NULL,
    document_json  TEXT NOT NULL
);

-- Post-market monitoring: one row per production window judged under a certificate (a replay is the same row).
CREATE TABLE IF NOT EXISTS certification_audit.monitoring_windows (
    window_id      TEXT PRIMARY KEY,
    run_id         TEXT NOT NULL REFERENCES runs (run_id),  -- the run that issued the certificate
    model_name     TEXT NOT NULL,
    certificate_id TEXT NOT NULL REFERENCES certificates (certificate_id),
    window_start   TEXT NOT NULL,
    window_end     TEXT NOT NULL,
    rows_seen      INTEGER NOT NULL,
    labelled_rows  INTEGER NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('ok', 'breach', 'insufficient_data')),
    breaches_json  TEXT NOT NULL,
    summary_json   TEXT NOT NULL,
    airflow_run    TEXT,
    recorded_at    TEXT NOT NULL,
    UNIQUE (certificate_id, window_start, window_end)
);

-- What happened to a certificate after issue; each action at most once per certificate, so replays add nothing.
-- suspended/expired/revoked withdraw it (the registry alias is removed); recertification_requested names the
-- model_certification DAG run started to replace it.
CREATE TABLE IF NOT EXISTS certification_audit.certificate_actions (
    run_id         TEXT NOT NULL REFERENCES runs (run_id),  -- the run that issued the certificate
    certificate_id TEXT NOT NULL REFERENCES certificates (certificate_id),
    action         TEXT NOT NULL
        CHECK (action IN ('suspended', 'expired', 'revoked', 'recertification_requested')),
    reason         TEXT NOT NULL,
    window_id      TEXT REFERENCES monitoring_windows (window_id),
    detail_json    TEXT NOT NULL,
    decided_by     TEXT NOT NULL,
    recorded_at    TEXT NOT NULL,
    PRIMARY KEY (certificate_id, action)
);

-- Append-only event log. hash = SHA-256 of the canonical JSON of
-- {seq, run_id, event_type, payload, recorded_at, prev_hash}; the first event chains to 64 zeros.
CREATE TABLE IF NOT EXISTS certification_audit.events (
    seq         BIGINT PRIMARY KEY,
    run_id      TEXT,
    event_type  TEXT NOT NULL,
    payload     TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL UNIQUE
);

CREATE INDEX IF NOT EXISTS certification_audit.events_run ON events (run_id);
