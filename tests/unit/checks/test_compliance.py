"""Direct identifiers planted in real Adult rows are found and named; the real data raises nothing."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from certification.checks.compliance.personal_data import luhn, scan
from certification.demo.datasets import load_adult
from tests.helpers import run_check, with_frames


@pytest.fixture(scope="module")
def planted() -> pd.DataFrame:
    rows = load_adult("test").head(2000).copy()
    n = len(rows)
    return rows.assign(
        contact=[f"applicant{i}@example.org" for i in range(n)],
        tel=[f"+44 20 7946 {i:04d}" for i in range(n)],
        card=["4111 1111 1111 1111", "5500-0000-0000-0004"] * (n // 2),  # public test numbers, Luhn-valid
        ssn=[f"{100 + i % 800:03d}-{10 + i % 90:02d}-{i:04d}" for i in range(n)],
        surname="Doe",
        note=["call +44 20 7946 0000" if i < 10 else "" for i in range(n)],  # 0.5%: below the 1% share
    )


def test_each_planted_identifier_is_named_and_real_data_is_clean(planted: pd.DataFrame) -> None:
    found = {f["column"]: f["kind"] for f in scan(planted, min_share=0.01)}
    assert found == {
        "contact": "email",
        "tel": "phone",
        "card": "card_number",
        "ssn": "national_id",
        "surname": "named_identifier",
    }
    assert scan(load_adult("train"), min_share=0.01) == []


def test_ratios_with_many_digits_are_not_phone_numbers() -> None:
    """HMDA's ratios print as 0.920398009950249: twelve digits and a point, a measurement all the same."""
    from certification.demo.datasets import load_hmda

    assert scan(load_hmda(), min_share=0.01) == []


@pytest.mark.parametrize(
    ("number", "valid"),
    [
        ("4111111111111111", True),
        ("79927398713", True),
        ("4111111111111112", False),
        ("1234567890123456", False),
    ],
)
def test_luhn_agrees_with_the_published_examples(number: str, valid: bool) -> None:
    assert luhn(number) is valid


def test_the_check_fails_on_a_planted_email_column_unless_justified(adult_ctx: Any) -> None:
    assert run_check(adult_ctx, "compliance.personal_data").status.value == "pass"
    evaluation = adult_ctx.evaluation.assign(
        email=[f"a{i}@example.org" for i in range(len(adult_ctx.evaluation))]
    )
    result = run_check(with_frames(adult_ctx, evaluation=evaluation), "compliance.personal_data")
    assert result.status.value == "fail" and "evaluation.email (email)" in result.message
    justified = with_policy(
        with_frames(adult_ctx, evaluation=evaluation), personal_data_allowed={"email": "x" * 12}
    )
    assert run_check(justified, "compliance.personal_data").status.value == "warn"


def with_policy(ctx: Any, spec: dict[str, Any] | None = None, **compliance: Any) -> Any:
    """A copy of a context whose spec has other compliance settings (and other top-level fields)."""
    policy = ctx.spec.checks.compliance.model_copy(update=compliance)
    checks = ctx.spec.checks.model_copy(update={"compliance": policy})
    changed = with_frames(ctx)
    changed.spec = ctx.spec.model_copy(update={"checks": checks, **(spec or {})})
    return changed


def test_inputs_outside_the_approved_set_fail(adult_ctx: Any) -> None:
    assert run_check(adult_ctx, "compliance.data_minimisation").status.value == "pass"
    narrower = [f for f in adult_ctx.features if f != "fnlwgt"]
    result = run_check(with_policy(adult_ctx, approved_features=narrower), "compliance.data_minimisation")
    assert result.status.value == "fail" and result.measured["not_approved"] == ["fnlwgt"]
    unset = with_policy(adult_ctx, approved_features=None)
    assert run_check(unset, "compliance.data_minimisation").status.value == "not_applicable"


def test_rows_without_consent_or_past_retention_are_counted(adult_ctx: Any) -> None:
    rng = np.random.default_rng(0)
    frames = {}
    for name, frame in (("train", adult_ctx.train), ("evaluation", adult_ctx.evaluation)):
        age_days = rng.integers(0, 400, len(frame))  # collected up to 400 days ago; retention is 365
        frames[name] = frame.assign(
            consent=np.where(rng.random(len(frame)) < 0.02, "no", "Yes"),
            collected=(pd.Timestamp.now(tz="UTC") - pd.to_timedelta(age_days, unit="D")).astype(str),
        )
    ctx = with_frames(adult_ctx, **frames)
    settings = {"consent_column": "consent", "timestamp_column": "collected", "retention_days": 365}
    result = run_check(
        with_policy(ctx, max_noncompliant_share=0.2, **settings), "compliance.consent_retention"
    )
    for name, frame in frames.items():  # recomputed directly
        overdue = pd.to_datetime(frame["collected"]) < pd.Timestamp.now(tz="UTC") - pd.Timedelta(days=365)
        expected = ((frame["consent"] == "no") | overdue).mean()
        assert result.measured["datasets"][name]["noncompliant_share"] == pytest.approx(expected, abs=1e-3)
        assert result.measured["datasets"][name]["without_consent"] == (frame["consent"] == "no").sum()
    assert result.status.value == "pass"
    strict = run_check(
        with_policy(ctx, max_noncompliant_share=0.05, **settings), "compliance.consent_retention"
    )
    assert strict.status.value == "fail"
    missing = run_check(with_policy(adult_ctx, consent_column="consent"), "compliance.consent_retention")
    assert missing.status.value == "error" and "consent" in missing.message
    assert run_check(adult_ctx, "compliance.consent_retention").status.value == "not_applicable"


def test_missing_documentation_blocks_a_high_risk_use_case(adult_ctx: Any) -> None:
    assert run_check(adult_ctx, "compliance.documentation").status.value == "pass"
    blank = adult_ctx.spec.documentation.model_copy(update={"owners": [], "known_risks": []})
    result = run_check(with_policy(adult_ctx, spec={"documentation": blank}), "compliance.documentation")
    assert result.status.value == "fail" and result.measured["missing"] == ["owners", "known_risks"]
    limited = with_policy(adult_ctx, spec={"documentation": blank, "risk_tier": "limited"})
    assert run_check(limited, "compliance.documentation").status.value == "warn"
