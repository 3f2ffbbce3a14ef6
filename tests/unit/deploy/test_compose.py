"""Structural checks for docker-compose.yml (no Docker engine needed).

The file is checked the way `docker compose config` would see it with an empty environment:
every `${VAR:-default}` is replaced by its default and `$$` by a literal `$`.
"""

from __future__ import annotations

import re
from graphlib import TopologicalSorter
from typing import Any

import pytest
import yaml

from tests.helpers import REPO

COMPOSE_FILE = REPO / "docker-compose.yml"
REQUIRED_SERVICES = {
    "postgres",
    "redis",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
    "airflow-init",
    "mlflow",
}
ONE_SHOT = {"airflow-init"}
METADATA_DB = "postgresql+psycopg2://airflow:airflow@postgres/airflow"
LEDGER_DB = "postgresql+psycopg2://certification:certification@postgres/certification"
EXECUTION_API = "http://airflow-apiserver:8080/execution/"

# `$$` is compose's escape for a literal `$`; anything else starting with `$` is interpolated.
VAR_REF = re.compile(r"\$\$|\$\{([^}]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")
DEFAULTED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*:-(?P<default>.*)$", re.DOTALL)


def _strings(node: Any):
    """Yield every string (mapping keys included) in a loaded YAML tree."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _strings(key)
            yield from _strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)
    elif isinstance(node, str):
        yield node


def _interpolate(node: Any) -> Any:
    """Resolve variables with their defaults, like `docker compose config` with nothing set."""
    if isinstance(node, dict):
        return {_interpolate(k): _interpolate(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_interpolate(item) for item in node]
    if isinstance(node, str):
        return VAR_REF.sub(_resolve, node)
    return node


def _resolve(match: re.Match[str]) -> str:
    if match.group(0) == "$$":
        return "$"
    defaulted = DEFAULTED.match(match.group(1) or "")
    return defaulted.group("default") if defaulted else match.group(0)


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def compose(raw: dict[str, Any]) -> dict[str, Any]:
    return _interpolate(raw)


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def _airflow(services: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {name: svc for name, svc in services.items() if name.startswith("airflow-")}


def _env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    assert isinstance(env, dict), "use the mapping form for environment"
    return env


def _depends_on(service: dict[str, Any]) -> dict[str, str]:
    deps = service.get("depends_on", {})
    if isinstance(deps, list):
        return dict.fromkeys(deps, "service_started")
    return {name: spec.get("condition", "service_started") for name, spec in deps.items()}


def _test_cmd(service: dict[str, Any]) -> str:
    test = service.get("healthcheck", {}).get("test", "")
    return test if isinstance(test, str) else " ".join(test)


def _published_ports(service: dict[str, Any]) -> set[str]:
    """Host ports: `HOST:CONTAINER`, `IP:HOST:CONTAINER` or the long syntax."""
    hosts = {
        str(p["published"]) if isinstance(p, dict) else ":".join(str(p).split(":")[-2:-1])
        for p in service.get("ports", [])
    }
    return hosts - {""}


def test_every_variable_reference_has_a_default(raw: dict[str, Any]) -> None:
    refs = [m for s in _strings(raw) for m in VAR_REF.finditer(s) if m.group(0) != "$$"]
    assert refs, "expected interpolated secrets/settings"
    undefaulted = [m.group(0) for m in refs if m.group(1) is None or not DEFAULTED.match(m.group(1))]
    assert not undefaulted, f"references without a `:-` default (use $$ for shell variables): {undefaulted}"


def test_no_obsolete_version_key_and_no_container_names(raw: dict[str, Any]) -> None:
    assert "version" not in raw
    assert "container_name" not in set(_strings(raw))


def test_required_services_present(services: dict[str, dict[str, Any]]) -> None:
    assert services.keys() >= REQUIRED_SERVICES


def test_airflow_services_share_core_settings(services: dict[str, dict[str, Any]]) -> None:
    envs = {name: _env(svc) for name, svc in _airflow(services).items()}
    assert {name for name in REQUIRED_SERVICES if name.startswith("airflow-")} <= envs.keys()
    for name, env in envs.items():
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == METADATA_DB, name
        assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == EXECUTION_API, name
        assert env["AIRFLOW_CONN_CERTIFICATION_LEDGER"] == env["CERTIFICATION_LEDGER_URL"] == LEDGER_DB, name
        assert env["MLFLOW_TRACKING_URI"] == "http://mlflow:5000", name
    secrets = {env["AIRFLOW__API_AUTH__JWT_SECRET"] for env in envs.values()}
    assert len(secrets) == 1 and secrets.pop(), "all Airflow components need the same non-empty JWT secret"


def test_jwt_placeholder_is_marked_change_me(raw: dict[str, Any]) -> None:
    assert "change-me" in _env(raw["services"]["airflow-scheduler"])["AIRFLOW__API_AUTH__JWT_SECRET"].lower()


def test_long_running_services_have_healthchecks(services: dict[str, dict[str, Any]]) -> None:
    for name, svc in services.items():
        if name not in ONE_SHOT:
            assert _test_cmd(svc), f"{name} has no healthcheck"
    assert "/api/v2/monitor/health" in _test_cmd(services["airflow-apiserver"])
    assert "localhost:8974/health" in _test_cmd(services["airflow-scheduler"])
    assert "DagProcessorJob" in _test_cmd(services["airflow-dag-processor"])
    assert "TriggererJob" in _test_cmd(services["airflow-triggerer"])
    assert 'inspect ping -d "celery@${HOSTNAME}"' in _test_cmd(services["airflow-worker"])
    assert "pg_isready" in _test_cmd(services["postgres"])
    assert "redis-cli ping" in _test_cmd(services["redis"])


def test_worker_is_scalable(services: dict[str, dict[str, Any]]) -> None:
    worker = services["airflow-worker"]
    assert "container_name" not in worker and not worker.get("ports")
    assert worker["command"] == "celery worker"
    assert _env(worker)["DUMB_INIT_SETSID"] == "0"


def test_airflow_services_wait_for_init_and_backing_services(services: dict[str, dict[str, Any]]) -> None:
    for name, svc in _airflow(services).items():
        deps = _depends_on(svc)
        assert deps.get("postgres") == deps.get("redis") == "service_healthy", name
        if name not in ONE_SHOT:
            assert deps.get("airflow-init") == "service_completed_successfully", name
    assert _depends_on(services["mlflow"])["postgres"] == "service_healthy"


def test_depends_on_targets_exist_and_are_acyclic(services: dict[str, dict[str, Any]]) -> None:
    for name, svc in services.items():
        missing = _depends_on(svc).keys() - services.keys()
        assert not missing, f"{name} depends on unknown services {missing}"
    # Raises CycleError if the startup order is unsatisfiable.
    tuple(TopologicalSorter({name: _depends_on(svc).keys() for name, svc in services.items()}).static_order())


def test_init_migrates_metadata_and_ledger(services: dict[str, dict[str, Any]]) -> None:
    init = services["airflow-init"]
    script = init["command"] if isinstance(init["command"], str) else "\n".join(init["command"])
    assert script.index("airflow db migrate") < script.index("certify ledger init")
    assert "restart" not in init and "healthcheck" not in init


def test_postgres_init_config_creates_databases(compose: dict[str, Any]) -> None:
    mounts = compose["services"]["postgres"]["configs"]
    (mount,) = [m for m in mounts if m["target"].startswith("/docker-entrypoint-initdb.d/")]
    assert mount["target"].endswith(".sql")
    sql = compose["configs"][mount["source"]]["content"]
    for db in ("certification", "mlflow"):
        assert re.search(rf"CREATE DATABASE {db}\b", sql, re.IGNORECASE), db


def test_ports_published(services: dict[str, dict[str, Any]]) -> None:
    assert "8080" in _published_ports(services["airflow-apiserver"])
    assert "5000" in _published_ports(services["mlflow"])


def test_named_volumes_declared(compose: dict[str, Any]) -> None:
    declared = set(compose.get("volumes") or {})
    used = {
        (v if isinstance(v, str) else v["source"]).split(":")[0]
        for svc in compose["services"].values()
        for v in svc.get("volumes", [])
    }
    named = {src for src in used if not src.startswith((".", "/", "~"))}
    assert {"postgres-db-volume", "mlflow-artifacts"} <= named
    assert named <= declared, f"undeclared named volumes: {named - declared}"


def test_mlflow_uses_postgres_backend_store(services: dict[str, dict[str, Any]]) -> None:
    command = services["mlflow"]["command"]
    args = command.split() if isinstance(command, str) else command
    assert args[:2] == ["mlflow", "server"]
    backend = args[args.index("--backend-store-uri") + 1]
    assert backend == "postgresql+psycopg2://mlflow:mlflow@postgres/mlflow"
    assert "--serve-artifacts" in args
