"""Privacy checks of the robustness stage: what the model's outputs reveal about the people it was trained on.

Membership inference asks whether an attacker can tell training rows from unseen ones; attribute inference whether
the score helps guess a protected attribute beyond what the other features already tell (certification.privacy).
Each gates on its strongest attack and reports all of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from certification import plots, privacy
from certification.checks.base import Outcome, Status, check, compare
from certification.context import RunContext

PRIVACY = ("EU-AI-Act:Art15", "EU-AI-Act:Art10", "NIST-AI-RMF:MEASURE-2.10", "ISO-42001:A.7.4")


def _judge(
    ctx: RunContext,
    name: str,
    attacks: Mapping[str, privacy.MembershipAttack] | Mapping[str, privacy.AttributeAttack],
    limit: float,
    by: str,
    *,
    title: str,
    xlabel: str,
) -> tuple[Outcome, str, str]:
    """Gate on the largest advantage, name every advantage in plain words, and chart every attack's estimates."""
    advantages = {key: a.advantage for key, a in attacks.items()}
    strongest = max(advantages, key=lambda key: advantages[key])
    measured: dict[str, Any] = {f"{name}_advantage": advantages[strongest], by: strongest}
    outcome = compare(measured, {f"{name}_advantage": ("max", limit)})
    details = ", ".join(f"{key} {value:.3f}" for key, value in advantages.items())
    sign = ">" if outcome.status is Status.FAIL else "≤"
    png = plots.interval_chart(
        [
            (f"{key} {bar}", e.value, e.lower, e.upper)
            for key, a in attacks.items()
            for bar, e in a.bars.items()
        ],
        ctx.evidence_path(f"{name}_inference.png"),
        title=title,
        xlabel=xlabel,
    )
    return outcome, f"{name} advantage {advantages[strongest]:.3f} ({details}) {sign} {limit:.2f}", str(png)


@check("robustness.membership_inference", "robustness", PRIVACY)
def membership_inference(ctx: RunContext) -> Outcome:
    ctx.require_model("a membership inference attack")
    train = ctx.require_train("membership inference (its rows are the members)")
    policy = ctx.spec.checks.robustness
    attacks = privacy.membership_inference(
        privacy.membership_sample(train, ctx.evaluation, policy.privacy.sample_size, policy.seed),
        ctx.scores,
        ctx.labels,
        seed=policy.seed,
        level=ctx.spec.checks.evaluation.confidence_level,
    )
    outcome, verdict, png = _judge(
        ctx,
        "membership",
        attacks,
        policy.privacy.max_membership_advantage,
        by="strongest_attack",
        title="Membership inference: advantage = TPR − FPR",
        xlabel="held-out rows called 'member' (TPR: training rows, FPR: evaluation rows)",
    )
    some = next(iter(attacks.values()))
    measured = {**outcome.measured, "attacks": {name: a.to_dict() for name, a in attacks.items()}}
    note = f"; judged on {some.members} training and {some.non_members} evaluation rows"
    note += " the attacks did not learn from"
    return Outcome(outcome.status, measured, outcome.threshold, verdict + note, [png])


@check("robustness.attribute_inference", "robustness", PRIVACY)
def attribute_inference(ctx: RunContext) -> Outcome:
    ctx.require_model("an attribute inference attack")
    train = ctx.require_train("attribute inference (it attacks training rows)")
    policy = ctx.spec.checks.robustness
    protected = list(ctx.spec.protected_attributes)
    attacks = privacy.attribute_inference(
        privacy.attribute_sample(train, policy.privacy.sample_size, policy.seed),
        ctx.scores,
        protected,
        [f for f in ctx.features if f not in protected],
        seed=policy.seed,
        level=ctx.spec.checks.evaluation.confidence_level,
    )
    outcome, verdict, png = _judge(
        ctx,
        "attribute",
        attacks,
        policy.privacy.max_attribute_advantage,
        by="most_exposed_attribute",
        title="Attribute inference: advantage = with − without score",
        xlabel="attacker accuracy on held-out training rows",
    )
    exposed = outcome.measured["most_exposed_attribute"]
    worst = attacks[exposed]
    measured = {
        **outcome.measured,
        "attributes": {
            # an input the model sees is leaked by its output by construction; measured all the same
            name: {**a.to_dict(), "model_input": name in ctx.features}
            for name, a in attacks.items()
        },
    }
    note = (
        f"; {exposed} guessed right {worst.with_score.value:.0%} of the time with the "
        f"score, {worst.without_score.value:.0%} without, {worst.majority.value:.0%} by the majority value"
    )
    return Outcome(outcome.status, measured, outcome.threshold, verdict + note, [png])
