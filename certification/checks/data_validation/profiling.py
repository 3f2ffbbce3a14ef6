"""Data-quality profile and train-vs-evaluation shift, computed by Evidently 0.7 and read back from its snapshot.

Evidently is imported inside the functions: it takes seconds to import and this package is imported by Airflow
DAG files, which the DAG processor parses often.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from certification.errors import InputError

MAX_CATEGORIES = 50
DICTIONARY = "data_dictionary.json"  # written by data.schema, read by the documents
SAMPLE_SEED = 0
# Distances, not p-values: at 100k rows a KS / chi-square test flags shifts far too small to matter.
DRIFT_METHODS = {"numerical": "wasserstein", "categorical": "jensenshannon"}


def _is_numerical(series: pd.Series) -> bool:
    # bool is numeric to pandas but a two-level category to a model; str/object/category are categorical.
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def _split_types(
    frames: list[pd.DataFrame], columns: list[str], categorical: list[str] | None
) -> tuple[list[str], list[str]]:
    forced = set(categorical or [])
    # A column is numerical only if it is numerical in every frame; Evidently raises on a mixed pair.
    num = [c for c in columns if c not in forced and all(_is_numerical(f[c]) for f in frames)]
    return num, [c for c in columns if c not in num]


def _require(frame: pd.DataFrame, columns: list[str], source: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(source, f"columns not found: {missing}")


def _number(value: Any) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def _results(snapshot: Any) -> dict[tuple[str, str | None], Any]:
    """Metric values from `snapshot.dict()`, keyed by (metric type, column).

    Metrics carrying other parameters (ColumnCount by type, QuantileValue, ...) are skipped so keys stay unique.
    """
    found: dict[tuple[str, str | None], Any] = {}
    for metric in snapshot.dict()["metrics"]:
        config = metric["config"]
        if set(config) - {"type", "column", "tests"}:
            continue
        found[(config["type"].rsplit(":", 1)[-1], config.get("column"))] = metric["value"]
    return found


def _save_html(snapshot: Any, html_path: Path | None) -> None:
    if html_path is not None:
        html_path.parent.mkdir(parents=True, exist_ok=True)
        # Snapshot.save_html silently writes nothing when given a Path: it only handles str.
        snapshot.save_html(str(html_path))


def _sorted_labels(labels: list[Any]) -> list[str]:
    try:
        ordered = sorted(labels)  # natural order for numeric codes (2 before 10)
    except TypeError:
        ordered = sorted(labels, key=str)
    return [str(v) for v in ordered]


def dictionary(frames: dict[str, pd.DataFrame], roles: dict[str, list[str]]) -> list[dict[str, Any]]:
    """One entry per column of the data sets: its roles, kind and, per data set, the missing share, the number of
    distinct values and the range (numerical) or the most frequent values with their shares (categorical)."""
    entries = []
    for column in dict.fromkeys(c for frame in frames.values() for c in frame.columns):
        present = {name: frame[column] for name, frame in frames.items() if column in frame.columns}
        numerical = all(_is_numerical(series) for series in present.values())
        per: dict[str, dict[str, Any]] = {}
        for name, series in present.items():
            found: dict[str, Any] = {
                "missing_share": float(series.isna().mean()),
                "distinct": int(series.nunique()),
            }
            if numerical:
                found |= {k: _number(getattr(series, k)()) for k in ("min", "median", "max")}
            else:
                top = series.astype("string").value_counts(normalize=True).head(5)
                found["top"] = {str(value): float(share) for value, share in top.items()}
            per[name] = found
        entries.append(
            {
                "column": column,
                "dtype": str(next(iter(present.values())).dtype),
                "kind": "numerical" if numerical else "categorical",
                "roles": [role for role, columns in roles.items() if column in columns],
                "datasets": per,
            }
        )
    return entries


def quality_profile(
    frame: pd.DataFrame,
    *,
    label: str,
    categorical: list[str] | None = None,
    html_path: Path | None = None,
    almost_constant_share: float = 0.95,
    max_numeric_labels: int = 1000,
    numeric_label: bool = False,
) -> dict[str, Any]:
    """Evidently DataSummaryPreset (+ UniqueValueCount for numerical columns) on one dataset, as JSON-safe dict.

    The label is categorical, unless `numeric_label` (a regression target). A column is constant when it has at
    most one distinct non-missing value and almost constant when its most frequent value covers >=
    `almost_constant_share` of all rows; both are Evidently's own definitions, so constant columns are also almost
    constant.

    Evidently's UniqueValueCount builds several pydantic objects per distinct value (~0.2 ms each): a numerical
    column with more than `max_numeric_labels` distinct values, or with float values (which Evidently refuses as
    labels), gets unique/top_share from pandas instead (same definitions), listed under "counted_in_pandas".
    Categorical columns are always counted by the preset, so drop
    ID / free-text columns before profiling.
    """
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import UniqueValueCount
    from evidently.presets import DataSummaryPreset

    _require(frame, [label, *(categorical or [])], "quality_profile")
    columns = list(frame.columns)
    num, cat = _split_types([frame], columns, [*(categorical or []), *([] if numeric_label else [label])])
    dataset = Dataset.from_pandas(
        frame, data_definition=DataDefinition(numerical_columns=num, categorical_columns=cat)
    )
    # The preset counts values of categorical columns only; numerical ones need it for unique/top_share.
    # Evidently refuses float labels (numpy.float64), so float columns are counted in pandas too.
    in_pandas = [c for c in num if frame[c].dtype.kind == "f" or frame[c].nunique() > max_numeric_labels]
    counted = [UniqueValueCount(column=c) for c in num if c not in in_pandas]
    snapshot = Report([DataSummaryPreset(), *counted]).run(dataset, None)
    _save_html(snapshot, html_path)
    found = _results(snapshot)

    rows = int(found[("RowCount", None)])
    n_columns = int(found[("ColumnCount", None)])
    per_column: dict[str, dict[str, Any]] = {}
    for column in columns:
        if column in in_pandas:
            counts = frame[column].value_counts().to_dict()
            shares = {k: v / rows for k, v in counts.items()}
        else:
            # Evidently lists every label seen, missing ones with count 0; unique = labels actually present.
            unique = found[("UniqueValueCount", column)]
            counts = {k: v for k, v in unique["counts"].items() if v > 0}
            shares = unique["shares"]
        stats: dict[str, Any] = {
            "type": "numerical" if column in num else "categorical",
            "missing_fraction": _number(found[("MissingValueCount", column)]["share"]),
            "unique": len(counts),
            "top_share": _number(max(shares[k] for k in counts)) if counts else None,
        }
        if column in num:
            stats |= {k: _number(found[(k.title() + "Value", column)]) for k in ("min", "max", "mean")}
        else:
            stats["categories"] = _sorted_labels(list(counts))[:MAX_CATEGORIES]
        per_column[column] = stats

    duplicated = int(found[("DuplicatedRowCount", None)])
    missing = int(found[("DatasetMissingValueCount", None)]["count"])
    return {
        "rows": rows,
        "columns": n_columns,
        "duplicated_rows": duplicated,
        "duplicated_fraction": duplicated / rows if rows else 0.0,
        # Evidently's own "share" divides missing cells by rows, not by cells: recompute over the whole table.
        "missing_fraction": missing / (rows * n_columns) if rows and n_columns else 0.0,
        "constant_columns": [c for c, s in per_column.items() if s["unique"] <= 1],
        "almost_constant_share": almost_constant_share,
        "almost_constant_columns": [
            c
            for c, s in per_column.items()
            if s["top_share"] is not None and s["top_share"] >= almost_constant_share
        ],
        "per_column": per_column,
        "counted_in_pandas": in_pandas,
    }


def shift_summary(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    columns: list[str],
    html_path: Path | None = None,
    threshold: float = 0.1,
    sample: int | None = None,
    categorical: list[str] | None = None,
) -> dict[str, Any]:
    """Evidently DataDriftPreset, reference = training data, current = evaluation data.

    Forced methods: normed Wasserstein (numerical; distance / population std of the reference) and Jensen-Shannon
    distance (categorical), both flagging drift when score >= `threshold`. `sample` caps both frames at that many
    rows (fixed seed): cost grows with rows (14 Adult columns: ~2 s at 30k rows, ~4 s at 300k, ~30 s at 1M).
    Columns empty in either frame cannot be compared by Evidently and are listed under "skipped".
    """
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    if not columns:
        raise InputError("shift_summary", "no columns to compare")
    _require(reference, columns, "shift_summary: reference")
    _require(current, columns, "shift_summary: current")
    frames = {"reference": reference[columns], "current": current[columns]}
    original_rows = {name: len(f) for name, f in frames.items()}
    if sample is not None:
        rng = np.random.default_rng(SAMPLE_SEED)
        frames = {
            n: f.sample(n=sample, random_state=rng) if len(f) > sample else f for n, f in frames.items()
        }

    skipped = {c: "no non-missing values" for c in columns if any(f[c].isna().all() for f in frames.values())}
    compared = [c for c in columns if c not in skipped]
    if not compared:
        raise InputError("shift_summary", f"every column is empty in one of the frames: {list(skipped)}")
    num, cat = _split_types(list(frames.values()), compared, categorical)
    definition = DataDefinition(numerical_columns=num, categorical_columns=cat)
    preset = DataDriftPreset(
        columns=compared,
        num_method=DRIFT_METHODS["numerical"],
        cat_method=DRIFT_METHODS["categorical"],
        threshold=threshold,
    )
    # include_tests: the drift verdict per column is Evidently's own ValueDrift test (FAIL = drifted).
    snapshot = Report([preset], include_tests=True).run(
        Dataset.from_pandas(frames["current"][compared], data_definition=definition),
        Dataset.from_pandas(frames["reference"][compared], data_definition=definition),
    )
    _save_html(snapshot, html_path)

    result = snapshot.dict()
    verdicts = {
        test["metric_config"]["params"]["column"]: getattr(test["status"], "value", test["status"]) == "FAIL"
        for test in result["tests"]
        if test["metric_config"]["params"]["type"].endswith(":ValueDrift")
    }
    per_column: dict[str, dict[str, Any]] = {}
    drifted_share = None
    for metric in result["metrics"]:
        config = metric["config"]
        if config["type"].endswith(":ValueDrift"):
            per_column[config["column"]] = {
                "score": _number(metric["value"]),
                "drifted": verdicts[config["column"]],
                "method": config["method"],
            }
        elif config["type"].endswith(":DriftedColumnsCount"):
            drifted_share = _number(metric["value"]["share"])
    ranking = sorted(({"column": c, **v} for c, v in per_column.items()), key=lambda r: -(r["score"] or 0.0))
    return {
        "method": {**DRIFT_METHODS, "numerical_columns": num, "categorical_columns": cat},
        "threshold": threshold,
        "drifted_columns": [r["column"] for r in ranking if r["drifted"]],
        "drifted_share": drifted_share,
        "per_column": per_column,
        "ranking": ranking,
        "skipped": skipped,
        "sample": {
            "requested": sample,
            "seed": SAMPLE_SEED if sample is not None else None,
            "reference_rows": len(frames["reference"]),
            "current_rows": len(frames["current"]),
            "reference_rows_total": original_rows["reference"],
            "current_rows_total": original_rows["current"],
        },
    }


def category_sets(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    columns: list[str],
    *,
    categorical: list[str] | None = None,
) -> dict[str, dict[str, list[str]]]:
    """Per categorical column: values in `current` never seen in `reference` ("unseen"), and the reverse ("absent").

    Numerical columns are skipped (every new float is "unseen"). Missing values are not categories.
    """
    _require(reference, columns, "category_sets: reference")
    _require(current, columns, "category_sets: current")
    _, cat = _split_types([reference, current], columns, categorical)
    sets: dict[str, dict[str, list[str]]] = {}
    for column in cat:
        ref, cur = set(reference[column].dropna().unique()), set(current[column].dropna().unique())
        sets[column] = {"unseen": _sorted_labels(list(cur - ref)), "absent": _sorted_labels(list(ref - cur))}
    return sets
