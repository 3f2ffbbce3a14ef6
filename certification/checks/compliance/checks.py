"""Compliance: protected attributes are not model inputs unless justified; inputs stay within what the data-protection
review approved; no dataset holds direct identifiers unless the spec records why; rows have consent and are within
retention; the use case is documented."""

from __future__ import annotations

from certification.checks.base import Outcome, Status, check
from certification.checks.compliance.personal_data import scan
from certification.errors import InputError, NotApplicable
from certification.run.context import RunContext


@check("compliance.protected_inputs", "compliance", ("EU-AI-Act:Art10(5)", "ISO-42001:A.7.4", "GDPR:Art9"))
def protected_inputs(ctx: RunContext) -> Outcome:
    if not ctx.features:
        raise NotApplicable("the predictions table does not say which inputs the model used (model.features)")
    used = sorted(set(ctx.spec.protected_attributes) & set(ctx.features))
    unjustified = [a for a in used if a not in ctx.spec.protected_inputs_allowed]
    measured = {
        "model_inputs": ctx.features,
        "protected_inputs": used,
        "unjustified": unjustified,
        "justifications": {a: ctx.spec.protected_inputs_allowed[a] for a in used if a not in unjustified},
    }
    threshold = {"max_unjustified_protected_inputs": 0}
    if unjustified:
        return Outcome(
            Status.FAIL, measured, threshold, f"protected attributes used as inputs: {unjustified}"
        )
    if used:
        return Outcome(Status.WARN, measured, threshold, f"justified protected inputs: {used}")
    return Outcome(Status.PASS, measured, threshold, "no protected attribute is a model input")


@check("compliance.personal_data", "compliance", ("GDPR:Art5(1)(c)", "EU-AI-Act:Art10(5)", "ISO-42001:A.7.4"))
def personal_data(ctx: RunContext) -> Outcome:
    policy = ctx.spec.checks.compliance
    found = [
        {"dataset": name, **item, "model_input": item["column"] in ctx.features}
        for name, frame in ctx.frames.items()
        for item in scan(frame, policy.personal_data_min_share)
    ]
    unjustified = [f for f in found if f["column"] not in policy.personal_data_allowed]
    measured = {"direct_identifiers": found, "unjustified": len(unjustified)}
    threshold = {"max_unjustified_identifier_columns": 0, "min_share": policy.personal_data_min_share}
    where = [f"{f['dataset']}.{f['column']} ({f['kind']})" for f in unjustified]
    if unjustified:
        return Outcome(
            Status.FAIL, measured, threshold, f"direct identifiers without a recorded reason: {where}"
        )
    if found:
        return Outcome(
            Status.WARN, measured, threshold, f"justified identifier columns: {[f['column'] for f in found]}"
        )
    return Outcome(
        Status.PASS, measured, threshold, "no column holds e-mails, phone, ID or card numbers, or names"
    )


@check(
    "compliance.data_minimisation", "compliance", ("GDPR:Art5(1)(c)", "EU-AI-Act:Art10(3)", "ISO-42001:A.7.4")
)
def data_minimisation(ctx: RunContext) -> Outcome:
    approved = ctx.spec.checks.compliance.approved_features
    if approved is None:
        raise NotApplicable("the spec lists no approved_features to compare the model's inputs with")
    if not ctx.features:
        raise NotApplicable("the predictions table does not say which inputs the model used (model.features)")
    extra = sorted(set(ctx.features) - set(approved))
    measured = {"model_inputs": ctx.features, "approved": approved, "not_approved": extra}
    threshold = {"max_unapproved_inputs": 0}
    if extra:
        return Outcome(Status.FAIL, measured, threshold, f"model inputs outside the approved set: {extra}")
    return Outcome(Status.PASS, measured, threshold, f"all {len(ctx.features)} inputs are approved")


@check("compliance.consent_retention", "compliance", ("GDPR:Art6", "GDPR:Art5(1)(e)", "EU-AI-Act:Art10(2)"))
def consent_retention(ctx: RunContext) -> Outcome:
    import pandas as pd

    policy = ctx.spec.checks.compliance
    if policy.consent_column is None and policy.retention_days is None:
        raise NotApplicable("the spec declares neither a consent column nor a retention period")
    given = {str(v).strip().lower() for v in policy.consent_values}
    per_dataset, worst = {}, 0.0
    for name, frame in ctx.frames.items():
        for column in (policy.consent_column, policy.timestamp_column if policy.retention_days else None):
            if column is not None and column not in frame.columns:
                raise InputError(
                    name, f"column {column!r} named by the spec is missing", field="checks.compliance"
                )
        bad = pd.Series(False, index=frame.index)
        found: dict[str, int] = {"rows": len(frame)}
        if policy.consent_column is not None:
            without = ~frame[policy.consent_column].astype(str).str.strip().str.lower().isin(given)
            found["without_consent"], bad = int(without.sum()), bad | without
        if policy.retention_days is not None and policy.timestamp_column is not None:
            collected = pd.to_datetime(frame[policy.timestamp_column], utc=True, errors="coerce")
            cutoff = pd.Timestamp.now(tz="UTC") - pd.Timedelta(days=policy.retention_days)
            overdue = collected.isna() | (collected < cutoff)  # an unreadable date cannot show it is in time
            found["past_retention"], bad = int(overdue.sum()), bad | overdue
        share = float(bad.mean()) if len(frame) else 0.0
        per_dataset[name] = {**found, "noncompliant_share": share}
        worst = max(worst, share)
    measured = {"datasets": per_dataset, "noncompliant_share": worst}
    threshold = {"max_noncompliant_share": policy.max_noncompliant_share}
    status = Status.FAIL if worst > policy.max_noncompliant_share else Status.PASS
    return Outcome(
        status, measured, threshold, f"noncompliant_share={worst:.4g} (≤ {policy.max_noncompliant_share})"
    )


@check("compliance.documentation", "compliance", ("EU-AI-Act:Art11", "EU-AI-Act:Art13", "ISO-42001:A.6.2.7"))
def documentation(ctx: RunContext) -> Outcome:
    missing = ctx.spec.documentation.missing()
    measured = {"missing": missing, "documentation": ctx.spec.documentation.model_dump()}
    threshold = {"max_missing_fields": 0}
    if not missing:
        return Outcome(
            Status.PASS, measured, threshold, "intended use, out-of-scope uses, owners, limitations, risks"
        )
    # a high-risk use case may not go without them; elsewhere they are asked for
    status = Status.FAIL if ctx.spec.risk_tier == "high" else Status.WARN
    return Outcome(status, measured, threshold, f"documentation missing: {missing}")


# in the order they run
CHECKS = (protected_inputs, personal_data, data_minimisation, consent_retention, documentation)
