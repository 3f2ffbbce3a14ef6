"""Shared fixtures: real UCI Adult data, a real trained model, isolated state, real PostgreSQL, an Airflow metadata
database per module; and the markers that let the fast part run alone.

`integration` marks every test that needs a service: those under tests/integration/ (Airflow, Celery, the browser,
PostgreSQL roles) and any test that uses PostgreSQL (`postgres_url`, or the postgresql case of `ledger_url`).
`pytest -m "not integration"` runs the rest with nothing started. In CI (CI=true) PostgreSQL must be reachable: the
tests that need it fail rather than skip.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import joblib
import pytest
import yaml
from sqlalchemy import create_engine, text

from certification.demo import PROTECTED, adult_model
from certification.demo.datasets import load_adult
from certification.demo.stack import scratch_database
from certification.run.context import RunContext
from certification.spec import load_spec
from tests.helpers import PG_ADMIN_URL, REPO, spec_dict

INTEGRATION = Path(__file__).resolve().parent / "integration"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        uses_postgres = "postgres_url" in getattr(item, "fixturenames", ())
        if uses_postgres:
            item.add_marker(pytest.mark.postgres)
        if uses_postgres or INTEGRATION in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def adult_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Adult train/evaluation CSVs and a HistGradientBoosting pipeline saved with joblib."""
    folder = tmp_path_factory.mktemp("adult")
    train, evaluation = load_adult("train"), load_adult("test")
    train.to_csv(folder / "train.csv", index=False)
    evaluation.to_csv(folder / "evaluation.csv", index=False)
    features = [c for c in train.columns if c not in (*PROTECTED, "income")]
    joblib.dump(adult_model(train, features), folder / "model.joblib")
    return {
        "train": folder / "train.csv",
        "evaluation": folder / "evaluation.csv",
        "model": folder / "model.joblib",
    }


@pytest.fixture
def write_spec(tmp_path: Path, adult_files: dict[str, Path]):  # type: ignore[no-untyped-def]
    def write(change: Any = None, name: str = "spec.yaml") -> Path:
        spec = spec_dict(adult_files)
        if change:
            change(spec)
        path = tmp_path / name
        path.write_text(yaml.safe_dump(spec, sort_keys=False))
        return path

    return write


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    state = tmp_path / "state"
    monkeypatch.setenv("CERTIFICATION_HOME", str(state))
    monkeypatch.delenv("CERTIFICATION_LEDGER_URL", raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    import mlflow

    # an earlier test's global URI must not leak
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    return state


def _postgres_available() -> bool:
    try:
        with create_engine(PG_ADMIN_URL).connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped afterwards."""
    if not _postgres_available():
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required in CI but unreachable at {PG_ADMIN_URL}")
        pytest.skip("PostgreSQL is not reachable (start it, or run in CI where it is required)")
    with scratch_database(PG_ADMIN_URL, "certification_test") as url:
        yield url


@pytest.fixture
def postgres_database(postgres_url: str) -> Iterator[str]:
    """A database of its own on the test server, for a test that needs one nobody else writes to."""
    with scratch_database(postgres_url, "test") as url:
        yield url


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=[pytest.mark.postgres, pytest.mark.integration])]
)
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A ledger of its own per test (the hash chains stay independent), on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    url: str = request.getfixturevalue("postgres_database")
    return url


@pytest.fixture(scope="module")
def adult_ctx(adult_files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> RunContext:
    """An opened run context on the Adult files, profiling every row, with a CV recipe."""
    spec = spec_dict(adult_files)
    spec["checks"]["data_validation"]["profile_sample"] = None
    path = tmp_path_factory.mktemp("spec") / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    return RunContext.open(load_spec(path), tmp_path_factory.mktemp("artifacts"))


# one Airflow metadata database per test module: DAG runs of one module must not show up in another
@pytest.fixture(scope="module")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    home = tmp_path_factory.mktemp("airflow")
    env = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    subprocess.run(["airflow", "db", "migrate"], env={**os.environ, **env}, check=True, capture_output=True)
    return env
