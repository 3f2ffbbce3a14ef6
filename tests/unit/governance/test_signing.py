"""Signed certificates: a certificate verifies under its issuer's key while it is valid and the model is the
certified bytes; an altered certificate, another key, an expired certificate or a swapped model file fail."""

from __future__ import annotations

import hashlib
import json
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from certification.governance import signing
from certification.hashing import file_sha256

NOW = "2026-06-01T00:00:00.000000Z"


@pytest.fixture
def issued(tmp_path: Path) -> tuple[dict, dict, Ed25519PrivateKey, Path]:
    model = tmp_path / "model.joblib"
    model.write_bytes(b"the certified model's bytes")
    key = signing.private_key(tmp_path / "home")
    document = {
        "certificate_id": "CERT-TEST",
        "issued_at": "2026-01-01T00:00:00.000000Z",
        "expires_at": "2027-01-01T00:00:00.000000Z",
        "model": {"reference": str(model), "sha256": file_sha256(model)},
        "results_sha256": "a" * 64,
        "approvers": [{"role": "risk", "approver": "alice"}],
    }
    return document, signing.sign(document, key), key, model


def test_a_valid_certificate_verifies_and_the_signed_digest_is_the_canonical_json(issued) -> None:
    document, signature, key, _ = issued
    assert signing.verify(document, signature, key.public_key(), NOW) == []
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert signature["signed_sha256"] == hashlib.sha256(canonical.encode()).hexdigest()
    assert signing.load_public_key(signature["public_key"], "sig").public_bytes_raw() == (
        key.public_key().public_bytes_raw()
    )


def test_tampering_another_key_expiry_and_a_swapped_model_are_each_reported(issued) -> None:
    document, signature, key, model = issued
    tampered = {**document, "approvers": [{"role": "risk", "approver": "mallory"}]}
    assert any("altered or forged" in p for p in signing.verify(tampered, signature, key.public_key(), NOW))
    stranger = Ed25519PrivateKey.generate().public_key()
    assert any("altered or forged" in p for p in signing.verify(document, signature, stranger, NOW))
    assert signing.verify(document, signature, key.public_key(), "2027-02-01T00:00:00.000000Z") == [
        "expired at 2027-01-01T00:00:00.000000Z"
    ]
    model.write_bytes(b"a retrained model put in its place")
    [changed] = signing.verify(document, signature, key.public_key(), NOW)
    assert "changed" in changed and document["model"]["sha256"] in changed
    model.unlink()
    assert "cannot be found" in signing.verify(document, signature, key.public_key(), NOW)[0]


def test_the_generated_key_is_private_to_its_owner_and_reused(tmp_path: Path) -> None:
    first = signing.private_key(tmp_path)
    path = signing.key_path(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert (
        signing.private_key(tmp_path).public_key().public_bytes_raw() == first.public_key().public_bytes_raw()
    )
