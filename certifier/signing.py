"""Signing certification claims as JWS, and checking such signatures.

A signature is a JWS compact serialization (RFC 7515) with the protected
header ``{"alg": "EdDSA", "kid": <key id>, "typ": TOKEN_TYPE}`` and, as
payload, the RFC 8785 canonical JSON of the claims. The key id is the RFC 7638
JWK thumbprint of the public key, so anyone can recompute it from the key
published at ``/api/v1/signing-keys``.

Signing goes through the ``Signer`` protocol, so a key held in a KMS can stand
in for ``SigningKey``, the local key file. Checking uses PyJWT.

Errors: ``SignatureInvalid`` (a presented signature is not genuine or cannot be
read) and ``KeyFileError`` (the local key file cannot be used).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol, cast

import rfc8785
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from jwt.algorithms import OKPAlgorithm
from jwt.api_jws import PyJWS
from jwt.exceptions import InvalidSignatureError, InvalidTokenError
from jwt.utils import base64url_encode

logger = logging.getLogger(__name__)

SIGNATURE_ALGORITHM = "EdDSA"
TOKEN_TYPE = "portcert-certification+jws"
# Far above any genuine token (about 1 kB); bounds the work an attacker can
# ask of VerifyCertification before the signature is checked.
MAX_TOKEN_LENGTH = 8192

_JWS = PyJWS(algorithms=[SIGNATURE_ALGORITHM])


# Named for the verdict it carries, as the runtime's errors (NotFound, ...) are.
class SignatureInvalid(Exception):
    """A presented signature is malformed, unknown or not genuine."""


class KeyFileError(Exception):
    """The signing key file cannot be read, is not Ed25519 or is exposed."""


class Signer(Protocol):
    """Something that signs bytes with a published key: a key file or a KMS."""

    @property
    def key_id(self) -> str:
        """The JWS ``kid`` of the key, as published."""
        ...

    @property
    def algorithm(self) -> str:
        """The JWS ``alg`` the signatures are made with."""
        ...

    def sign(self, data: bytes) -> bytes:
        """Return the raw signature over ``data``."""
        ...


class SigningKey:
    """An Ed25519 private key held locally, in memory or in a key file."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        """Wrap an Ed25519 private key."""
        self._private_key = private_key
        self._key_id = key_thumbprint(private_key.public_key())

    @classmethod
    def generate(cls) -> SigningKey:
        """Create a fresh key that lives only in memory."""
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def load_or_create(cls, path: Path) -> SigningKey:
        """Load the key in ``path``, creating the file first if it is missing.

        A new file holds a PEM PKCS8 key with mode 0600. It appears whole or
        not at all, and when several processes race to create it they all end
        up with the same key.

        Raises:
            KeyFileError: the file is unreadable, not an unencrypted Ed25519
                PEM PKCS8 key, or open to the group or others.
        """
        if not path.exists():
            candidate = Ed25519PrivateKey.generate()
            if _create_key_file(path, candidate):
                key = cls(candidate)
                logger.info(
                    "created signing key file",
                    extra={"key_id": key.key_id, "path": str(path)},
                )
                return key
        return cls(_read_key_file(path))

    @property
    def key_id(self) -> str:
        """The RFC 7638 thumbprint of the public key."""
        return self._key_id

    @property
    def algorithm(self) -> str:
        """Always ``EdDSA``."""
        return SIGNATURE_ALGORITHM

    @property
    def public_key(self) -> Ed25519PublicKey:
        """The public half, to publish."""
        return self._private_key.public_key()

    def sign(self, data: bytes) -> bytes:
        """Return the 64-byte Ed25519 signature over ``data``."""
        return self._private_key.sign(data)


def key_thumbprint(public_key: Ed25519PublicKey) -> str:
    """The RFC 7638 JWK SHA-256 thumbprint of the key, base64url-encoded."""
    jwk = OKPAlgorithm.to_jwk(public_key, as_dict=True)
    # RFC 7638 hashes the required members only, in the form RFC 8785 gives.
    required = {name: jwk[name] for name in ("crv", "kty", "x")}
    digest = hashlib.sha256(rfc8785.dumps(required)).digest()
    return base64url_encode(digest).decode("ascii")


def public_jwk(public_key: Ed25519PublicKey) -> dict[str, str]:
    """The public key as a JSON Web Key (RFC 7517, RFC 8037), with its kid."""
    jwk = OKPAlgorithm.to_jwk(public_key, as_dict=True)
    return {
        "kty": jwk["kty"],
        "crv": jwk["crv"],
        "x": jwk["x"],
        "kid": key_thumbprint(public_key),
        "alg": SIGNATURE_ALGORITHM,
        "use": "sig",
    }


def public_key_pem(public_key: Ed25519PublicKey) -> str:
    """The public key as PEM SubjectPublicKeyInfo."""
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def sign_claims(claims: Mapping[str, object], signer: Signer) -> str:
    """Sign the claims' canonical JSON; return the JWS compact serialization.

    Raises:
        ValueError: the claims' ``kid`` is not the signer's key id, or the
            claims are not representable as canonical JSON.
    """
    if claims.get("kid") != signer.key_id:
        raise ValueError(f"claims.kid must be the signer's key id {signer.key_id}")
    try:
        # rfc8785 checks each value's type as it goes, raising for any it
        # cannot represent, so the cast hides no unchecked input.
        payload = rfc8785.dumps(cast("dict[str, Any]", dict(claims)))
    except rfc8785.CanonicalizationError as err:
        raise ValueError(f"claims are not canonical JSON material: {err}") from err
    header = rfc8785.dumps(
        {"alg": signer.algorithm, "kid": signer.key_id, "typ": TOKEN_TYPE}
    )

    signing_input = base64url_encode(header) + b"." + base64url_encode(payload)
    signature = signer.sign(signing_input)
    return (signing_input + b"." + base64url_encode(signature)).decode("ascii")


def verify_signature(
    jws: str, public_keys: Mapping[str, Ed25519PublicKey]
) -> dict[str, object]:
    """Check a JWS made by ``sign_claims`` and return its claims.

    Args:
        jws: The presented JWS compact serialization.
        public_keys: The published keys by key id.

    Raises:
        SignatureInvalid: the token is malformed, uses another algorithm or
            type, names an unknown key, does not verify, or its payload is not
            canonical claims carrying the header's key id.
    """
    header = _read_header(jws)
    key_id = header.get("kid")
    if not isinstance(key_id, str) or key_id not in public_keys:
        raise SignatureInvalid(f"signing key id {key_id!r} is not a published key")

    try:
        decoded = _JWS.decode_complete(
            jws, key=public_keys[key_id], algorithms=[SIGNATURE_ALGORITHM]
        )
    except InvalidSignatureError as err:
        raise SignatureInvalid(
            f"signature does not match the content for key id {key_id}"
        ) from err
    except InvalidTokenError as err:
        raise SignatureInvalid(f"malformed token: {err}") from err

    return _read_claims(decoded["payload"], key_id)


def _read_header(jws: str) -> dict[str, object]:
    if len(jws) > MAX_TOKEN_LENGTH:
        raise SignatureInvalid(
            f"token is {len(jws)} characters long, over {MAX_TOKEN_LENGTH}"
        )
    try:
        header: dict[str, object] = _JWS.get_unverified_header(jws)
    except InvalidTokenError as err:
        raise SignatureInvalid(f"malformed token: {err}") from err
    if header.get("alg") != SIGNATURE_ALGORITHM:
        raise SignatureInvalid(
            f"algorithm {header.get('alg')!r} is not accepted; "
            f"only {SIGNATURE_ALGORITHM} is"
        )
    if header.get("typ") != TOKEN_TYPE:
        raise SignatureInvalid(
            f"token type {header.get('typ')!r} is not {TOKEN_TYPE!r}"
        )
    return header


def _read_claims(payload: bytes, key_id: str) -> dict[str, object]:
    try:
        claims = json.loads(payload)
    except ValueError as err:
        raise SignatureInvalid("payload is not JSON") from err
    if not isinstance(claims, dict):
        raise SignatureInvalid("payload is not a JSON object")
    try:
        canonical = rfc8785.dumps(claims)
    except rfc8785.CanonicalizationError as err:
        raise SignatureInvalid(f"payload is not canonical JSON: {err}") from err
    if canonical != payload:
        raise SignatureInvalid("payload is not RFC 8785 canonical JSON")
    if claims.get("kid") != key_id:
        raise SignatureInvalid("payload kid differs from the header kid")
    return claims


def _create_key_file(path: Path, private_key: Ed25519PrivateKey) -> bool:
    """Write the key beside ``path`` and link it into place; False if beaten."""
    pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    staging = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        _write_private_file(staging, pem)
        # A link, unlike a rename, never replaces a key that another process
        # created in the meantime.
        os.link(staging, path)
    except FileExistsError:
        return False
    except OSError as err:
        raise KeyFileError(
            f"cannot create signing key file {path}: {err.strerror}"
        ) from err
    finally:
        staging.unlink(missing_ok=True)
    return True


def _write_private_file(path: Path, content: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as file:
        # The umask may have taken owner bits away from the mode given above.
        os.fchmod(file.fileno(), 0o600)
        file.write(content)
        file.flush()
        os.fsync(file.fileno())


def _read_key_file(path: Path) -> Ed25519PrivateKey:
    try:
        mode = path.stat().st_mode
        pem = path.read_bytes()
    except OSError as err:
        raise KeyFileError(
            f"cannot read signing key file {path}: {err.strerror}"
        ) from err
    if mode & 0o077:
        raise KeyFileError(
            f"signing key file {path} has mode {mode & 0o777:04o}; "
            "it must be readable by its owner only (0600 or 0400)"
        )
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as err:
        raise KeyFileError(
            f"signing key file {path} is not an unencrypted PEM PKCS8 key"
        ) from err
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"signing key file {path} does not hold an Ed25519 key")
    return key
