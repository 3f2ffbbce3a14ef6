"""Direct identifiers planted in real Adult rows are found and named; the real data raises nothing."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from certification.datasets import load_adult
from certification.personal_data import luhn, scan
from tests.conftest import run_check, with_frames


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
    policy = adult_ctx.spec.checks.compliance.model_copy(
        update={"personal_data_allowed": {"email": "x" * 12}}
    )
    checks = adult_ctx.spec.checks.model_copy(update={"compliance": policy})
    justified = with_frames(adult_ctx, evaluation=evaluation)
    justified.spec = adult_ctx.spec.model_copy(update={"checks": checks})
    assert run_check(justified, "compliance.personal_data").status.value == "warn"
