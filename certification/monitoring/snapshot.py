"""The monitoring baseline: the certified evaluation set as the certified model scores it, snapshotted at certification
with its SHA-256 in the ledger, so monitoring outlives the rotation of the data files the run read."""

from __future__ import annotations

import hashlib
import json
import pickle

from certification.errors import CertificationError
from certification.monitoring.certified import Certified
from certification.monitoring.profile import MulticlassProfile, Profile, RegressionProfile, bins_for
from certification.run.records import Runs

BASELINE, BASELINE_EVENT = "monitoring-baseline.pkl", "monitoring_baseline"


def baseline(runs: Runs, certified: Certified) -> tuple[Profile, list[str], list[str]]:
    """The certified evaluation set as the certified model scored it, with the model's inputs (all, then the
    numeric ones). Snapshotted once, with its SHA-256 in the ledger, so monitoring outlives the rotation of the data
    files the run read; a snapshot that changed since is refused."""
    folder = runs.settings.run_dir(certified.run_id)
    recorded = [e for e in runs.ledger.events(certified.run_id) if e["event_type"] == BASELINE_EVENT]
    if recorded:
        data = (folder / BASELINE).read_bytes() if (folder / BASELINE).exists() else b""
        if hashlib.sha256(data).hexdigest() != json.loads(recorded[-1]["payload"])["sha256"]:
            raise CertificationError(f"the monitoring baseline {folder / BASELINE} is missing or changed")
        return pickle.loads(data)  # noqa: S301 - our own file, pinned by the ledger like a model file
    snapshot = _score_baseline(runs, certified)
    data = pickle.dumps(snapshot)
    (folder / BASELINE).write_bytes(data)
    runs.ledger.log(
        certified.run_id,
        BASELINE_EVENT,
        {"file": BASELINE, "sha256": hashlib.sha256(data).hexdigest(), "rows": snapshot[0].rows},
    )
    return snapshot


def _score_baseline(runs: Runs, certified: Certified) -> tuple[Profile, list[str], list[str]]:
    import pandas as pd
    from pandas.api.types import is_numeric_dtype

    ctx = runs.open_context(certified.run_id)  # refuses inputs that changed since certification
    features, protected = ctx.features, certified.spec.protected_attributes
    # a binary model's positive-class probability; a regressor's and a multiclass model's output is its prediction
    scores = ctx.score_eval if ctx.task == "binary" else None
    frame = ctx.evaluation[list(dict.fromkeys([*features, *protected]))].assign(
        prediction=ctx.pred_eval, score=scores if scores is not None else float("nan"), label=ctx.y_eval
    )
    bins = bins_for(ctx.evaluation, features)
    size = certified.policy.sample_size
    profile: Profile
    if ctx.task == "regression":
        prediction = bins_for(frame, ["prediction"])["prediction"]
        profile = RegressionProfile(bins, protected, sample_size=size, prediction_bins=prediction)
    elif ctx.task == "multiclass":
        profile = MulticlassProfile(bins, protected, sample_size=size, classes=[str(c) for c in ctx.classes])
    else:
        profile = Profile(bins, protected, sample_size=size)
    numeric = [c for c in features if is_numeric_dtype(ctx.evaluation[c])]
    return profile.update(pd.DataFrame(frame)), features, numeric
