"""Direct identifiers in datasets: values that look like e-mail addresses, phone numbers, national-ID or payment-card
numbers, IBANs, and columns whose name says they hold a person's name or contact details. Each column is judged on
the share of its non-empty values that match (card numbers must also pass the Luhn checksum)."""

from __future__ import annotations

import re
from typing import Any

import pandas as pd

# most specific first: a column matching several equally often is named by the first
PATTERNS = {
    "email": re.compile(r"^[\w.+-]+@[\w-]+(\.[\w-]+)+$"),
    "card_number": re.compile(r"^\d(?:[ -]?\d){12,18}$"),
    "national_id": re.compile(r"^(\d{3}-\d{2}-\d{4}|[A-Z]{2}\d{6}[A-D]|\d{2}[01]\d[0-3]\d[-+]?\d{4})$"),
    "iban": re.compile(r"^[A-Z]{2}\d{2}[A-Z0-9 ]{11,30}$"),
    "phone": re.compile(r"^\+?\(?\d[\d\s().-]{7,17}\d$"),
}
NAME_COLUMNS = re.compile(
    r"^((first|last|full|given|family|middle|sur)_?)?name$"
    r"|^(e_?mail|phone|mobile|telephone|ssn|passport|street_address|home_address)(_|$)",
    re.IGNORECASE,
)


def luhn(digits: str) -> bool:
    numbers = [int(d) for d in digits if d.isdigit()]
    checksum = sum(numbers[-1::-2]) + sum(sum(divmod(2 * d, 10)) for d in numbers[-2::-2])
    return checksum % 10 == 0


def _matches(kind: str, values: pd.Series) -> pd.Series:
    found = values.str.fullmatch(PATTERNS[kind]).fillna(False).astype(bool)
    if kind == "card_number":
        found &= values.map(luhn).astype(bool)
    if kind == "phone":  # a number with a separator or a leading +: not a plain count or amount
        found &= values.str.contains(r"[\s().+-]", regex=True)
    return found


def scan(frame: pd.DataFrame, min_share: float, sample: int = 20_000) -> list[dict[str, Any]]:
    """Every column holding direct identifiers: by its values (share of non-empty sampled values that match a
    pattern, at least `min_share`) or by its name."""
    rows = frame if len(frame) <= sample else frame.sample(sample, random_state=0)
    found = []
    for column in frame.columns:
        # a fraction is a measurement, never an identifier: its printed digits ("0.920398009950") are not a phone
        measured = pd.api.types.is_float_dtype(rows[column]) and (rows[column].dropna() % 1 != 0).any()
        values = pd.Series(dtype=str) if measured else rows[column].dropna().astype(str).str.strip()
        values = values[values != ""]
        hits = {kind: float(_matches(kind, values).mean()) for kind in PATTERNS} if len(values) else {}
        kind, share = max(hits.items(), key=lambda kv: kv[1], default=(None, 0.0))
        if kind is not None and share >= min_share:
            found.append({"column": str(column), "kind": kind, "share": share, "values_checked": len(values)})
        elif NAME_COLUMNS.search(str(column)):
            found.append(
                {"column": str(column), "kind": "named_identifier", "share": None, "values_checked": 0}
            )
    return found
