"""Wall time and peak memory of every certification stage at growing data sizes, as JSON.

    python benchmarks/stages.py --rows 10000 100000 1000000 --out benchmarks/results/stages.json

Data: UCI Adult rows resampled with replacement up to the requested size (train and evaluation each), scored by
the demo's pipeline with HistGradientBoosting (`--model hgb`) or a 100-tree random forest (`--model forest`),
trained on the original Adult training file. Each (size, stage) runs in
a fresh process so its peak RSS is its own; loading the data and model is timed separately.
"""

from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import joblib
import yaml
from sklearn.ensemble import RandomForestClassifier

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import peak_rss_mb, write_report  # noqa: E402
from certification.checks import STAGES  # noqa: E402
from certification.checks.registry import checks_for  # noqa: E402
from certification.demo import PROTECTED, adult_model  # noqa: E402
from certification.demo.datasets import load_adult  # noqa: E402
from certification.hashing import file_sha256  # noqa: E402
from certification.run.context import RunContext  # noqa: E402
from certification.spec import load_spec  # noqa: E402

MODELS = {
    "hgb": lambda: None,  # the demo's HistGradientBoosting
    "forest": lambda: RandomForestClassifier(n_estimators=100, min_samples_leaf=5, random_state=0),
}


def prepare(folder: Path, rows: int, args: argparse.Namespace, model: str) -> Path:
    """Write train/evaluation files of `rows` rows and a spec pointing at them; reused across runs."""
    folder.mkdir(parents=True, exist_ok=True)
    model_path = folder.parent / f"model-{model}.joblib"
    train = load_adult("train")
    if not model_path.exists():
        features = [c for c in train.columns if c not in (*PROTECTED, "income")]
        joblib.dump(adult_model(train, features, MODELS[model]()), model_path)
    for name, source in (("train", train), ("evaluation", load_adult("test"))):
        path = folder / f"{name}.parquet"
        if not path.exists():
            source.sample(rows, replace=True, random_state=len(name)).reset_index(drop=True).to_parquet(path)
    spec = yaml.safe_load((ROOT / "certification" / "specs" / "adult.yaml").read_text())
    spec["model"] = {"path": str(model_path), "sha256": file_sha256(model_path)}
    spec["datasets"] = {n: {"path": str(folder / f"{n}.parquet")} for n in ("train", "evaluation")}
    spec["checks"]["robustness"].update(sample_size=args.attack_sample, time_budget_seconds=args.time_budget)
    path = folder / f"spec-{model}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def worker(spec_path: Path, stage: str) -> dict[str, Any]:
    started = time.perf_counter()
    ctx = RunContext.open(load_spec(spec_path), spec_path.parent / "artifacts")
    _ = ctx.score_eval, ctx.pred_eval  # scoring is shared by every stage; time it with loading
    loaded = time.perf_counter() - started
    ctx.begin_stage(stage)  # as the pipeline does: the stage's time budget starts here
    checks = {}
    for item in checks_for(stage, ctx.task):
        begin = time.perf_counter()
        result = item.run(ctx)
        checks[item.check_id] = {
            "seconds": round(time.perf_counter() - begin, 3),
            "status": result.status.value,
            **({"sampled": result.measured["rows_attacked"]} if "rows_attacked" in result.measured else {}),
        }
    return {
        "stage": stage,
        "load_and_score_seconds": round(loaded, 3),
        "stage_seconds": round(sum(c["seconds"] for c in checks.values()), 3),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "checks": checks,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--stages", nargs="+", default=list(STAGES), choices=STAGES)
    parser.add_argument("--model", nargs="+", default=["hgb"], choices=sorted(MODELS))
    parser.add_argument("--attack-sample", type=int, default=20, help="robustness rows attacked")
    parser.add_argument(
        "--time-budget", type=float, default=600, help="robustness stage wall-time budget (s)"
    )
    parser.add_argument("--work", type=Path, default=ROOT / ".certification" / "benchmarks")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--worker", nargs=2, metavar=("SPEC", "STAGE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(Path(args.worker[0]), args.worker[1])))
        return

    results = []
    for model, rows in itertools.product(args.model, args.rows):
        spec = prepare(args.work / f"rows-{rows}", rows, args, model)
        for stage in args.stages:
            done = subprocess.run(
                [sys.executable, __file__, "--worker", str(spec), stage], capture_output=True, text=True
            )
            if done.returncode:
                results.append({"model": model, "rows": rows, "stage": stage, "error": done.stderr[-2000:]})
            else:
                results.append(
                    {"model": model, "rows": rows, **json.loads(done.stdout.strip().splitlines()[-1])}
                )
            print(json.dumps(results[-1]), file=sys.stderr)
    write_report("stages", results, args.out)


if __name__ == "__main__":
    main()
