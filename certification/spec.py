"""The certification spec: one YAML file per use case, turning policy into thresholds with a rationale each."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from certification.errors import SpecError
from certification.jsonutil import canonical_json

Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
Rationale = Annotated[str, Field(min_length=10, description="Why this threshold: the policy it implements")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelRef(_Strict):
    uri: str | None = Field(None, description="MLflow models:/name/version or models:/name@alias")
    path: str | None = Field(None, description="Local scikit-learn/joblib file, pinned by sha256")
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")] | None = None
    features: list[str] | None = Field(
        None, description="Model input columns, if the model does not carry them"
    )

    @model_validator(mode="after")
    def _one_source(self) -> ModelRef:
        if (self.uri is None) == (self.path is None):
            raise ValueError("give exactly one of 'uri' (MLflow registry) or 'path' (local file)")
        if self.uri is not None and not self.uri.startswith("models:/"):
            raise ValueError("'uri' must look like models:/name/version or models:/name@alias")
        if self.path is not None and self.sha256 is None:
            raise ValueError("a local model 'path' must be pinned by 'sha256' (loading a pickle runs code)")
        return self


class DatasetRef(_Strict):
    path: str
    format: Literal["csv", "parquet"] | None = None

    @property
    def resolved_format(self) -> str:
        return self.format or ("parquet" if self.path.endswith((".parquet", ".pq")) else "csv")


class Datasets(_Strict):
    train: DatasetRef
    evaluation: DatasetRef


class Label(_Strict):
    column: str
    positive: str | int | float | bool


class DataValidationPolicy(_Strict):
    max_missing_fraction: Fraction
    max_duplicate_fraction: Fraction
    max_overlap_fraction: Fraction
    rationale: Rationale


class EvaluationPolicy(_Strict):
    min_accuracy: Fraction
    min_roc_auc: Fraction
    min_f1: Fraction
    rationale: Rationale


class RobustnessPolicy(_Strict):
    epsilon: Annotated[float, Field(gt=0, description="L2 budget in standardized units")]
    max_attack_success_rate: Fraction
    sample_size: Annotated[int, Field(ge=5, le=10_000)] = 50
    max_iter: Annotated[int, Field(ge=1, le=100)] = 10
    immutable_features: list[str] = []
    seed: int = 0
    rationale: Rationale


class FairnessPolicy(_Strict):
    max_demographic_parity_difference: Fraction
    max_equalized_odds_difference: Fraction
    rationale: Rationale


class CompliancePolicy(_Strict):
    rationale: Rationale


class Checks(_Strict):
    data_validation: DataValidationPolicy
    evaluation: EvaluationPolicy
    robustness: RobustnessPolicy
    fairness: FairnessPolicy
    compliance: CompliancePolicy


class Approvals(_Strict):
    roles: Annotated[list[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]*$")]], Field(min_length=1)]
    deadline_hours: Annotated[float, Field(gt=0)] = 72
    certificate_validity_days: Annotated[int, Field(ge=1, le=1095)] = 365

    @model_validator(mode="after")
    def _distinct(self) -> Approvals:
        if len(set(self.roles)) != len(self.roles):
            raise ValueError("approver roles must be distinct")
        return self


class Spec(_Strict):
    use_case: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
    risk_tier: Literal["minimal", "limited", "high"]
    description: str = ""
    model: ModelRef
    datasets: Datasets
    label: Label
    protected_attributes: Annotated[list[str], Field(min_length=1)]
    protected_inputs_allowed: dict[str, Rationale] = Field(
        default_factory=dict, description="Protected attribute -> justification for using it as a model input"
    )
    checks: Checks
    approvals: Approvals

    def digest(self) -> str:
        """SHA-256 of the effective policy (overrides and resolved paths included) that a run is bound to."""
        return hashlib.sha256(canonical_json(self.model_dump(mode="json")).encode()).hexdigest()

    @model_validator(mode="after")
    def _consistent(self) -> Spec:
        if self.label.column in self.protected_attributes:
            raise ValueError("the label column cannot also be a protected attribute")
        unknown = set(self.protected_inputs_allowed) - set(self.protected_attributes)
        if unknown:
            raise ValueError(f"protected_inputs_allowed names non-protected columns: {sorted(unknown)}")
        return self


# Form fields of the Airflow trigger and CLI flags map onto these spec fields.
OVERRIDES = {
    "model_uri": ("model", "uri"),
    "model_path": ("model", "path"),
    "model_sha256": ("model", "sha256"),
    "train_path": ("datasets", "train", "path"),
    "evaluation_path": ("datasets", "evaluation", "path"),
}


def _apply_overrides(raw: dict[str, Any], overrides: dict[str, Any], source: str) -> None:
    for key, value in overrides.items():
        if value in (None, ""):
            continue
        if key not in OVERRIDES:
            raise SpecError(source, f"unknown override {key!r}; known: {sorted(OVERRIDES)}", field=key)
        *parents, leaf = OVERRIDES[key]
        node = raw
        for name in parents:
            node = node.setdefault(name, {})
            if not isinstance(node, dict):
                raise SpecError(source, "must be a mapping", field=".".join(parents))
        if key == "model_uri":
            node.pop("path", None), node.pop("sha256", None)
        elif key == "model_path":
            node.pop("uri", None)
        node[leaf] = value


def _resolve_paths(spec: Spec, base: Path) -> Spec:
    def absolute(p: str) -> str:
        return str((base / p).resolve()) if not Path(p).is_absolute() else p

    data = spec.model_dump()
    for name in ("train", "evaluation"):
        data["datasets"][name]["path"] = absolute(data["datasets"][name]["path"])
    if data["model"]["path"]:
        data["model"]["path"] = absolute(data["model"]["path"])
    return Spec.model_validate(data)


def parse_spec(
    text: str, source: str, overrides: dict[str, Any] | None = None, base: Path | None = None
) -> Spec:
    """Validate spec text; every problem is reported as `source: field: problem`."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SpecError(source, f"not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise SpecError(source, "the spec must be a YAML mapping")
    _apply_overrides(raw, overrides or {}, source)
    try:
        spec = Spec.model_validate(raw)
    except ValidationError as exc:
        problems = [
            (".".join(str(p) for p in err["loc"]) or "(top level)", err["msg"]) for err in exc.errors()
        ]
        field, message = problems[0]
        if len(problems) > 1:
            message += "; also " + "; ".join(f"{f}: {m}" for f, m in problems[1:])
        raise SpecError(source, message, field=field) from exc
    return _resolve_paths(spec, base or Path.cwd())


def load_spec(path: str | Path, overrides: dict[str, Any] | None = None) -> Spec:
    """Load and validate a spec file; relative paths resolve against the spec's folder."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(str(path), f"cannot read spec: {exc}") from exc
    return parse_spec(text, str(path), overrides, base=path.resolve().parent)
