"""Airflow's Celery configuration plus the preload: set `[celery] celery_config_options` to
`certification_airflow.celery_config.CELERY_CONFIG` so that each worker imports `preload` before it forks its
pool (see preload.py)."""

from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG

CELERY_CONFIG = {**DEFAULT_CELERY_CONFIG, "imports": ["certification_airflow.preload"]}
