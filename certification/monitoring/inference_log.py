"""The production inference log monitoring reads: a PostgreSQL table (sql/inference_log.sql) or Parquet files.

A row is one scored request: request_id, logged_at (UTC), model_name, model_version, every model input and protected
attribute, prediction (a binary model: 1 = the spec's positive label; a regressor: the predicted value), score (the
positive-class probability; empty for a regressor) and, once it arrives, label and labelled_at. In PostgreSQL the
inputs and protected attributes are two JSON objects, so one table serves every model; in Parquet files each is a
column of its own. Windows are read in chunks of bounded size, so a window of any length fits in memory one chunk at
a time.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path

import pandas as pd
from sqlalchemy import create_engine, text

from certification.config import settings

TABLE = "certification_monitoring.inference_log"
HEAD = ["request_id", "logged_at", "model_name", "model_version"]
TAIL = ["prediction", "score", "label", "labelled_at"]


def columns(features: Sequence[str], protected: Sequence[str]) -> list[str]:
    """A window's columns, in order: the fixed head, the model inputs, the protected attributes, the outcome."""
    return [*HEAD, *features, *(p for p in protected if p not in features), *TAIL]


def init_schema(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql((settings().sql_dir / "inference_log.sql").read_text())
    engine.dispose()


def write_postgres(frame: pd.DataFrame, url: str, features: Sequence[str], protected: Sequence[str]) -> int:
    """Append a window's rows; rows whose request_id is already logged are left as they are. Returns rows added."""
    as_json = {
        name: frame[list(names)].to_json(orient="records", lines=True, date_format="iso").splitlines()
        for name, names in (("features", features), ("protected", protected))
    }
    staged = frame[HEAD + TAIL].assign(**as_json)
    buffer = io.StringIO()
    order = [*HEAD, "features", "protected", *TAIL]
    staged[order].to_csv(
        buffer, index=False, header=False, na_rep="\\N", date_format="%Y-%m-%dT%H:%M:%S.%f%z"
    )
    buffer.seek(0)
    engine = create_engine(url)
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute(f"CREATE TEMP TABLE staged (LIKE {TABLE} INCLUDING DEFAULTS) ON COMMIT DROP")
        cursor.copy_expert(
            f"COPY staged ({', '.join(order)}) FROM STDIN WITH (FORMAT csv, NULL '\\N')", buffer
        )
        cursor.execute(f"INSERT INTO {TABLE} SELECT * FROM staged ON CONFLICT (request_id) DO NOTHING")
        added = int(cursor.rowcount)
        raw.commit()
    finally:
        raw.close()
        engine.dispose()
    return added


def write_parquet(frame: pd.DataFrame, folder: Path, name: str) -> Path:
    """One file per written window; a file already there is replaced, so a replayed window is written once."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.parquet"
    frame.to_parquet(path, index=False, row_group_size=100_000)  # readers decode a row group at a time
    return path


def read_window(
    source: str | Path,
    model_name: str,
    start: datetime,
    end: datetime,
    features: Sequence[str],
    protected: Sequence[str],
    numeric: Sequence[str] = (),
    chunk_rows: int = 200_000,
) -> Iterator[pd.DataFrame]:
    """Rows of `model_name` logged in [start, end), chunk by chunk, from a database URL, a Parquet file, or a folder
    holding Parquet files (*.parquet, at any depth; other files are ignored).

    `numeric` names the inputs read back as numbers from PostgreSQL's JSON (Parquet keeps its own types).
    """
    wanted = columns(features, protected)
    if "://" in str(source):
        yield from _read_postgres(
            str(source), model_name, start, end, features, protected, numeric, chunk_rows
        )
        return
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    folder = Path(source)
    files = sorted(str(f) for f in folder.rglob("*.parquet")) if folder.is_dir() else [str(folder)]
    logged = pc.field("logged_at")
    where = (
        (pc.field("model_name") == model_name)
        & (logged >= pd.Timestamp(start))
        & (logged < pd.Timestamp(end))
    )
    for file in files:  # one file at a time, without read-ahead: memory stays at about one chunk
        batches = ds.dataset(file, format="parquet").to_batches(
            columns=wanted, filter=where, batch_size=chunk_rows, batch_readahead=0, fragment_readahead=0
        )
        for batch in batches:
            if batch.num_rows:
                yield batch.to_pandas()


def _read_postgres(
    url: str,
    model_name: str,
    start: datetime,
    end: datetime,
    features: Sequence[str],
    protected: Sequence[str],
    numeric: Sequence[str],
    chunk_rows: int,
) -> Iterator[pd.DataFrame]:
    def field(source: str, name: str) -> str:
        value = f"{source} ->> '{name.replace(chr(39), chr(39) * 2)}'"
        return f'({value})::double precision AS "{name}"' if name in numeric else f'{value} AS "{name}"'

    picked = [field("features", f) for f in features]
    picked += [field("protected", p) for p in protected if p not in features]
    sql = (
        f"SELECT {', '.join(HEAD)}, {', '.join(picked)}, {', '.join(TAIL)} FROM {TABLE} "
        "WHERE model_name = :model AND logged_at >= :start AND logged_at < :end ORDER BY logged_at, request_id"
    )
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            streamed = conn.execution_options(stream_results=True, max_row_buffer=chunk_rows)
            params = {"model": model_name, "start": start, "end": end}
            for chunk in pd.read_sql(text(sql), streamed, params=params, chunksize=chunk_rows):
                if len(chunk):
                    # one column type for every task: 0/1, a class index or a predicted value
                    yield chunk.astype({"label": "float64", "prediction": "float64"})
    finally:
        engine.dispose()
