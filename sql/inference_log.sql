-- The production inference log that monitoring reads (PostgreSQL). One row per scored request; the label arrives
-- later and is written once, with the time it arrived. Features and protected attributes are JSON objects keyed by
-- the spec's column names, so one table serves every model. Files follow the same schema with one column per
-- feature and protected attribute instead of the two JSON objects (certification.monitoring.inference_log).
CREATE SCHEMA IF NOT EXISTS certification_monitoring;

CREATE TABLE IF NOT EXISTS certification_monitoring.inference_log (
    request_id    TEXT PRIMARY KEY,  -- a replayed request is the same row: writing a window twice adds nothing
    logged_at     TIMESTAMPTZ NOT NULL,
    model_name    TEXT NOT NULL,
    model_version TEXT NOT NULL,
    features      JSONB NOT NULL,
    protected     JSONB NOT NULL DEFAULT '{}',
    prediction    SMALLINT NOT NULL CHECK (prediction IN (0, 1)),  -- 1: the spec's positive label
    score         DOUBLE PRECISION CHECK (score BETWEEN 0 AND 1),  -- positive-class probability, when known
    label         SMALLINT CHECK (label IN (0, 1)),
    labelled_at   TIMESTAMPTZ,
    CHECK ((label IS NULL) = (labelled_at IS NULL))
);

CREATE INDEX IF NOT EXISTS inference_log_window
    ON certification_monitoring.inference_log (model_name, logged_at);
