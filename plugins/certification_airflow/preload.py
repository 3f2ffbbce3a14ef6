"""Import the certification library and the heavy libraries its stages use once, in the process that forks the
task processes, instead of once per task.

Airflow 3 forks every task from a long-lived process: a LocalExecutor worker (itself forked from the scheduler) or
a Celery worker's pool process (forked from the worker). A task of model_certification otherwise spends ~5 s
importing scikit-learn, ART, Evidently and MLflow before its work starts, which on a short stage is most of its
time. Set `CERTIFICATION_PRELOAD=1` on the scheduler (LocalExecutor) or on the Celery workers, not on the API
server, DAG processor or triggerer, which never run tasks: the scheduler imports this module with the plugins
(plugins/certification_plugin.py), a Celery worker through `celery_config.CELERY_CONFIG["imports"]`.
"""

from __future__ import annotations

import importlib

from certification.config import settings

MODULES = (
    "certification.run.pipeline",
    "certification.plots",
    "evidently",
    "evidently.metrics",
    "evidently.presets",
    "matplotlib.pyplot",
    "mlflow",
    "mlflow.sklearn",
    "pyarrow.dataset",
    "scipy.stats",
    "sklearn.model_selection",
)


def preload() -> None:
    import matplotlib

    matplotlib.use("Agg")  # before pyplot: the forked tasks must not inherit an interactive backend
    for name in MODULES:
        importlib.import_module(name)


if settings().preload:
    preload()
