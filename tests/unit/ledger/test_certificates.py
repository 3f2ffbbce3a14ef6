"""One rule decides whether a certificate stands (ledger.certificates.state), settled at its boundary, and the
readers that used to decide it on their own (registry change control, certificate verification) now agree with it."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from certification.documents import document_sha256
from certification.governance import registry, signing
from certification.ledger import Ledger, certificates

EXPIRES = "2027-01-01T00:00:00.000000Z"
BEFORE, AFTER = "2026-12-31T23:59:59.999999Z", "2027-01-01T00:00:00.000001Z"


def test_a_certificate_is_expired_from_the_instant_it_expires() -> None:
    assert certificates.state(EXPIRES, (), BEFORE) == "valid"
    assert (
        certificates.state(EXPIRES, (), EXPIRES) == "expired"
    )  # the boundary: `expires_at` is no longer valid
    assert certificates.state(EXPIRES, (), AFTER) == "expired"
    assert certificates.stands(EXPIRES, (), BEFORE) and not certificates.stands(EXPIRES, (), EXPIRES)


def test_expiring_soon_and_withdrawals() -> None:
    assert certificates.state(EXPIRES, (), BEFORE, soon=EXPIRES) == "expiring"  # expires by `soon`: expiring
    assert certificates.state(EXPIRES, (), BEFORE, soon=BEFORE) == "valid"
    assert (
        certificates.state(EXPIRES, {certificates.RECERTIFY}, BEFORE) == "valid"
    )  # a request withdraws nothing
    for actions, expected in (
        (["expired", "suspended"], "suspended"),
        (["suspended", "revoked"], "revoked"),
        (["revoked", "expired", "suspended"], "revoked"),
        (["expired"], "expired"),
    ):
        assert certificates.state("2099-01-01", actions, BEFORE) == expected  # strongest wins, in any order
        assert certificates.withdrawal(actions) == expected


def _ledger_with_certificate(tmp_path: Path) -> Ledger:
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    ledger.ensure_schema()
    document = {"certificate_id": "CERT-1", "model": {"reference": "models:/m/1", "sha256": "0" * 64}}
    ledger.record(
        "runs",
        {
            "run_id": "r1",
            "created_at": BEFORE,
            "origin": "cli",
            "submitted_by": "d",
            "spec_source": "s",
            "overrides_json": {},
        },
    )
    ledger.record(
        "certificates",
        {
            "certificate_id": "CERT-1",
            "run_id": "r1",
            "issued_at": "2026-01-01T00:00:00.000000Z",
            "expires_at": EXPIRES,
            "sha256": document_sha256(document),
            "document_json": document,
        },
    )
    return ledger


def test_registry_change_control_applies_the_same_boundary(tmp_path: Path) -> None:
    """It used `<` where every other reader used `<=`: at the instant of expiry the alias is no longer covered."""
    ledger = _ledger_with_certificate(tmp_path)
    problem = registry.certificate_problem(ledger, "m", "1", "CERT-1", EXPIRES)
    assert problem == f"certificate CERT-1 expired at {EXPIRES}"


def test_a_relying_party_applies_the_same_boundary(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    document = {"certificate_id": "CERT-1", "issued_at": "2026-01-01", "expires_at": EXPIRES, "model": {}}
    signature = signing.sign(document, key)
    before = signing.verify(document, signature, key.public_key(), BEFORE, model_sha256=lambda _: None)
    at = signing.verify(document, signature, key.public_key(), EXPIRES, model_sha256=lambda _: None)
    assert f"expired at {EXPIRES}" not in before and f"expired at {EXPIRES}" in at
