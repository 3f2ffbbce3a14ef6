"""Evidence plots as PNG files (matplotlib, headless): reliability diagrams and estimates with intervals."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def _figure(path: Path, height: float) -> Iterator[Any]:
    import matplotlib

    matplotlib.use("Agg")  # no display on workers
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, height), dpi=110)
    try:
        yield ax
        fig.tight_layout()
        fig.savefig(path)
    finally:
        plt.close(fig)


def reliability_diagram(
    table: Sequence[dict[str, float]],
    ece: float,
    path: Path,
    *,
    keys: tuple[str, str] = ("mean_score", "observed_rate"),
    axes: tuple[str, str] = ("mean predicted probability", "observed positive rate"),
    title: str | None = None,
) -> Path:
    """Observed outcome against mean prediction per bin; bubble area shows how many rows. Probabilities fill the
    unit square; a regression's bins (keys and axes given) span the range of their values."""
    x, y = [r[keys[0]] for r in table], [r[keys[1]] for r in table]
    probability = keys == ("mean_score", "observed_rate")
    low, high = (0.0, 1.0) if probability else (min(*x, *y), max(*x, *y))
    with _figure(path, 4.8) as ax:
        ax.plot([low, high], [low, high], linestyle="--", color="#888", label="perfect calibration")
        counts = [r.get("count", r.get("rows", 0)) for r in table]
        total = sum(counts) or 1
        ax.scatter(
            x,
            y,
            s=[30 + 900 * c / total for c in counts],
            color="#1f5f8b",
            alpha=0.8,
            label="bins (area ∝ rows)",
        )
        ax.plot(x, y, color="#1f5f8b")
        ax.set(xlabel=axes[0], ylabel=axes[1])
        if probability:
            ax.set(xlim=(0, 1), ylim=(0, 1))
        ax.set_title(title or f"Reliability diagram — ECE {ece:.4f}")
        ax.legend(loc="upper left")
    return path


def classwise_reliability(
    tables: Mapping[str, Sequence[dict[str, float]]], path: Path, *, title: str
) -> Path:
    """One reliability curve per class (one vs rest: its probability column against the share of its rows)."""
    with _figure(path, 4.8) as ax:
        ax.plot([0, 1], [0, 1], linestyle="--", color="#888", label="perfect calibration")
        for name, table in tables.items():
            ax.plot(
                [r["mean_score"] for r in table], [r["observed_rate"] for r in table], marker="o", label=name
            )
        ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="mean predicted probability of the class")
        ax.set(ylabel="observed share of the class")
        ax.set_title(title)
        ax.legend(loc="upper left")
    return path


def confusion_matrix(counts: Sequence[Sequence[int]], classes: Sequence[str], path: Path) -> Path:
    """Rows the true class, columns the predicted one; each cell its count and its share of the true class."""
    import numpy as np

    matrix = np.asarray(counts, dtype=float)
    shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    with _figure(path, 1.6 + 0.55 * len(classes)) as ax:
        ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
        ax.set_xticks(range(len(classes)), classes, rotation=30, ha="right")
        ax.set_yticks(range(len(classes)), classes)
        for (i, j), value in np.ndenumerate(matrix):
            color = "white" if shares[i, j] > 0.6 else "#222"
            ax.text(
                j, i, f"{int(value):,}\n{shares[i, j]:.0%}", ha="center", va="center", fontsize=8, color=color
            )
        ax.set(xlabel="predicted class", ylabel="true class")
        ax.set_title("Confusion matrix (share of each true class)")
    return path


def interval_chart(
    rows: Sequence[tuple[str, float, float, float]],
    path: Path,
    *,
    title: str,
    xlabel: str,
    reference: float | None = None,
) -> Path:
    """One horizontal bar per (label, value, lower, upper), with its confidence interval as an error bar."""
    with _figure(path, 1.2 + 0.38 * len(rows)) as ax:
        labels = [r[0] for r in rows][::-1]
        values = [r[1] for r in rows][::-1]
        errors = [[max(r[1] - r[2], 0.0) for r in rows][::-1], [max(r[3] - r[1], 0.0) for r in rows][::-1]]
        ax.barh(labels, values, xerr=errors, color="#9cc3de", edgecolor="#1f5f8b", capsize=3)
        if reference is not None:
            ax.axvline(reference, color="#b03a2e", linestyle="--", linewidth=1)
        ax.set_xlabel(xlabel)
        ax.set_title(title)
    return path


def robustness_curve(
    curves: dict[str, Sequence[tuple[float, float, float, float]]], path: Path, *, title: str, budget: float
) -> Path:
    """Each named curve as (budget, value, lower, upper) points with its confidence band; the judged budget marked."""
    with _figure(path, 4.4) as ax:
        for (name, points), color in zip(curves.items(), ("#1f5f8b", "#b03a2e"), strict=False):
            x = [p[0] for p in points]
            ax.plot(x, [p[1] for p in points], marker="o", color=color, label=name)
            ax.fill_between(x, [p[2] for p in points], [p[3] for p in points], color=color, alpha=0.15)
        ax.axvline(budget, color="#555", linestyle="--", linewidth=1, label=f"judged budget ε = {budget:g}")
        ax.set(ylim=(0, 1), xlabel="ε: largest move per feature, in standard deviations", ylabel="share")
        ax.set_title(title)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=3, frameon=False)
    return path


def monitoring_trend(
    series: Mapping[str, Sequence[tuple[str, float | None]]],
    breached: Sequence[str],
    path: Path,
    *,
    title: str,
) -> Path:
    """Each monitored measure as a share of its threshold, window by window (1 = the limit); breached windows red."""
    from datetime import datetime

    with _figure(path, 3.8) as ax:
        for name, points in series.items():
            known = [(datetime.fromisoformat(t), v) for t, v in points if v is not None]
            if known:
                ax.plot([t for t, _ in known], [v for _, v in known], marker="o", markersize=3, label=name)
        for moment in breached:
            ax.axvline(datetime.fromisoformat(moment), color="#b03a2e", alpha=0.25, linewidth=6)
        ax.axhline(1.0, color="#b03a2e", linestyle="--", linewidth=1, label="threshold")
        ax.set(
            ylabel="measure ÷ its threshold", ylim=(min(0.0, ax.get_ylim()[0]), max(1.5, ax.get_ylim()[1]))
        )
        ax.set_title(title)
        import matplotlib.dates as mdates

        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(ax.xaxis.get_major_locator()))
        ax.tick_params(axis="x", labelsize=7)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.32), ncol=3, frameon=False, fontsize=8)
    return path
