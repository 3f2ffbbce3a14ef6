"""The plugin Airflow loads from this folder: the certification dashboard (FastAPI app and navigation entry) and,
with CERTIFICATION_PRELOAD=1, the library imported once in the process that forks tasks. The package
certification_airflow/ beside it is imported as a package (the DAGs and this file do), never scanned file by file
(.airflowignore)."""

import certification_airflow.preload  # noqa: F401 - preloads when asked, before the scheduler forks tasks
from certification_airflow.dashboard import CertificationDashboard

__all__ = ["CertificationDashboard"]
