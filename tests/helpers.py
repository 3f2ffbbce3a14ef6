"""Helpers the tests share (fixtures are in conftest.py): specs on the real Adult files, running one check, contexts
with other frames or models, a registered model, a complete certification, the demo's spec, and the Airflow CLI."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from certification import Pipeline
from certification.checks import REGISTRY, CheckResult
from certification.hashing import file_sha256
from certification.run.context import RunContext
from certification.spec import load_spec

PG_ADMIN_URL = os.environ.get(
    "CERTIFICATION_TEST_PG", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
)
REPO = Path(__file__).resolve().parent.parent
SPEC_TEMPLATE = REPO / "certification" / "demo" / "specs" / "adult.yaml"
FROZEN = ["age", "education_num", "sex", "race"]  # immutable in the robustness tests: never perturbed


def quick(spec: dict[str, Any]) -> dict[str, Any]:
    """The tests' budget on a spec: every check runs, on a fraction of the work (a small attack, 200 bootstrap
    resamples, 2 folds, a 2 s latency run judged loosely: test machines run other work at the same time)."""
    spec["checks"]["robustness"].update(sample_size=6, max_iter=2)
    spec["checks"]["data_validation"].update(profile_sample=10_000)
    evaluation = spec["checks"]["evaluation"]
    evaluation.update(bootstrap_resamples=200)
    evaluation["latency"].update(time_budget_seconds=2, max_p99_ms={1: 2000}, min_throughput_rows_per_s=100)
    spec["training"]["folds"] = 2
    return spec


def spec_dict(files: dict[str, Path]) -> dict[str, Any]:
    """The embedded demo spec pointed at local files, on the tests' budget (`quick`)."""
    spec = yaml.safe_load(SPEC_TEMPLATE.read_text())
    spec["model"] = {"path": str(files["model"]), "sha256": file_sha256(files["model"])}
    for name in ("train", "evaluation"):
        spec["datasets"][name]["path"] = str(files[name])
    return quick(spec)


def digest_before_later_fields(spec: Any) -> str:
    """The digest a spec had before the optional fields of LATER_DEFAULTS existed: its dump without them."""
    import hashlib

    from certification.jsonutil import canonical_json
    from certification.spec._policy import LATER_DEFAULTS

    before = spec.model_dump(mode="json", exclude_none=True)
    for *parents, name, _ in LATER_DEFAULTS:
        section = before
        for parent in parents:
            section = section[parent]
        del section[name]
    return hashlib.sha256(canonical_json(before).encode()).hexdigest()


