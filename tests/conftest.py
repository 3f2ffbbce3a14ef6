"""Shared fixtures: real UCI Adult data, a real trained model, isolated state, and real PostgreSQL.

In CI (CI=true) PostgreSQL must be reachable: the tests that need it fail rather than skip.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import joblib
import pytest
import yaml
from sqlalchemy import create_engine, text

from certification.checks import REGISTRY, CheckResult
from certification.context import RunContext, file_sha256
from certification.datasets import load_adult
from certification.demo import PROTECTED, adult_model
from certification.spec import load_spec

PG_ADMIN_URL = os.environ.get(
    "CERTIFICATION_TEST_PG", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
)
SPEC_TEMPLATE = Path(__file__).resolve().parent.parent / "certification" / "specs" / "adult.yaml"


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


def spec_dict(files: dict[str, Path]) -> dict[str, Any]:
    """The embedded demo spec pointed at local files, with a small attack budget to keep tests quick."""
    spec = yaml.safe_load(SPEC_TEMPLATE.read_text())
    spec["model"] = {"path": str(files["model"]), "sha256": file_sha256(files["model"])}
    for name in ("train", "evaluation"):
        spec["datasets"][name]["path"] = str(files[name])
    spec["checks"]["robustness"].update(sample_size=6, max_iter=2)
    spec["checks"]["data_validation"].update(profile_sample=10_000)
    evaluation = spec["checks"]["evaluation"]
    evaluation.update(bootstrap_resamples=200)
    # Latency is measured for real but judged loosely: test machines run other work at the same time.
    evaluation["latency"].update(time_budget_seconds=2, max_p99_ms={1: 2000}, min_throughput_rows_per_s=100)
    spec["training"]["folds"] = 2
    return spec


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
    name = f"certification_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    base: str = request.getfixturevalue("postgres_url")
    schema_db = f"ledger_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:  # one database per test keeps the hash chains independent
        conn.execute(text(f'CREATE DATABASE "{schema_db}"'))
    admin.dispose()
    request.addfinalizer(lambda: _drop(base, schema_db))
    return base.rsplit("/", 1)[0] + f"/{schema_db}"


def _drop(base: str, name: str) -> None:
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="module")
def adult_ctx(adult_files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> RunContext:
    """An opened run context on the Adult files, profiling every row, with a CV recipe."""
    spec = spec_dict(adult_files)
    spec["checks"]["data_validation"]["profile_sample"] = None
    path = tmp_path_factory.mktemp("spec") / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    return RunContext.open(load_spec(path), tmp_path_factory.mktemp("artifacts"))


def run_check(ctx: RunContext, check_id: str) -> CheckResult:
    found = next(c for stage in REGISTRY.values() for c in stage if c.check_id == check_id)
    return found.run(ctx)


def with_frames(ctx: RunContext, **changes: Any) -> RunContext:
    """A copy of a context with other frames or model, keeping cached nothing (predictions are recomputed)."""
    fields = {"spec": ctx.spec, "model": ctx.model, "train": ctx.train, "evaluation": ctx.evaluation}
    return RunContext(**{**fields, **changes}, datasets=ctx.datasets, artifact_dir=ctx.artifact_dir)


def register_model(model: Any, name: str) -> str:
    """Register an estimator as a new version in the current MLflow registry; returns the version."""
    import mlflow
    import mlflow.sklearn

    from certification.demo import SKOPS_TRUSTED

    with mlflow.start_run():
        info = mlflow.sklearn.log_model(
            model, name="model", registered_model_name=name, skops_trusted_types=SKOPS_TRUSTED
        )
    return str(info.registered_model_version)


def certify(pipeline: Any, spec_path: Path) -> str:
    """A real certification through the library: every stage, both approvals, the certificate and the alias."""
    status = pipeline.run_automated(str(spec_path), submitted_by="dana")
    run_id = status["run"]["run_id"]
    assert status["status"] == "awaiting_signoff", status["gate"]
    for role, who in (("risk", "alice"), ("compliance", "bob")):
        pipeline.signoff(
            run_id, role=role, approver=who, decision="approve", comment="reviewed", channel="cli"
        )
    assert pipeline.finalize(run_id)["verdict"] == "certified"
    return str(run_id)


REPO = Path(__file__).resolve().parent.parent


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


def demo_spec(**monitoring: Any) -> Path:
    """The demo's spec and freshly registered model (`certification.demo.prepare`) with a small attack budget and
    latency judged loosely, as in `spec_dict`; `monitoring` updates the spec's monitoring section."""
    from certification import demo
    from certification.config import settings

    spec_path = demo.prepare(settings())
    spec = yaml.safe_load(spec_path.read_text())
    spec["checks"]["robustness"].update(sample_size=6, max_iter=2)
    spec["checks"]["evaluation"]["latency"].update(max_p99_ms={1: 2000}, min_throughput_rows_per_s=100)
    spec["monitoring"].update(monitoring)
    spec_path.write_text(yaml.safe_dump(spec))
    return spec_path


def demo_script() -> ModuleType:
    """scripts/demo.py is a script, not a package module: load it by path to reuse its Airflow plumbing."""
    spec = importlib.util.spec_from_file_location("demo_script", REPO / "scripts" / "demo.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def airflow(env: dict[str, str], *args: str, log: Path) -> str:
    with log.open("w") as out:  # a pipe would fill up with Airflow's logs and stall it
        done = subprocess.run(
            ["airflow", *args], env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT
        )
    text = log.read_text()
    assert done.returncode == 0, text[-4000:]
    return text


def certification_runs(
    env: dict[str, str], log: Path, known: frozenset[str] = frozenset()
) -> list[dict[str, Any]]:
    """model_certification runs in the Airflow metadata, except those `known` (other tests share the database)."""
    import sqlite3

    airflow(env, "dags", "list-runs", "model_certification", "-o", "json", log=log)  # the CLI sees them too
    with sqlite3.connect(Path(env["AIRFLOW_HOME"]) / "airflow.db") as db:
        rows = db.execute(
            "SELECT run_id, conf, state FROM dag_run WHERE dag_id = 'model_certification'"
        ).fetchall()
    found = [
        {"run_id": r, "conf": json.loads(c) if isinstance(c, str) else c, "state": s} for r, c, s in rows
    ]
    return [run for run in found if run["run_id"] not in known]
