"""MLflow: one run per certification run, metrics and artifacts per stage, and the `certified` registry alias."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from certification.config import Settings
from certification.errors import CertificationError, InputError

if TYPE_CHECKING:
    from mlflow import MlflowClient

EXPERIMENT = "model-certification"
CERTIFIED_ALIAS = "certified"
_METRIC_UNSAFE = re.compile(r"[^\w./ -]")
MAX_BATCH_METRICS, MAX_BATCH_TAGS = 1000, 100  # MLflow's limits per log_batch request
_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:/(?P<version>\d+)|@(?P<alias>[\w-]+))$")


@contextmanager
def _mlflow_errors(action: str) -> Iterator[None]:
    from mlflow.exceptions import MlflowException

    try:
        yield
    except MlflowException as exc:
        raise CertificationError(f"MLflow could not {action}: {exc}") from exc


def client(settings: Settings | None = None) -> MlflowClient:
    import mlflow

    if settings is not None:
        mlflow.set_tracking_uri(settings.tracking_uri)
    return mlflow.MlflowClient()


def start_run(settings: Settings, run_id: str, tags: dict[str, str]) -> str:
    """Create (or, on a retry, find) the MLflow run of a certification run."""
    mlflow_client = client(settings)
    with _mlflow_errors("start a run"):
        experiment = mlflow_client.get_experiment_by_name(EXPERIMENT)
        experiment_id = (
            experiment.experiment_id
            if experiment
            else mlflow_client.create_experiment(
                EXPERIMENT, artifact_location=settings.artifact_root.as_uri()
            )
        )
        found = mlflow_client.search_runs([experiment_id], f"tags.`certification.run_id` = '{run_id}'")
        if found:
            return str(found[0].info.run_id)
        created = mlflow_client.create_run(
            experiment_id, run_name=run_id, tags={"certification.run_id": run_id, **tags}
        )
        return str(created.info.run_id)


def _numbers(prefix: str, value: Any) -> Iterator[tuple[str, float]]:
    if isinstance(value, bool | int | float):
        yield prefix, float(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _numbers(f"{prefix}.{_METRIC_UNSAFE.sub('_', str(key))}", item)


def log_stage(
    settings: Settings, mlflow_run_id: str, stage: str, results: list[dict[str, Any]], report: Path
) -> None:
    """A stage's checks (as `CheckResult.to_dict()` gives them): numeric measures as metrics, statuses as tags,
    evidence files and the stage's results file as artifacts. Metrics and tags go in batches (a fairness stage
    measures over a thousand numbers; one request each would cost seconds)."""
    import math
    import time

    from mlflow.entities import Metric, RunTag

    now = int(time.time() * 1000)
    metrics = [
        Metric(key, number, now, 0)
        for result in results
        for key, number in _numbers(result["check_id"], result["measured"])
        if math.isfinite(number)
    ]
    tags = [RunTag(f"check.{result['check_id']}", result["status"]) for result in results]
    mlflow_client = client(settings)
    with _mlflow_errors(f"log the {stage} stage"):
        for at in range(0, len(metrics), MAX_BATCH_METRICS):
            mlflow_client.log_batch(mlflow_run_id, metrics=metrics[at : at + MAX_BATCH_METRICS])
        for at in range(0, len(tags), MAX_BATCH_TAGS):
            mlflow_client.log_batch(mlflow_run_id, tags=tags[at : at + MAX_BATCH_TAGS])
        for result in results:
            for evidence in result["evidence"]:
                mlflow_client.log_artifact(mlflow_run_id, evidence, artifact_path=f"evidence/{stage}")
        mlflow_client.log_artifact(mlflow_run_id, str(report), artifact_path="results")


def log_datasets(settings: Settings, mlflow_run_id: str, datasets: dict[str, dict[str, Any]]) -> None:
    """Record each dataset as an MLflow run input: source URI, content digest and schema snapshot."""
    from mlflow.data.http_dataset_source import HTTPDatasetSource
    from mlflow.data.meta_dataset import MetaDataset
    from mlflow.data.sources import LocalArtifactDatasetSource  # type: ignore[attr-defined]
    from mlflow.entities import DatasetInput, InputTag
    from mlflow.types import ColSpec, Schema

    kinds = {"i": "long", "u": "long", "f": "double", "b": "boolean"}
    inputs = []
    for name, info in datasets.items():
        url = info["source"].split()[0] if info["source"] else ""
        source = (
            HTTPDatasetSource(url) if url.startswith("http") else LocalArtifactDatasetSource(info["path"])
        )
        schema = Schema(
            [
                ColSpec(kinds.get(_dtype_kind(dtype), "string"), column)
                for column, dtype in info["schema"].items()
            ]
        )
        dataset = MetaDataset(source, name=name, digest=info["sha256"][:32], schema=schema)  # type: ignore[abstract]
        inputs.append(DatasetInput(dataset._to_mlflow_entity(), [InputTag("mlflow.data.context", name)]))
    with _mlflow_errors("record the datasets"):
        client(settings).log_inputs(mlflow_run_id, datasets=inputs)


def _dtype_kind(dtype: str) -> str:
    import numpy as np

    try:
        return np.dtype(dtype).kind
    except TypeError:
        return "O"  # pandas extension types (string, category) are logged as strings


def log_artifacts(
    settings: Settings, mlflow_run_id: str, paths: list[Path], folder: str, tags: dict[str, str] | None = None
) -> None:
    mlflow_client = client(settings)
    with _mlflow_errors("log artifacts"):
        for path in paths:
            mlflow_client.log_artifact(mlflow_run_id, str(path), artifact_path=folder)
        for key, value in (tags or {}).items():
            mlflow_client.set_tag(mlflow_run_id, key, value)


def finish(settings: Settings, mlflow_run_id: str, verdict: str) -> None:
    mlflow_client = client(settings)
    with _mlflow_errors("close the run"):
        mlflow_client.set_tag(mlflow_run_id, "certification.verdict", verdict)
        mlflow_client.set_terminated(mlflow_run_id, "FINISHED" if verdict == "certified" else "FAILED")


def parse_uri(uri: str) -> tuple[str, str | None, str | None]:
    match = _URI.match(uri)
    if not match:
        raise InputError(uri, "expected models:/name/version or models:/name@alias", field="model.uri")
    return match["name"], match["version"], match["alias"]


def _version(name: str, version: str | None, alias: str | None) -> Any:
    mlflow_client = client()
    if alias:
        return mlflow_client.get_model_version_by_alias(name, alias)
    return mlflow_client.get_model_version(name, str(version))


def resolve_version(uri: str) -> str:
    """The concrete `models:/name/version` an alias or version URI stands for, without downloading the model."""
    name, version, alias = parse_uri(uri)
    with _mlflow_errors(f"resolve {uri}"):
        return f"models:/{name}/{_version(name, version, alias).version}"


# MLflow flavours whose own loader gives an estimator with predict_proba, in order of preference (a version
# logged with several, e.g. an sklearn pipeline, loads with the first); any other model loads as python_function
NATIVE_FLAVOURS = ("sklearn", "xgboost", "lightgbm")


def load_version(uri: str) -> tuple[Any, str, str, Path, str]:
    """Resolve an alias to its concrete version, download the version's files and load them with the native loader
    of its flavour, else as python_function: (model, name, version, local folder, flavour)."""
    import importlib

    import mlflow
    from mlflow.exceptions import MlflowException
    from mlflow.models import Model

    name, version, alias = parse_uri(uri)
    try:
        found = _version(name, version, alias)
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{name}/{found.version}"))
        flavours = list(Model.load(str(local)).flavors)
        flavour = next((f for f in (*NATIVE_FLAVOURS, "python_function") if f in flavours), None)
        if flavour is None:
            raise InputError(
                uri, f"flavours {flavours}: neither a native loader nor python_function", field="model.uri"
            )
        module = "pyfunc" if flavour == "python_function" else flavour
        estimator = importlib.import_module(f"mlflow.{module}").load_model(str(local))
    except InputError:
        raise
    except MlflowException as exc:
        raise InputError(uri, f"cannot load the registered model: {exc.message}", field="model.uri") from exc
    except Exception as exc:
        raise InputError(uri, f"cannot load the registered model: {exc}", field="model.uri") from exc
    return estimator, name, str(found.version), local, flavour


# what a logged model needs besides mlflow, numpy and pandas, by flavour (distribution names, pinned as installed)
FLAVOUR_REQUIREMENTS = {
    "sklearn": ("scikit-learn", "skops", "scipy"),
    "xgboost": ("xgboost-cpu", "scikit-learn"),
    "lightgbm": ("lightgbm", "scikit-learn"),
}


def register_model(
    settings: Settings,
    model: Any,
    name: str,
    alias: str | None,
    input_example: Any,
    *,
    flavour: str = "sklearn",
    trusted_types: list[str] | None = None,
    run_name: str,
    experiment: str = "model-training",
) -> str:
    """Log a model with its own MLflow flavour (scikit-learn through skops, not pickle) as a new version of `name`,
    point `alias` (if any) at it, and return the version."""
    import importlib
    from importlib.metadata import version as installed

    import mlflow

    mlflow.set_tracking_uri(settings.tracking_uri)
    found = mlflow.get_experiment_by_name(experiment)
    experiment_id = (
        found.experiment_id
        if found
        else mlflow.create_experiment(experiment, artifact_location=settings.artifact_root.as_uri())
    )
    # pinned here: MLflow would otherwise load the model in a subprocess to infer them (about 11 s) and list
    # whatever that process imported
    requirements = [
        f"{p}=={installed(p)}" for p in ("mlflow", "numpy", "pandas", *FLAVOUR_REQUIREMENTS[flavour])
    ]
    options = {"skops_trusted_types": trusted_types} if flavour == "sklearn" else {}
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name):
        info = importlib.import_module(f"mlflow.{flavour}").log_model(
            model,
            name="model",
            registered_model_name=name,
            input_example=input_example,
            pip_requirements=requirements,
            **options,
        )
    registered = str(info.registered_model_version)
    if alias:
        mlflow.MlflowClient().set_registered_model_alias(name, alias, registered)
    return registered


def promote(settings: Settings, name: str, version: str, tags: dict[str, str]) -> None:
    """Point the `certified` alias at a version; only ever called after the certificate is in the ledger."""
    mlflow_client = client(settings)
    with _mlflow_errors("set the certified alias"):
        for key, value in tags.items():
            mlflow_client.set_model_version_tag(name, version, key, value)
        mlflow_client.set_registered_model_alias(name, CERTIFIED_ALIAS, version)


def certified_aliases(settings: Settings | None = None) -> list[tuple[str, str, dict[str, str]]]:
    """(model name, version, version tags) for every registered model that has a `certified` alias."""
    mlflow_client = client(settings)
    found, token = [], None
    with _mlflow_errors("list the registry"):
        while True:
            page = mlflow_client.search_registered_models(max_results=500, page_token=token)
            for model in page:
                version = (model.aliases or {}).get(CERTIFIED_ALIAS)
                if version is not None:
                    tags = mlflow_client.get_model_version(model.name, str(version)).tags
                    found.append((model.name, str(version), dict(tags)))
            token = page.token
            if not token:
                return found


def certified_version(settings: Settings | None, name: str) -> str | None:
    from mlflow.exceptions import MlflowException

    try:
        return str(client(settings).get_model_version_by_alias(name, CERTIFIED_ALIAS).version)
    except MlflowException:
        return None


def withdraw(settings: Settings | None, name: str, version: str, tags: dict[str, str]) -> bool:
    """Tag a version (e.g. suspended) and remove the `certified` alias if it points at it; True if removed.

    An alias already moved to another version (a newer certificate) is left alone, so replays are harmless."""
    mlflow_client = client(settings)
    with _mlflow_errors("withdraw the certified alias"):
        for key, value in tags.items():
            mlflow_client.set_model_version_tag(name, version, key, value)
        if certified_version(settings, name) != str(version):
            return False
        mlflow_client.delete_registered_model_alias(name, CERTIFIED_ALIAS)
        return True
