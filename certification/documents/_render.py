"""The Jinja environment every document is rendered with (autoescaped HTML, Markdown as text) and the helpers its
templates call."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

ENV = Environment(
    loader=PackageLoader("certification.documents", "templates"), autoescape=select_autoescape()
)


# the order metrics are listed in: a binary classifier's, a multiclass classifier's, then a regressor's
METRIC_ORDER = ("accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc", "log_loss", "brier")
KEY_MULTICLASS_METRICS = ("balanced_accuracy", "macro_f1", "weighted_f1", "roc_auc_ovr", "min_class_recall")
MULTICLASS_ORDER = (*KEY_MULTICLASS_METRICS, "min_class_precision", "top_k_accuracy")
KEY_REGRESSION_METRICS = ("mae", "rmse", "r2", "median_ae", "mape")
REGRESSION_ORDER = (*KEY_REGRESSION_METRICS, "poisson_deviance", "gamma_deviance", "tweedie_deviance")


def _data_uri(path: str) -> str | None:
    """Embed a PNG so the report stays one self-contained file wherever it is copied (MLflow, bundles)."""
    file = Path(path)
    if file.suffix != ".png" or not file.is_file():
        return None
    return "data:image/png;base64," + base64.b64encode(file.read_bytes()).decode()


def scalar_keys(measured: dict[str, Any]) -> list[str]:
    """Measures small enough for the summary table; the rest go into a collapsible detail block."""

    def small(v: Any) -> bool:
        if isinstance(v, dict):
            return len(v) <= 6 and all(not isinstance(x, dict | list) for x in v.values())
        if isinstance(v, list):
            return len(v) <= 12 and all(not isinstance(x, dict | list) for x in v)
        return True

    return [k for k, v in measured.items() if small(v)]


def number(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    return str(value) if isinstance(value, int) else f"{value:.4g}"


def limits(result: dict[str, Any]) -> list[str]:
    """Each min_/max_ bound of a check as 'measure value ≥ limit'."""
    measured, threshold = result.get("measured") or {}, result.get("threshold") or {}
    found = []
    for key, limit in threshold.items():
        kind, name = key[:4], key[4:]
        if kind in ("min_", "max_") and name in measured:
            found.append(f"{name} {number(measured[name])} {'≥' if kind == 'min_' else '≤'} {number(limit)}")
    return found


def render(template: str, **values: Any) -> str:
    return ENV.get_template(template).render(**values)


ENV.filters["data_uri"] = _data_uri
ENV.globals["scalar_keys"] = scalar_keys
ENV.globals["limits"] = limits
ENV.globals["metric_order"] = (*METRIC_ORDER, *MULTICLASS_ORDER, *REGRESSION_ORDER)
ENV.globals["subset"] = lambda mapping, keys: {k: mapping[k] for k in keys}
