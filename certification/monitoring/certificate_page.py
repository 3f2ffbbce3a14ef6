"""The certificate's page kept current: the trend of every judged window (each measure as a share of its threshold)
and the run's documents rewritten with the monitoring timeline, logged to the certification's MLflow run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from certification import plots, tracking
from certification.documents import TREND
from certification.ledger.certificates import timeline
from certification.run.records import Runs
from certification.spec import Spec


def trend(runs: Runs, run_id: str) -> Path | None:
    """Plot every judged window of the run's certificate: each measure as a share of its threshold."""
    history = timeline(runs.ledger, run_id)
    judged = [w for w in (history or {}).get("windows", []) if w["status"] != "insufficient_data"]
    if not history or not judged:
        return None
    policy = Spec.model_validate(runs.run_row(run_id)["spec_json"]).monitoring
    assert policy is not None

    def share(measure: Any, limit: float) -> list[tuple[str, float | None]]:
        points = []
        for w in judged:
            value = measure(w["summary_json"])
            points.append((w["window_end"], None if value is None else value / limit))
        return points

    def accuracy_drop(s: dict[str, Any]) -> float | None:
        return None if s.get("accuracy") is None else s["baseline_accuracy"] - s["accuracy"]

    def error_growth(s: dict[str, Any]) -> float | None:
        return None if s.get("mae") is None else s["mae"] / s["baseline_mae"] - 1

    series = {
        "largest input PSI": share(
            lambda s: max(s["feature_psi"].values(), default=0.0), policy.max_feature_psi
        ),
        "Evidently drifted share": share(
            lambda s: s["evidently"] and s["evidently"]["drifted_share"], policy.max_drift_share
        ),
        "score PSI": share(lambda s: s["score_psi"], policy.max_score_psi),
        "accuracy drop": share(accuracy_drop, policy.max_accuracy_drop),
        "MAE growth": share(error_growth, policy.max_error_increase),
        "largest group-gap growth": share(lambda s: s["max_gap_increase"], policy.max_fairness_gap_increase),
    }
    breached = [w["window_end"] for w in judged if w["status"] == "breach"]
    path = runs.settings.run_dir(run_id) / TREND
    return plots.monitoring_trend(series, breached, path, title=f"Monitoring of {history['certificate_id']}")


def publish(runs: Runs, run_id: str) -> list[Path]:
    """Redraw the trend and rewrite the run's documents, so the certificate's page shows its monitoring timeline;
    log them with each window's comparison to the certification's MLflow run."""
    plot = trend(runs, run_id)
    folder = runs.settings.run_dir(run_id)
    paths = runs.write_documents(runs.status(run_id))
    mlflow_run_id = (runs.ledger.run(run_id) or {}).get("mlflow_run_id")
    if mlflow_run_id:  # the evidence next to the certification's own, in its MLflow run
        evidence = [*paths, *([plot] if plot else []), *sorted((folder / "monitoring").glob("*.json"))]
        tracking.log_artifacts(runs.settings, mlflow_run_id, evidence, "monitoring")
    return paths
