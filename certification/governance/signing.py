"""Signed certificates: the certificate's canonical JSON (model, data and spec digests, the digest of all results,
approvers, validity) signed with Ed25519, and the checks a relying party makes before trusting one: the signature
under a key it trusts, the validity period, and that the model it is about to use is still the certified bytes.

The signing key is an Ed25519 private key in PEM: `$CERTIFICATION_SIGNING_KEY`, or one generated on first use under
`$CERTIFICATION_HOME/keys/` (fine for a laptop; production mounts its own key and publishes the public half).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from certification.config import settings
from certification.documents import document_sha256
from certification.errors import InputError
from certification.hashing import file_sha256
from certification.jsonutil import canonical_json, utcnow
from certification.ledger import Ledger, certificates
from certification.models import registered_sha256, served_identity
from certification.spec import Spec

KEY_ENV = "CERTIFICATION_SIGNING_KEY"
ALGORITHM = "Ed25519"
SIGNATURE_FILE = "certificate.sig.json"


def key_path(home: Path) -> Path:
    return settings().signing_key or home / "keys" / "certificate-signing.pem"


def private_key(home: Path) -> Ed25519PrivateKey:
    path = key_path(home)
    if not path.exists():
        if settings().signing_key:
            raise InputError(str(path), f"the signing key named by ${KEY_ENV} does not exist")
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        path.touch(mode=0o600)
        path.write_bytes(pem)
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:
        raise InputError(str(path), f"not a PEM private key: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise InputError(str(path), "the signing key must be an Ed25519 key")
    return key


def public_pem(key: Ed25519PublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def fingerprint(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def sign(document: dict[str, Any], key: Ed25519PrivateKey) -> dict[str, Any]:
    body = canonical_json(document).encode()
    return {
        "certificate_id": document["certificate_id"],
        "algorithm": ALGORITHM,
        "signed_sha256": hashlib.sha256(body).hexdigest(),
        "public_key": public_pem(key.public_key()),
        "key_fingerprint": fingerprint(key.public_key()),
        "signature": base64.b64encode(key.sign(body)).decode(),
    }


def load_public_key(pem: str | bytes, source: str) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(pem.encode() if isinstance(pem, str) else pem)
    except (ValueError, TypeError) as exc:
        raise InputError(source, f"not a PEM public key: {exc}") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise InputError(source, "the public key must be an Ed25519 key")
    return key


def current_model_sha256(reference: str) -> str | None:
    """The SHA-256 of the bytes a model reference names today: a registry version's files or a local file."""
    if reference.startswith("models:/"):
        return registered_sha256(reference)
    if reference.startswith("predictions:"):
        path = Path(reference.removeprefix("predictions:").rsplit("#", 1)[0])
        return file_sha256(path) if path.is_file() else None
    return file_sha256(Path(reference)) if Path(reference).is_file() else None


def _current_model(ledger: Ledger, document: dict[str, Any], reference: str) -> str | None:
    """As `current_model_sha256`; a served model is asked for its identity again, as its run's spec describes it
    (the endpoint, and the evaluation rows whose answers are the probe)."""
    if not reference.startswith("endpoint:"):
        return current_model_sha256(reference)
    run = ledger.run(str(document.get("run_id")))
    if run is None:
        return None
    return served_identity(Spec.model_validate(run["spec_json"]))


def verify(
    document: dict[str, Any],
    signature: dict[str, Any],
    trusted: Ed25519PublicKey,
    now: str,
    model_sha256: Callable[[str], str | None] = current_model_sha256,
) -> list[str]:
    """Every reason not to rely on this certificate; empty when it is signed by the trusted key, in its validity
    period, and about the model bytes that the reference names now."""
    problems = []
    body = canonical_json(document).encode()
    if signature.get("certificate_id") != document.get("certificate_id"):
        problems.append("the signature is for another certificate")
    try:
        trusted.verify(base64.b64decode(signature["signature"]), body)
    except (InvalidSignature, KeyError, ValueError):
        problems.append(
            "the signature does not match this certificate under the trusted key (altered or forged)"
        )
    if not document.get("issued_at", "") <= now:
        problems.append(f"not valid before {document.get('issued_at')}")
    if not certificates.stands(document.get("expires_at", ""), (), now):
        problems.append(f"expired at {document.get('expires_at')}")
    model = document.get("model") or {}
    reference = str(model.get("reference"))
    try:
        current = model_sha256(reference)
    except Exception as exc:  # a registry that cannot be read cannot vouch for the model
        problems.append(f"cannot read the model {reference}: {exc}")
    else:
        if current is None:
            problems.append(f"the model {reference} cannot be found to compare with the certified bytes")
        elif current != model.get("sha256"):
            problems.append(
                f"the model {reference} changed: sha256 {current}, certified {model.get('sha256')}"
            )
    return problems


def trusted_key(home: Path, public_key: str | None) -> Ed25519PublicKey:
    """The key a verifier trusts: the one given, else the public half of this installation's signing key."""
    if public_key:
        return load_public_key(Path(public_key).read_bytes(), public_key)
    if not key_path(home).exists():
        raise InputError(str(key_path(home)), "no signing key here to trust: pass the issuer's public key")
    return private_key(home).public_key()


def verify_certificate(
    ledger: Ledger, home: Path, path: Path, signature_path: Path | None = None, public_key: str | None = None
) -> tuple[dict[str, Any], list[str]]:
    """What a relying party checks: the issuer's signature, the validity period, the model bytes it names now, and
    the ledger's record of the certificate (recorded, same digest, not withdrawn). Returns the certificate and every
    reason not to rely on it."""
    signature_path = signature_path or path.with_name(SIGNATURE_FILE)
    try:
        document, signature = (json.loads(p.read_text(encoding="utf-8")) for p in (path, signature_path))
    except (OSError, ValueError) as exc:
        raise InputError(str(path), f"cannot read the certificate or its signature: {exc}") from exc
    problems = verify(
        document,
        signature,
        trusted_key(home, public_key),
        utcnow(),
        partial(_current_model, ledger, document),
    )
    recorded = certificates.certificate(ledger, str(document.get("certificate_id")))
    if recorded is None:
        problems.append("the ledger holds no such certificate")
    elif recorded["sha256"] != document_sha256(document):
        problems.append("the ledger recorded another document under this certificate id")
    elif withdrawn := certificates.withdrawn(ledger, str(document["certificate_id"])):
        problems.append(f"the certificate is {withdrawn}")
    return document, problems