def cli_verdict(out: str, code: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """`certify --json run`'s status and results by check id, asserting the run reached a verdict with no check in
    error."""
    from certification.cli import NOT_CERTIFIED, OK

    status = json.loads(out)
    assert code in (OK, NOT_CERTIFIED) and status["status"] in ("awaiting_signoff", "rejected"), status
    results = {r["check_id"]: r for r in status["results"]}
    assert [c for c, r in results.items() if r["status"] == "error"] == [], results
    return status, results


def run_check(ctx: RunContext, check_id: str) -> CheckResult:
    found = next(c for stage in REGISTRY.values() for c in stage if c.check_id == check_id)
    return found.run(ctx)


def with_frames(ctx: RunContext, **changes: Any) -> RunContext:
    """A copy of a context with other frames or model, keeping cached nothing (predictions are recomputed)."""
    fields = {"spec": ctx.spec, "model": ctx.model, "train": ctx.train, "evaluation": ctx.evaluation}
    return RunContext(**{**fields, **changes}, datasets=ctx.datasets, artifact_dir=ctx.artifact_dir)


def register_model(model: Any, name: str) -> str:
    """Register an estimator as a new version in the current MLflow registry; returns the version."""
    from certification import tracking
    from certification.config import settings
    from certification.demo import SKOPS_TRUSTED

    return tracking.register_model(
        settings(), model, name, None, None, trusted_types=SKOPS_TRUSTED, run_name=name
    )


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


def demo_spec(**monitoring: Any) -> Path:
    """The demo's spec and freshly registered model (`certification.demo.prepare`) on the tests' budget (`quick`);
    `monitoring` updates the spec's monitoring section."""
    from certification import demo
    from certification.config import settings

    spec_path = demo.prepare(settings())
    spec = quick(yaml.safe_load(spec_path.read_text()))
    spec["monitoring"].update(monitoring)
    spec_path.write_text(yaml.safe_dump(spec))
    return spec_path


def airflow(env: dict[str, str], *args: str, log: Path) -> str:
    with log.open("w") as out:  # a pipe would fill up with Airflow's logs and stall it
        done = subprocess.run(
            ["airflow", *args], env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT
        )
    text = log.read_text()
    assert done.returncode == 0, text[-4000:]
    return text


def certification_runs(
    env: dict[str, str], log: Path, known: frozenset[str] | None = None
) -> list[dict[str, Any]]:
    """model_certification runs in the Airflow metadata, except those `known` (other tests share the database).
    The first look (`known` not given) also lists them with the CLI; later looks read the database alone."""
    import sqlite3

    if known is None:
        airflow(env, "dags", "list-runs", "model_certification", "-o", "json", log=log)
    with sqlite3.connect(Path(env["AIRFLOW_HOME"]) / "airflow.db") as db:
        rows = db.execute(
            "SELECT run_id, conf, state FROM dag_run WHERE dag_id = 'model_certification'"
        ).fetchall()
    found = [
        {"run_id": r, "conf": json.loads(c) if isinstance(c, str) else c, "state": s} for r, c, s in rows
    ]
    return [run for run in found if run["run_id"] not in (known or ())]


def robustness_context(adult_files: dict[str, Path], folder: Path, **robustness: Any) -> RunContext:
    spec = spec_dict(adult_files)
    spec["checks"]["robustness"].update(robustness)
    path = folder / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    return RunContext.open(load_spec(path), folder / "artifacts")


def context_like(ctx: RunContext, **robustness: Any) -> RunContext:
    policy = ctx.spec.checks.robustness.model_copy(update=robustness)
    spec = ctx.spec.model_copy(update={"checks": ctx.spec.checks.model_copy(update={"robustness": policy})})
    return RunContext(spec, ctx.model, ctx.train, ctx.evaluation, ctx.datasets, ctx.artifact_dir)


def run_dag(airflow_env: dict[str, str], spec: Path, while_waiting: Callable[[str], None]) -> dict[str, Any]:
    """Run the DAG with dag.test() in a subprocess; call `while_waiting(run_id)` once sign-off is requested."""
    pipeline = Pipeline()
    known = {r["run_id"] for r in pipeline.ledger.query("SELECT run_id FROM {s}.runs")}
    log_path = spec.parent / "dag-test.log"  # a pipe would fill up with Airflow's logs and stall the DAG
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [
                "airflow",
                "dags",
                "test",
                "model_certification",
                "--conf",
                json.dumps({"spec_path": str(spec)}),
            ],
            env={**os.environ, **airflow_env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    run_id = None
    deadline = time.monotonic() + 600
    while process.poll() is None and time.monotonic() < deadline:
        new = {r["run_id"] for r in pipeline.ledger.query("SELECT run_id FROM {s}.runs")} - known
        if new:
            run_id = new.pop()
            if pipeline.status(run_id)["status"] != "running":
                break
        time.sleep(1)
    if run_id and pipeline.status(run_id)["status"] == "awaiting_signoff":
        while_waiting(run_id)
    process.wait(timeout=max(1, deadline - time.monotonic()))
    output = log_path.read_text()
    assert process.returncode == 0, output[-4000:]
    assert run_id, output[-4000:]
    return pipeline.status(run_id)


def quick_example(spec_path: Path) -> None:
    """An example spec (certification/demo/specs) on the tests' budget: fewer resamples, folds and attacked rows, a
    short and loosely judged latency run; every check still runs."""
    spec = yaml.safe_load(spec_path.read_text())
    spec["checks"]["evaluation"].update(bootstrap_resamples=300)
    spec["checks"]["evaluation"]["latency"].update(
        time_budget_seconds=2, max_p99_ms={1: 2000}, min_throughput_rows_per_s=100
    )
    spec["checks"]["robustness"].update(sample_size=10, max_eval=60)
    spec["training"]["folds"] = 2
    spec_path.write_text(yaml.safe_dump(spec))


def approve_and_verify(run_id: str, capsys: Any) -> dict[str, Any]:
    """Both roles approve `certify --json run`'s run through the CLI; the certificate verifies. Returns the status."""
    from certification.cli import OK, main

    for role, who in (("risk", "alice"), ("compliance", "bob")):
        code = main(
            ["--json", "signoff", "approve", run_id, "--role", role, "--approver", who, "--comment", "ok"]
        )
        status = json.loads(capsys.readouterr().out)
    assert code == OK and status["status"] == "certified", status["final"]
    assert main(["certificate", "verify", status["documents"]["certificate.json"]]) == OK
    assert "valid" in capsys.readouterr().out
    return dict(status)


def challenge(spec_path: Path, model: Any, name: str, example: Any, capsys: Any) -> dict[str, Any]:
    """Register `model` as the next `<name>@candidate` and run the spec again: the champion/challenger result."""
    from certification import tracking
    from certification.cli import NOT_CERTIFIED, main
    from certification.config import settings

    tracking.register_model(settings(), model, name, "candidate", example, run_name=f"{name}-challenger")
    code = main(["--json", "run", str(spec_path), "--submitted-by", "dana"])
    _, results = cli_verdict(capsys.readouterr().out, code)
    champion = results["evaluation.champion_challenger"]
    assert code == NOT_CERTIFIED and champion["status"] == "fail", champion
    return dict(champion["measured"])
