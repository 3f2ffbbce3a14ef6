"""The spec's schema: every section of the YAML file, validated strictly (unknown keys, wrong types and out-of-range
thresholds are errors), each threshold with the rationale of the policy it implements."""

from __future__ import annotations

import hashlib
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from certification.jsonutil import canonical_json

Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
Rationale = Annotated[str, Field(min_length=10, description="Why this threshold: the policy it implements")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Predictions(_Strict):
    """Score-only mode: the evaluation table already holds the model's outputs (a vendor or legacy system)."""

    score_column: str | None = Field(
        None, description="Probability (or score in [0, 1]) of the positive class"
    )
    prediction_column: str | None = Field(None, description="Predicted class or decision")
    predicted_positive: list[str | int | float | bool] | None = Field(
        None, description="Values of prediction_column that mean the positive class (default: label.positive)"
    )
    threshold: Annotated[float, Field(ge=0, le=1)] = Field(
        0.5, description="Decision threshold on the score when there is no prediction column"
    )
    producer: str = Field("", description="Who produced the predictions, e.g. the vendor and system name")

    @property
    def columns(self) -> set[str]:
        """The model's output columns in the predictions table."""
        return {c for c in (self.score_column, self.prediction_column) if c}

    @model_validator(mode="after")
    def _something(self) -> Predictions:
        if self.score_column is None and self.prediction_column is None:
            raise ValueError("give 'score_column' and/or 'prediction_column'")
        return self


class Endpoint(_Strict):
    """A model reachable only over HTTP. Its identity is what the server reports plus the SHA-256 of its answers to
    a fixed probe batch, checked again before the gate: a model swapped behind the URL during the run fails it."""

    url: Annotated[str, Field(pattern=r"^https?://[^\s]+$")]
    protocol: Literal["mlflow", "kserve_v2"] = Field(
        "mlflow",
        description="POST /invocations (dataframe_split) or POST /v2/models/{name}/infer (Open Inference)",
    )
    model_name: str | None = Field(None, description="KServe v2: the served model's name")
    model_version: str | None = Field(None, description="KServe v2: pin one version of it")
    output: str | None = Field(None, description="KServe v2: the output tensor holding the probabilities")
    batch_size: int = Field(500, ge=1, le=100_000, description="rows per request")
    timeout_seconds: float = Field(30.0, gt=0, description="per request")
    retries: int = Field(3, ge=0, le=10, description="after a connection error, timeout, 429 or 5xx")
    backoff_seconds: float = Field(0.5, ge=0, description="first pause between tries, doubling each time")
    concurrency: int = Field(4, ge=1, le=64, description="requests in flight at once")
    connection: str | None = Field(
        None,
        description="Airflow Connection id holding the credentials (password: bearer token; login and password: "
        "basic auth): AIRFLOW_CONN_<ID>, or any Airflow Connection inside a task; never recorded",
    )

    @model_validator(mode="after")
    def _named_for_kserve(self) -> Endpoint:
        if self.protocol == "kserve_v2" and not self.model_name:
            raise ValueError("a kserve_v2 endpoint needs 'model_name'")
        if self.protocol == "mlflow" and (self.model_name or self.model_version or self.output):
            raise ValueError("'model_name', 'model_version' and 'output' belong to kserve_v2 endpoints")
        return self


class ModelRef(_Strict):
    uri: str | None = Field(None, description="MLflow models:/name/version or models:/name@alias")
    path: str | None = Field(
        None, description="Local file pinned by sha256: .onnx (onnxruntime), .skops, else joblib/pickle"
    )
    endpoint: Endpoint | None = Field(
        None, description="A served model (MLflow scoring or KServe v2 protocol)"
    )
    predictions: Predictions | None = Field(None, description="Certify from a predictions table (score-only)")
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")] | None = None
    features: list[str] | None = Field(
        None, description="Model input columns, if the model does not carry them"
    )
    score_column: str | None = Field(
        None,
        description="A python_function model or an MLflow endpoint answering with a table: its column holding "
        "the positive-class probability",
    )

    @model_validator(mode="after")
    def _one_source(self) -> ModelRef:
        if [self.uri, self.path, self.endpoint, self.predictions].count(None) != 3:
            raise ValueError(
                "give exactly one of 'uri' (MLflow registry), 'path' (local file), 'endpoint' (served model) or "
                "'predictions' (score-only)"
            )
        if self.uri is not None and not self.uri.startswith("models:/"):
            raise ValueError("'uri' must look like models:/name/version or models:/name@alias")
        if self.score_column is not None and self.uri is None and self.endpoint is None:
            raise ValueError(
                "'score_column' names an output column of a python_function model or an endpoint: it needs 'uri' "
                "or 'endpoint'"
            )
        if self.path is not None and self.sha256 is None:
            raise ValueError("a local model 'path' must be pinned by 'sha256' (loading a pickle runs code)")
        return self


class DatasetRef(_Strict):
    path: str
    format: Literal["csv", "parquet"] | None = None
    source: str = Field("", description="Where the bytes came from (URI, extract job, vendor delivery)")

    @property
    def resolved_format(self) -> str:
        return self.format or ("parquet" if self.path.endswith((".parquet", ".pq")) else "csv")


class Datasets(_Strict):
    train: DatasetRef | None = Field(None, description="Optional only in score-only mode")
    evaluation: DatasetRef


Task = Literal["binary", "multiclass", "regression"]
TASKS: tuple[Task, ...] = ("binary", "multiclass", "regression")


class Label(_Strict):
    column: str
    positive: str | int | float | bool | None = Field(
        None, description="Binary: the label value of the positive class (required)"
    )
    values: list[str | int | float | bool] | None = Field(
        None,
        description="The declared label set; any other value is an error in the data. Multiclass (required): the "
        "classes, in the order documents list them",
    )
    range: tuple[float, float] | None = Field(
        None, description="Regression: the target's declared [low, high]; a value outside it is an error"
    )

    @model_validator(mode="after")
    def _ordered(self) -> Label:
        if self.range is not None and not self.range[0] < self.range[1]:
            raise ValueError("label.range must be [low, high] with low < high")
        return self


class DataValidationPolicy(_Strict):
    max_missing_fraction: Fraction
    max_duplicate_fraction: Fraction
    max_overlap_fraction: Fraction = Field(description="Evaluation rows also in train, exact or normalised")
    max_constant_columns: Annotated[int, Field(ge=0)] = 0
    almost_constant_share: Fraction = Field(0.99, description="A column whose top value covers this share")
    min_class_count: Annotated[int, Field(ge=1)] = 30
    min_minority_share: Fraction = 0.01
    max_single_feature_auc: Fraction = Field(0.95, description="Above this, one feature alone is a leak")
    max_single_feature_r2: Fraction = Field(
        0.9, description="Regression: above this cross-fitted R² of one feature alone, it is a leak"
    )
    max_target_outlier_share: Fraction | None = Field(
        None,
        description="Regression: share of targets beyond Tukey's far-out fences (3 IQR) that fails; unset: "
        "reported, and a heavy tail warns",
    )
    identifier_features_allowed: list[str] = []
    max_drifted_share: Fraction = Field(0.5, description="Train vs evaluation columns drifted (Evidently)")
    drift_threshold: Annotated[float, Field(gt=0)] = 0.1
    profile_sample: Annotated[int, Field(ge=1000)] | None = 200_000
    rationale: Rationale


class Bound(_Strict):
    """A threshold on a metric, on its point estimate or on the conservative end of its confidence interval."""

    min: float | None = None
    max: float | None = None
    apply_to: Literal["point", "ci_bound"] = "point"

    @model_validator(mode="after")
    def _one(self) -> Bound:
        if (self.min is None) == (self.max is None):
            raise ValueError("give exactly one of 'min' or 'max'")
        return self


BinaryMetric = Literal[
    "accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc", "log_loss", "brier", "ece"
]
MulticlassMetric = Literal[
    "accuracy",
    "balanced_accuracy",
    "macro_f1",
    "weighted_f1",
    "log_loss",
    "brier",
    "roc_auc_ovr",
    "top_k_accuracy",
    "min_class_precision",
    "min_class_recall",
    "ece",
]
RegressionMetric = Literal[
    "mae",
    "rmse",
    "r2",
    "median_ae",
    "mape",
    "poisson_deviance",
    "gamma_deviance",
    "tweedie_deviance",
    "calibration_error",
    "calibration_slope",
]
MetricName = Literal[BinaryMetric, MulticlassMetric, RegressionMetric]  # one Literal: one error location
# the metrics each task is judged on; the spec refuses a threshold on another task's metric
TASK_METRICS: dict[str, frozenset[str]] = {
    "binary": frozenset(BinaryMetric.__args__),  # type: ignore[attr-defined]
    "multiclass": frozenset(MulticlassMetric.__args__),  # type: ignore[attr-defined]
    "regression": frozenset(RegressionMetric.__args__),  # type: ignore[attr-defined]
}


class LatencyPolicy(_Strict):
    batch_sizes: list[Annotated[int, Field(ge=1)]] = [1, 100, 10_000]
    max_p99_ms: dict[int, Annotated[float, Field(gt=0)]] = Field(
        default_factory=dict, description="Batch size -> p99 latency bound in milliseconds"
    )
    min_throughput_rows_per_s: Annotated[float, Field(ge=0)] = 0
    max_peak_rss_mb: Annotated[float, Field(gt=0)] | None = None
    concurrency: Annotated[int, Field(ge=1, le=64)] = 2
    min_calls: Annotated[
        int,
        Field(
            ge=3,
            description="Calls per batch size when the time budget allows: a p99 from 30 is their maximum",
        ),
    ] = 200
    time_budget_seconds: Annotated[float, Field(gt=0)] = 20


class ChampionPolicy(_Strict):
    metric: Literal[
        "accuracy", "roc_auc", "f1", "brier", "log_loss", "balanced_accuracy", "macro_f1", "weighted_f1",
        "roc_auc_ovr", "mae", "rmse", "r2",
    ] = Field("accuracy", description="Compared with a paired bootstrap (regression default: mae)")  # fmt: skip
    alpha: Annotated[float, Field(gt=0, lt=1)] = 0.05
    require_not_significantly_worse: bool = True


class Training(_Strict):
    """A recipe the pipeline can refit: clone the (scikit-learn) model and fit it on the training data."""

    method: Literal["sklearn-clone"] = "sklearn-clone"
    folds: Annotated[int, Field(ge=2, le=20)] = 5


class EvaluationPolicy(_Strict):
    thresholds: dict[MetricName, Bound]
    confidence_level: Annotated[float, Field(gt=0.5, lt=1)] = 0.95
    bootstrap_resamples: Annotated[int, Field(ge=100, le=100_000)] = 1000
    calibration_bins: Annotated[int, Field(ge=2, le=100)] = 10
    slices: dict[str, str] = Field(
        default_factory=dict, description="Slice name -> pandas query on evaluation"
    )
    slice_metric: Literal[
        "accuracy", "roc_auc", "f1", "recall", "precision", "balanced_accuracy", "macro_f1", "mae", "rmse"
    ] = Field(
        "accuracy",
        description="Multiclass: accuracy, balanced_accuracy or macro_f1; regression: mae (its default) or rmse, and "
        "a slice's gap is its relative excess error",
    )
    min_slice_rows: Annotated[int, Field(ge=1)] = 30
    max_slice_gap: Fraction = Field(
        0.10,
        description="Worst slice may trail the whole set by at most this (regression: its error may exceed the "
        "whole set's by at most this share)",
    )
    max_ood_gap: Fraction = Field(
        0.10, description="Rows outside the training range may trail by at most this"
    )
    latency: LatencyPolicy | None = None
    champion: ChampionPolicy = Field(default_factory=lambda: ChampionPolicy.model_validate({}))
    top_k: Annotated[int, Field(ge=2)] = Field(
        2,
        description="Multiclass: top_k_accuracy counts a row right when its class is among the k most likely",
    )
    tweedie_power: Annotated[float, Field(ge=1, le=2)] = Field(
        1.5, description="Regression: the power of the Tweedie deviance (1 Poisson, 2 gamma)"
    )
    prediction_intervals: tuple[str, str] | None = Field(
        None,
        description="Regression: evaluation columns holding each row's prediction interval [low, high], "
        "whose coverage is reported",
    )
    seed: int = 0
    rationale: Rationale


class StressShift(_Strict):
    """A distribution shift the model must withstand, in the column's own units."""

    name: str
    column: str
    add: float | None = None
    multiply: float | None = None

    @model_validator(mode="after")
    def _one_change(self) -> StressShift:
        if (self.add is None) == (self.multiply is None):
            raise ValueError("give exactly one of 'add' or 'multiply'")
        return self


class StressPolicy(_Strict):
    noise_std: Annotated[float, Field(gt=0)] = Field(
        0.1, description="Gaussian noise, in standard deviations"
    )
    missing_rate: Fraction = Field(0.05, description="Share of mutable feature values blanked")
    category_swap_rate: Fraction = Field(0.05, description="Share of mutable categorical values swapped")
    shifts: list[StressShift] = []
    max_flip_rate: Fraction = Field(
        0.10,
        description="Predictions that may change under each perturbation (regression: move by more than "
        "robustness.prediction_tolerance)",
    )
    max_accuracy_drop: Fraction = Field(
        0.05, description="Accuracy lost (regression: relative growth of the mean absolute error)"
    )
    sample_size: Annotated[int, Field(ge=100)] = 5_000


class PrivacyPolicy(_Strict):
    max_membership_advantage: Fraction = Field(
        0.10, description="Membership-inference attack: true positive rate minus false positive rate"
    )
    max_attribute_advantage: Fraction = Field(
        0.05,
        description="Attribute inference: attacker accuracy with the model's output minus without it",
    )
    sample_size: Annotated[int, Field(ge=100)] = Field(2_000, description="Members and non-members, each")


class FallbackPolicy(_Strict):
    """Abstain (route to a human) when the model's confidence, the probability of the class it predicts (a binary
    model: max(p, 1 - p)), is below a threshold; it must exceed 1/K for K classes, or nothing would abstain."""

    abstain_below: Annotated[float, Field(gt=0.0, le=1.0)]
    min_coverage: Fraction = Field(description="Share of cases the model may decide alone")
    min_accepted_accuracy: Fraction


class RobustnessPolicy(_Strict):
    epsilon: Annotated[float, Field(gt=0)] = Field(
        description="The judged budget: how far each mutable feature may move, in standard deviations"
    )
    epsilons: list[Annotated[float, Field(gt=0)]] = Field(
        [0.05, 0.1, 0.25, 0.5, 1.0], description="Budgets reported on the robustness curve"
    )
    max_attack_success_rate: Fraction = Field(
        description="Of correctly classified rows, at `epsilon` (regression: of all attacked rows, those whose "
        "prediction the search moves by more than prediction_tolerance)"
    )
    prediction_tolerance: Annotated[float, Field(gt=0)] | None = Field(
        None,
        description="Regression (required): how far a prediction may move, in the target's units, before it "
        "counts as changed (stress, evasion)",
    )
    min_robust_accuracy: Fraction | None = None
    attack: Literal["auto", "pgd", "fgsm", "hopskipjump"] = Field(
        "auto", description="auto: PGD for linear and SVM models, HopSkipJump for trees and anything else"
    )
    sample_size: Annotated[int, Field(ge=5, le=10_000)] = 50
    max_iter: Annotated[int, Field(ge=1, le=100)] = 10
    max_eval: Annotated[int, Field(ge=10, le=10_000)] = Field(
        200, description="HopSkipJump queries per gradient estimate"
    )
    time_budget_seconds: Annotated[float, Field(gt=0)] = Field(
        600, description="Wall time for the whole stage; the attack samples fewer rows to respect it"
    )
    immutable_features: list[str] = []
    one_hot_groups: dict[str, list[str]] = Field(
        default_factory=dict, description="Name -> indicator columns of one categorical feature"
    )
    stress: StressPolicy = Field(default_factory=lambda: StressPolicy.model_validate({}))
    privacy: PrivacyPolicy = Field(default_factory=lambda: PrivacyPolicy.model_validate({}))
    fallback: FallbackPolicy | None = None
    seed: int = 0
    rationale: Rationale

    @property
    def budgets(self) -> list[float]:
        return sorted({*self.epsilons, self.epsilon})


class FairnessPolicy(_Strict):
    """Thresholds per disparity measure; a measure without a threshold is measured and reported, not judged."""

    max_demographic_parity_difference: Fraction | None = Field(None, description="Binary (required)")
    max_equalized_odds_difference: Fraction | None = Field(None, description="Binary (required)")
    max_equal_opportunity_difference: Fraction | None = None
    max_predictive_parity_difference: Fraction | None = None
    max_calibration_gap: Fraction | None = Field(
        None, description="Between-group gap in mean score minus observed rate (needs scores)"
    )
    min_disparate_impact_ratio: Fraction | None = Field(
        None, description="Lowest selection-rate ratio between groups; 0.8 is the four-fifths rule"
    )
    comparison: Literal["max_gap", "reference"] = Field(
        "max_gap",
        description="Judge the largest gap between any two groups, or each group against a reference",
    )
    reference_groups: dict[str, str] = Field(
        default_factory=dict, description="Protected attribute -> reference group (comparison: reference)"
    )
    min_group_size: Annotated[int, Field(ge=1)] = Field(
        30, description="Rates resting on fewer rows are reported and flagged but not judged"
    )
    intersections: Literal["off", "report", "judge"] = Field(
        "report", description="Groups formed by combining protected attributes: skip, report, or also judge"
    )
    adverse_classes: list[str | int | float | bool] = Field(
        default_factory=list,
        description="Multiclass: the classes whose prediction harms the person ('high risk'); being predicted any "
        "other class helps them",
    )
    favourable_outcome: Literal["positive", "negative"] = Field(
        "positive",
        description="Whether a positive prediction benefits the person (loan) or harms them (risk); regression: "
        "whether a higher prediction does (a wage) or a lower one (a premium)",
    )
    max_mean_prediction_difference: Annotated[float, Field(ge=0)] | None = Field(
        None, description="Regression: gap in mean prediction between groups (outcome parity), target units"
    )
    max_mean_residual_difference: Annotated[float, Field(ge=0)] | None = Field(
        None, description="Regression: gap in mean residual (prediction − truth: bias) between groups"
    )
    max_group_loss_difference: Annotated[float, Field(ge=0)] | None = Field(
        None, description="Regression: gap in MAE or RMSE between groups (bounded group loss)"
    )
    decision_threshold: float | None = Field(
        None, description="Regression: predictions at or above it lead to a decision (e.g. a referral)"
    )
    max_share_above_difference: Fraction | None = Field(
        None, description="Regression: gap in the share of predictions at or above decision_threshold"
    )
    max_prediction_distance: Annotated[float, Field(ge=0)] | None = Field(
        None,
        description="Regression: Wasserstein distance between two groups' prediction distributions, target units",
    )
    reference_shares: dict[str, dict[str, Fraction]] = Field(
        default_factory=dict, description="Attribute -> group -> expected population share"
    )
    max_representation_gap: Fraction | None = Field(
        None, description="Largest allowed |data share - reference share| of any group"
    )
    alpha: Annotated[float, Field(gt=0, lt=1)] = 0.05
    confidence_level: Annotated[float, Field(gt=0.5, lt=1)] = 0.95
    bootstrap_resamples: Annotated[int, Field(ge=100, le=100_000)] = 1000
    mitigation: bool = Field(True, description="When a fairness check fails, measure mitigation options")
    mitigation_max_rows: Annotated[int, Field(ge=500)] = Field(
        5_000, description="Training rows sampled for in-processing refits, to keep them cheap"
    )
    seed: int = 0
    rationale: Rationale

    @model_validator(mode="after")
    def _references(self) -> FairnessPolicy:
        if self.comparison == "reference" and not self.reference_groups:
            raise ValueError("comparison 'reference' needs reference_groups (attribute -> group)")
        return self


class CompliancePolicy(_Strict):
    personal_data_min_share: Fraction = Field(
        0.01,
        description="Share of a column's values that must look like direct identifiers for it to be flagged",
    )
    personal_data_allowed: dict[str, Rationale] = Field(
        default_factory=dict,
        description="Column -> why it may hold direct identifiers (e.g. a pseudonymised key)",
    )
    approved_features: list[str] | None = Field(
        None,
        description="Inputs the data-protection review approved; any other model input fails (minimisation)",
    )
    consent_column: str | None = Field(None, description="Column recording each row's consent or legal basis")
    consent_values: Annotated[
        list[str | int | bool], Field(description="Values of consent_column that mean consent was given")
    ] = [True, 1, "yes", "true", "y"]
    timestamp_column: str | None = Field(None, description="Column with when each row was collected")
    retention_days: Annotated[int | None, Field(ge=1, description="Rows older than this are overdue")] = None
    max_noncompliant_share: Fraction = Field(
        0.0, description="Share of rows without consent or past retention that is tolerated"
    )
    frameworks: list[Literal["eu-ai-act", "nist-ai-rmf", "iso-42001", "sr-11-7", "gdpr"]] = Field(
        default_factory=list, description="Frameworks whose requirements the report traces to evidence"
    )
    blocking_requirements: list[str] = Field(
        default_factory=list,
        description="Requirement ids that block certification when nothing gives evidence",
    )
    rationale: Rationale


class Checks(_Strict):
    data_validation: DataValidationPolicy
    evaluation: EvaluationPolicy
    robustness: RobustnessPolicy
    fairness: FairnessPolicy
    compliance: CompliancePolicy
    not_applicable_blocks: list[str] = Field(
        default_factory=list,
        description="Check ids or stages for which 'not applicable' blocks certification",
    )


class Approvals(_Strict):
    roles: Annotated[list[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]*$")]], Field(min_length=1)]
    deadline_hours: Annotated[float, Field(gt=0)] = 72
    certificate_validity_days: Annotated[int, Field(ge=1, le=1095)] = 365

    @model_validator(mode="after")
    def _distinct(self) -> Approvals:
        if len(set(self.roles)) != len(self.roles):
            raise ValueError("approver roles must be distinct")
        return self


class Notify(_Strict):
    webhook: Annotated[str | None, Field(description="URL that receives each alert as a JSON POST")] = None
    email: list[str] = Field(
        default_factory=list, description="Addresses mailed through Airflow's smtp_default"
    )


class Documentation(_Strict):
    """What a reader of the model card needs; every field must be filled in for high-risk use cases."""

    intended_use: str = ""
    out_of_scope_uses: list[str] = Field(default_factory=list)
    owners: list[str] = Field(default_factory=list, description="Accountable people or teams")
    limitations: list[str] = Field(default_factory=list)
    known_risks: list[str] = Field(default_factory=list)

    def missing(self) -> list[str]:
        return [name for name, value in self.model_dump().items() if not value or value == [""]]


class MonitoringPolicy(_Strict):
    """Post-market monitoring of the certified model: when and what to read, and when to withdraw the certificate."""

    schedule: str = Field("@daily", description="Cron expression or preset of the monitoring DAG")
    window_hours: Annotated[
        float, Field(gt=0, description="Each run judges the requests logged in this span")
    ] = 24
    source: str | None = Field(
        None,
        description="Inference log: a PostgreSQL URL or a Parquet file/folder (default $CERTIFICATION_INFERENCE_LOG)",
    )
    model_name: str | None = Field(
        None, description="The model's name in the inference log (default: its registry name, else use_case)"
    )
    min_rows: Annotated[
        int, Field(ge=1, description="Fewer rows: the window is recorded as insufficient")
    ] = 1000
    min_labelled_rows: Annotated[int, Field(ge=1, description="Below this, performance is not judged")] = 500
    min_group_rows: Annotated[int, Field(ge=1, description="Labelled rows a group needs to be compared")] = (
        200
    )
    max_feature_psi: Annotated[
        float, Field(gt=0, description="Population stability index of any one input")
    ] = 0.25
    max_drift_share: Fraction = Field(0.5, description="Share of inputs Evidently finds drifted")
    max_score_psi: Annotated[float, Field(gt=0, description="Population stability index of the scores")] = 0.2
    max_accuracy_drop: Fraction = Field(0.05, description="Certified accuracy minus live accuracy")
    max_macro_f1_drop: Fraction = Field(
        0.05, description="Multiclass: certified macro F1 minus live macro F1"
    )
    max_error_increase: Fraction = Field(
        0.10, description="Regression: growth of the mean absolute error, as a share of the certified one"
    )
    max_fairness_gap_increase: Fraction = Field(
        0.05,
        description="Growth of the between-group gap in selection rate, TPR, FPR or accuracy (regression: in mean "
        "prediction or MAE, as a share of the certified MAE)",
    )
    max_calibration_shift: Fraction = Field(
        0.05,
        description="Mean change of the label rate at equal scores that counts as a changed relationship",
    )
    sample_size: Annotated[
        int, Field(ge=1000, description="Rows Evidently sees; every count uses all rows")
    ] = 20_000
    recertify_before_days: Annotated[
        int, Field(ge=0, description="Start re-certification this long before expiry")
    ] = 30
    notify: Notify = Notify()
    rationale: Rationale


# fields added with a default after digests were first recorded: at their default they are not hashed, so the
# digest of a spec written before them (discovery compares certified specs by it) survives the upgrade
LATER_DEFAULTS = (
    ("task", "binary"),
    ("checks", "data_validation", "max_single_feature_r2", 0.9),
    ("checks", "evaluation", "tweedie_power", 1.5),
    ("checks", "evaluation", "top_k", 2),
    ("monitoring", "max_error_increase", 0.1),
    ("monitoring", "max_macro_f1_drop", 0.05),
)


class Spec(_Strict):
    use_case: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
    risk_tier: Literal["minimal", "limited", "high"]
    task: Task = Field(
        "binary",
        description="binary (a positive class), multiclass (label.values, three or more) or regression (a numeric "
        "target)",
    )
    description: str = ""
    model: ModelRef
    datasets: Datasets
    label: Label
    protected_attributes: Annotated[list[str], Field(min_length=1)]
    protected_inputs_allowed: dict[str, Rationale] = Field(
        default_factory=dict, description="Protected attribute -> justification for using it as a model input"
    )
    training: Training | None = Field(None, description="How to refit the model, enabling cross-validation")
    checks: Checks
    approvals: Approvals
    documentation: Documentation = Documentation()
    monitoring: MonitoringPolicy | None = Field(None, description="Post-market monitoring once certified")

    @property
    def score_only(self) -> bool:
        return self.model.predictions is not None

    def digest(self) -> str:
        """SHA-256 of the effective policy (overrides and resolved paths included) that a run is bound to. Fields
        left unset (None) are not hashed: a new optional field leaves the digest of every spec that does not use it
        alone, or the discovery sweep would take each certified spec for a changed one after an upgrade."""
        dump = self.model_dump(mode="json", exclude_none=True)
        for *parents, name, default in LATER_DEFAULTS:
            section = dump
            for parent in parents:
                section = section.get(parent) or {}
            if section.get(name) == default:
                del section[name]
        return hashlib.sha256(canonical_json(dump).encode()).hexdigest()

    @model_validator(mode="before")
    @classmethod
    def _task_defaults(cls, data: Any) -> Any:
        """A regression spec's slices and champion are compared on mae unless it says otherwise (written into the
        spec, so the value survives every dump and reload)."""
        if not isinstance(data, dict) or data.get("task") != "regression":
            return data
        evaluation = (data.get("checks") or {}).get("evaluation")
        if isinstance(evaluation, dict):
            evaluation.setdefault("slice_metric", "mae")
            champion = evaluation.setdefault("champion", {})
            if isinstance(champion, dict):
                champion.setdefault("metric", "mae")
        return data

    @model_validator(mode="after")
    def _consistent(self) -> Spec:
        if self.label.column in self.protected_attributes:
            raise ValueError("the label column cannot also be a protected attribute")
        unknown = set(self.protected_inputs_allowed) - set(self.protected_attributes)
        if unknown:
            raise ValueError(f"protected_inputs_allowed names non-protected columns: {sorted(unknown)}")
        if self.datasets.train is None and not self.score_only:
            raise ValueError("datasets.train is required unless the model is given as 'predictions'")
        if self.training is not None and self.score_only:
            raise ValueError("a training recipe needs a model; score-only specs cannot have one")
        if (
            self.task == "binary"
            and self.label.values is not None
            and self.label.positive not in self.label.values
        ):
            raise ValueError("label.positive must be one of label.values")
        for problem in task_problems(self):
            raise ValueError(problem)
        return self


BINARY_FAIRNESS = (
    "max_demographic_parity_difference", "max_equalized_odds_difference", "max_equal_opportunity_difference",
    "max_predictive_parity_difference", "max_calibration_gap", "min_disparate_impact_ratio",
)  # fmt: skip
REGRESSION_FAIRNESS = (
    "max_mean_prediction_difference", "max_mean_residual_difference", "max_group_loss_difference",
    "decision_threshold", "max_share_above_difference", "max_prediction_distance",
)  # fmt: skip
SLICE_METRICS = {
    "binary": {"accuracy", "roc_auc", "f1", "recall", "precision"},
    "multiclass": {"accuracy", "balanced_accuracy", "macro_f1"},
    "regression": {"mae", "rmse"},
}
CHAMPION_METRICS = {
    "binary": {"accuracy", "roc_auc", "f1", "brier", "log_loss"},
    "multiclass": {
        "accuracy",
        "balanced_accuracy",
        "macro_f1",
        "weighted_f1",
        "log_loss",
        "brier",
        "roc_auc_ovr",
    },
    "regression": {"mae", "rmse", "r2"},
}


def task_problems(spec: Spec) -> list[str]:
    """What the spec asks that its task cannot give: the other tasks' label fields, metrics and thresholds."""
    checks, task, label = spec.checks, spec.task, spec.label
    fairness, evaluation = checks.fairness, checks.evaluation
    problems = [
        f"checks.evaluation.thresholds.{name} is not a {task} metric"
        for name in evaluation.thresholds
        if name not in TASK_METRICS[task]
    ]
    if evaluation.slice_metric not in SLICE_METRICS[task]:
        problems.append(
            f"checks.evaluation.slice_metric must be one of {sorted(SLICE_METRICS[task])} for a {task} task"
        )
    if evaluation.champion.metric not in CHAMPION_METRICS[task]:
        problems.append(
            f"checks.evaluation.champion.metric must be one of {sorted(CHAMPION_METRICS[task])} for a {task} task"
        )
    other = REGRESSION_FAIRNESS if task != "regression" else BINARY_FAIRNESS
    problems += [
        f"checks.fairness.{name} is a {'regression' if task != 'regression' else 'classification'}-task threshold"
        for name in other
        if getattr(fairness, name) is not None
    ]
    if task != "regression" and checks.robustness.prediction_tolerance is not None:
        problems.append("checks.robustness.prediction_tolerance belongs to a regression task")
    if task != "multiclass" and fairness.adverse_classes:
        problems.append("checks.fairness.adverse_classes belongs to a multiclass task")
    if task != "binary" and spec.model.predictions is not None:
        problems.append(f"a {task} model must be given as a model (uri, path or endpoint), not predictions")
    if task != "regression":
        if None in (fairness.max_demographic_parity_difference, fairness.max_equalized_odds_difference):
            problems.append(
                "checks.fairness needs max_demographic_parity_difference and max_equalized_odds_difference"
            )
        if label.range is not None:
            problems.append("label.range belongs to a regression task")
    fallback = checks.robustness.fallback
    if fallback is not None and task != "regression":
        floor = 1 / max(2, len(label.values or ())) if task == "multiclass" else 0.5
        if fallback.abstain_below <= floor:
            problems.append(
                f"checks.robustness.fallback.abstain_below must be greater than {floor:.3g}: a {task} model's "
                "confidence is never below it"
            )
    if task == "binary" and label.positive is None:
        problems.append("label.positive is required for a binary task")
    if task == "multiclass":
        if label.positive is not None:
            problems.append(
                "label.positive belongs to a binary task; a multiclass label declares label.values"
            )
        if label.values is None or len(set(label.values)) < 3 or len(set(label.values)) != len(label.values):
            problems.append(
                "label.values must list three or more distinct classes for a multiclass task (two: task binary)"
            )
        elif undeclared := [c for c in fairness.adverse_classes if c not in label.values]:
            problems.append(f"checks.fairness.adverse_classes {undeclared} are not in label.values")
        elif evaluation.top_k >= len(label.values):
            problems.append("checks.evaluation.top_k must be smaller than the number of classes")
    if task == "regression":
        if label.positive is not None or label.values is not None:
            problems.append(
                "label.positive and label.values belong to a classification task; a regression target is numeric"
            )
        if checks.robustness.prediction_tolerance is None:
            problems.append("checks.robustness.prediction_tolerance is required for a regression task")
        if checks.robustness.fallback is not None:
            problems.append("checks.robustness.fallback abstains on class confidence: a classifier only")
        if fairness.max_share_above_difference is not None and fairness.decision_threshold is None:
            problems.append("checks.fairness.max_share_above_difference needs decision_threshold")
    return problems
