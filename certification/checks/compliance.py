"""Compliance: protected attributes are not model inputs unless the spec records a justification; no dataset holds
direct identifiers unless the spec records why."""

from __future__ import annotations

from certification.checks.base import Outcome, Status, check
from certification.context import RunContext
from certification.errors import NotApplicable


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
    from certification.personal_data import scan

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
