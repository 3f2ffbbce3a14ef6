"""Leakage detectors a model-risk reviewer expects: shared train/evaluation rows, single features that predict
the label on their own (by ROC AUC for a binary label, macro one-vs-rest AUC for a multiclass one, cross-fitted R²
for a regression target), and identifier-like columns. Each returns a JSON-safe dict.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd
from sklearn.feature_selection import mutual_info_regression
from sklearn.metrics import r2_score, roc_auc_score
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.preprocessing import TargetEncoder

SIGNIFICANT_DIGITS = 9
MAX_EXAMPLES = 5
# Name tokens (snake_case or camelCase) that mark an identifier; they only count with high cardinality.
ID_NAME = re.compile(r"(^|_)(id|ids|uuid|guid|ssn|account|record|index|idx|row_?(number|num|no|id))(_|$)")
NAME_MIN_UNIQUE_FRACTION = 0.5
MISSING = "__missing__"


def _json_label(value: Any) -> Any:
    value = value.item() if isinstance(value, np.generic) else value
    return value if isinstance(value, int | float | str | bool) or value is None else str(value)


def _is_number(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def _round_significant(values: np.ndarray, digits: int = SIGNIFICANT_DIGITS) -> np.ndarray:
    x = values.astype("float64")
    nonzero = np.isfinite(x) & (x != 0)
    exponent = np.zeros_like(x)
    exponent[nonzero] = np.floor(np.log10(np.abs(x[nonzero])))
    with np.errstate(over="ignore", invalid="ignore"):
        scale = 10.0 ** (digits - 1 - exponent)
        rounded = np.round(x * scale) / scale
    # Subnormal extremes overflow the scale: keep them as they are. `+ 0.0` folds -0.0 into 0.0 (they hash apart).
    return np.where(np.isfinite(rounded) | ~np.isfinite(x), rounded, x) + 0.0


def _normalise_text(value: object) -> str:
    return re.sub(r"\s+", " ", str(value).strip().lower())


def _is_text(column: pd.Series) -> bool:
    return not (
        pd.api.types.is_numeric_dtype(column)
        or pd.api.types.is_datetime64_any_dtype(column)
        or isinstance(column.dtype, pd.CategoricalDtype)
    )


def _categorised(frame: pd.DataFrame) -> pd.DataFrame:
    """Text as categoricals: pandas then hashes each distinct value once (~5x faster on repetitive columns)."""
    out = {}
    for name, column in frame.items():
        if _is_text(column):
            codes, uniques = pd.factorize(column)
            out[name] = pd.Categorical.from_codes(codes, uniques)
        else:
            out[name] = column.array
    return pd.DataFrame(out, index=frame.index)


def _normalised(frame: pd.DataFrame) -> pd.DataFrame:
    out = {}
    for name, column in frame.items():
        if not column.notna().any():  # an empty column is float in one file and object in another
            out[name] = pd.Categorical.from_codes(np.full(len(column), -1), [])
        elif pd.api.types.is_bool_dtype(column) or pd.api.types.is_datetime64_any_dtype(column):
            out[name] = column.array
        elif pd.api.types.is_float_dtype(column):
            out[name] = _round_significant(column.to_numpy("float64", na_value=np.nan))
        elif _is_number(column):  # integers are not rounded (they may be ids), only made comparable to floats
            out[name] = column.to_numpy("float64", na_value=np.nan)
        else:
            # Normalise each distinct value once; distinct values may merge ("A " and "a"). Code -1 (missing)
            # picks the appended -1 and stays missing.
            codes, uniques = pd.factorize(column)
            merged, cleaned = pd.factorize(np.array([_normalise_text(v) for v in uniques], dtype=object))
            out[name] = pd.Categorical.from_codes(np.append(merged, -1)[codes], cleaned)
    return pd.DataFrame(out, index=frame.index)


def _aligned(train: pd.DataFrame, evaluation: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """int64 5 and float64 5.0 (or int32 and int64) hash apart: compare differently typed numbers as float64."""
    differ = [
        c
        for c in train.columns
        if train[c].dtype != evaluation[c].dtype and _is_number(train[c]) and _is_number(evaluation[c])
    ]
    if not differ:
        return train, evaluation
    as_float = dict.fromkeys(differ, "float64")
    return train.astype(as_float), evaluation.astype(as_float)


def _overlap(train: pd.DataFrame, evaluation: pd.DataFrame) -> dict[str, Any]:
    train_hashes = pd.util.hash_pandas_object(train, index=False)
    eval_hashes = pd.util.hash_pandas_object(evaluation, index=False)
    shared = eval_hashes.isin(train_hashes.to_numpy()).to_numpy()
    rows = int(shared.sum())
    return {
        "rows": rows,
        "fraction": rows / len(evaluation) if len(evaluation) else 0.0,
        "examples": [_json_label(v) for v in evaluation.index[shared][:MAX_EXAMPLES]],
    }


def shared_rows(train: pd.DataFrame, evaluation: pd.DataFrame, columns: list[str]) -> dict[str, Any]:
    """Evaluation rows whose values on `columns` also occur in train, exactly and after normalisation.

    Normalisation lower-cases, strips and collapses whitespace in text, rounds floats to 9 significant digits
    and compares integers with floats, so near-copies (re-typed, re-exported) are found too. Rows are compared
    by 64-bit hashes; "examples" are evaluation index labels.
    """
    train_part, eval_part = _aligned(train[columns], evaluation[columns])
    return {
        "columns": list(columns),
        "train_rows": len(train),
        "evaluation_rows": len(evaluation),
        "exact": _overlap(_categorised(train_part), _categorised(eval_part)),
        "normalised": _overlap(_normalised(train[columns]), _normalised(evaluation[columns])),
    }


def _binary_target(label: np.ndarray) -> np.ndarray:
    classes = np.unique(np.asarray(label))
    if len(classes) != 2:
        raise ValueError(f"single-feature predictiveness needs a binary label, found {len(classes)} classes")
    return (np.asarray(label) == classes[1]).astype(int)  # the sign is irrelevant: AUCs are oriented below


def _as_numbers(column: pd.Series) -> pd.Series | None:
    """Float view of a numeric, boolean or datetime column (time order is a monotone use); None for the rest."""
    if pd.api.types.is_datetime64_any_dtype(column):
        nanos = column.to_numpy("datetime64[ns]").view("int64").astype("float64")
        return pd.Series(nanos, column.index).where(column.notna())
    if pd.api.types.is_numeric_dtype(column):
        return column.astype("float64")
    return None


def _numeric_auc(numbers: pd.Series, y: np.ndarray) -> float:
    # Ranks keep the AUC of the raw value but tolerate +-inf; missing values sit at either end, whichever is
    # more predictive, and either orientation of the feature counts.
    ranks = numbers.rank(method="average")
    best = 0.5
    for sentinel in (0.0, len(ranks) + 1.0):
        auc = float(roc_auc_score(y, ranks.fillna(sentinel).to_numpy()))
        best = max(best, auc, 1.0 - auc)
        if not ranks.isna().any():
            break
    return best


def _categorical_auc(column: pd.Series, y: np.ndarray, seed: int) -> float:
    # Out-of-fold target means: a category seen only in other folds gets their mean, so an id (every value
    # unseen) scores ~0.5 while a genuinely predictive category transfers across folds.
    values = column.astype(object).where(column.notna(), MISSING).astype(str).to_numpy().reshape(-1, 1)
    minority = int(min(y.sum(), len(y) - y.sum()))
    folds = StratifiedKFold(n_splits=max(2, min(5, minority)), shuffle=True, random_state=seed)
    encoder = TargetEncoder(target_type="binary", cv=folds)
    encoded = encoder.fit_transform(values, y)[:, 0]
    return float(roc_auc_score(y, encoded))


def _binned(numbers: pd.Series) -> pd.Series:
    """20 quantile bins of a number with more distinct values: out-of-fold means of any shape of relationship."""
    return pd.qcut(numbers, q=20, labels=False, duplicates="drop") if numbers.nunique() > 20 else numbers


def _ovr_auc(column: pd.Series, y: np.ndarray, seed: int) -> tuple[float, str]:
    """Macro mean over classes of the one-vs-rest AUC of one feature: its out-of-fold class shares (numbers in 20
    quantile bins), or for a number its raw value oriented per class when that is higher."""
    numbers = _as_numbers(column)
    source = column if numbers is None else _binned(numbers)
    values = source.astype(object).where(source.notna(), MISSING).astype(str).to_numpy().reshape(-1, 1)
    smallest = int(np.bincount(y).min())
    folds = StratifiedKFold(n_splits=max(2, min(5, smallest)), shuffle=True, random_state=seed)
    encoded = TargetEncoder(target_type="multiclass", cv=folds).fit_transform(values, y)
    present = np.unique(y)  # the encoder's columns, in order
    binned = float(np.mean([roc_auc_score(y == c, encoded[:, k]) for k, c in enumerate(present)]))
    if numbers is None:
        return binned, "out_of_fold_class_shares"
    raw = float(np.mean([_numeric_auc(numbers, (y == c).astype(int)) for c in present]))
    if raw > binned:
        return raw, "raw_value"
    return binned, "out_of_fold_class_shares_of_20_quantile_bins"


def _out_of_fold_r2(codes: pd.Series, y: np.ndarray, seed: int) -> float:
    # The same out-of-fold target means as for a binary label: an id cannot memorise the target across folds
    values = codes.astype(object).where(codes.notna(), MISSING).astype(str).to_numpy().reshape(-1, 1)
    encoder = TargetEncoder(target_type="continuous", cv=KFold(5, shuffle=True, random_state=seed))
    return float(r2_score(y, encoder.fit_transform(values, y)[:, 0]))


def _feature_r2(column: pd.Series, y: np.ndarray, seed: int) -> tuple[float, str]:
    """Cross-fitted R² of the target from one feature. A number counts by the better of its linear fit (squared
    correlation) and the out-of-fold means of its 20 quantile bins, so a relationship of any shape counts and a
    copy of a heavy-tailed target is not hidden by its wide top bin."""
    numbers = _as_numbers(column)
    if numbers is None:
        return _out_of_fold_r2(column, y, seed), "out_of_fold_target_mean"
    binned = _out_of_fold_r2(_binned(numbers), y, seed)
    known = numbers.notna().to_numpy()
    spread = known.sum() > 2 and numbers[known].std() > 0
    linear = float(np.corrcoef(numbers[known], y[known])[0, 1] ** 2) if spread else 0.0
    if linear > binned:
        return linear, "squared_correlation"
    return binned, "out_of_fold_target_mean_of_20_quantile_bins"


def _mutual_information(frame: pd.DataFrame, y: np.ndarray, seed: int) -> dict[str, float | None]:
    """Mutual information (nats) of each feature with the target; None for a category whose values are nearly all
    distinct (an identifier: the estimator needs repeated values of a discrete feature)."""
    found: dict[str, float | None] = {}
    for name in frame.columns:
        numbers = _as_numbers(frame[name])
        discrete = numbers is None
        if numbers is not None:
            codes = numbers.fillna(numbers.min() - 1).to_numpy()
        elif frame[name].nunique() > len(frame) // 2:
            found[name] = None
            continue
        else:
            codes = pd.factorize(frame[name])[0]
        column = np.asarray(codes, dtype=float).reshape(-1, 1)
        found[name] = float(
            mutual_info_regression(column, y, discrete_features=discrete, random_state=seed)[0]
        )
    return found


def single_feature_predictiveness(
    frame: pd.DataFrame,
    label: np.ndarray,
    columns: list[str],
    *,
    task: str = "binary",
    max_rows: int = 200_000,
    seed: int = 0,
) -> dict[str, Any]:
    """How well each feature alone predicts the label; near 1.0 suggests a leak.

    Binary: ROC AUC. Numeric (and datetime) features: AUC of the raw value, reported as max(auc, 1 - auc); other
    features: AUC of a 5-fold out-of-fold target-mean encoding, which is already oriented (below 0.5 means no
    signal). Multiclass (label: class codes): the macro mean of one-vs-rest AUCs of out-of-fold class shares (see
    _ovr_auc). Regression: R² of the out-of-fold target means (numbers: the better of that over 20 quantile bins
    and the squared correlation), with the mutual information (nats) reported beside it. Missing values are a
    category of their own, or a sentinel rank.
    """
    label = np.asarray(label)
    if len(label) != len(frame):
        raise ValueError(f"label has {len(label)} values for {len(frame)} rows")
    if len(frame) > max_rows:
        keep = np.sort(np.random.default_rng(seed).choice(len(frame), size=max_rows, replace=False))
        frame, label = frame.iloc[keep], label[keep]
    per_feature: dict[str, float] = {}
    encoding: dict[str, str] = {}
    extra: dict[str, Any] = {}
    if task == "regression":
        y = label.astype(float)
        for name in columns:
            per_feature[name], encoding[name] = _feature_r2(frame[name], y, seed)
        extra["mutual_information"] = _mutual_information(frame[columns], y, seed) if columns else {}
    elif task == "multiclass":
        for name in columns:
            per_feature[name], encoding[name] = _ovr_auc(frame[name], label.astype(np.intp), seed)
    else:
        y = _binary_target(label)
        for name in columns:
            numbers = _as_numbers(frame[name])
            if numbers is not None:
                per_feature[name], encoding[name] = _numeric_auc(numbers, y), "raw_value"
            else:
                per_feature[name], encoding[name] = (
                    _categorical_auc(frame[name], y, seed),
                    "out_of_fold_target_mean",
                )
    ranking = sorted(per_feature.items(), key=lambda item: (-item[1], item[0]))
    return {
        "measure": {"regression": "r2", "multiclass": "auc_ovr"}.get(task, "auc"),
        "per_feature": per_feature,
        "encoding": encoding,
        "ranking": [[name, value] for name, value in ranking],
        "max_value": ranking[0][1] if ranking else None,
        "worst_feature": ranking[0][0] if ranking else None,
        "rows_used": len(frame),
        **extra,
    }


def _integer_valued(column: pd.Series) -> bool:
    if pd.api.types.is_integer_dtype(column):
        return True
    if not pd.api.types.is_float_dtype(column):
        return False
    values = column.dropna().to_numpy("float64")
    return len(values) > 0 and bool(np.all(np.isfinite(values) & (values == np.round(values))))


def identifier_columns(
    frame: pd.DataFrame, columns: list[str], *, min_unique_fraction: float = 0.95
) -> dict[str, Any]:
    """Columns that identify rows rather than describe them: a model can only memorise them.

    Flags text or integer columns that are (near) unique per row, columns named like ids with high cardinality,
    and integer columns that are a strictly monotone sequence (row numbers, ordering keys).
    """
    rows = len(frame)
    flagged: dict[str, str] = {}
    unique_fraction: dict[str, float] = {}
    for name in columns:
        column = frame[name]
        distinct = int(column.nunique(dropna=True))
        present = int(column.notna().sum())
        unique_fraction[name] = distinct / rows if rows else 0.0
        integer = _integer_valued(column)
        text = not pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_datetime64_any_dtype(column)
        reasons = []
        if integer and present == rows >= 3:
            step = np.diff(column.to_numpy("float64"))
            if np.all(step > 0) or np.all(step < 0):
                constant = np.all(step == step[0])
                reasons.append(
                    "monotone integer sequence" + (f" with constant step {step[0]:g}" if constant else "")
                )
        if (integer or text) and rows and unique_fraction[name] >= min_unique_fraction:
            reasons.append(f"{unique_fraction[name]:.1%} of rows have a distinct value")
        snake = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", str(name)).lower()
        if (
            ID_NAME.search(re.sub(r"[^a-z0-9]+", "_", snake))
            and present
            and distinct / present >= NAME_MIN_UNIQUE_FRACTION
        ):
            reasons.append(f"id-like name with {distinct} distinct values in {present} non-missing rows")
        if reasons:
            flagged[name] = "; ".join(reasons)
    return {"columns": flagged, "unique_fraction": unique_fraction, "rows": rows}
