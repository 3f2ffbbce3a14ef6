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
    prediction    DOUBLE PRECISION NOT NULL,  -- binary: 1 is the spec's positive label; regression: the value
    score         DOUBLE PRECISION CHECK (score BETWEEN 0 AND 1),  -- positive-class probability, when known
    label         DOUBLE PRECISION,  -- as prediction
    labelled_at   TIMESTAMPTZ,
    CHECK ((label IS NULL) = (labelled_at IS NULL))
);

-- a table created for binary models only (0/1 small integers) takes regressors' values too; a no-op once done
ALTER TABLE certification_monitoring.inference_log
    DROP CONSTRAINT IF EXISTS inference_log_prediction_check,
    DROP CONSTRAINT IF EXISTS inference_log_label_check,
    ALTER COLUMN prediction TYPE DOUBLE PRECISION,
    ALTER COLUMN label TYPE DOUBLE PRECISION;

CREATE INDEX IF NOT EXISTS inference_log_window
    ON certification_monitoring.inference_log (model_name, logged_at);
