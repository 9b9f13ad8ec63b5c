"""Certification claims, their JWS signatures and the signing key file."""

from __future__ import annotations

import base64
import hashlib
import json
import stat
import threading
from collections.abc import Mapping
from pathlib import Path

import pytest
import rfc8785
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from jwt.api_jws import PyJWS

from certifier.model import CertificationClaims
from certifier.signing import (
    TOKEN_TYPE,
    KeyFileError,
    SignatureInvalid,
    SigningKey,
    key_thumbprint,
    public_jwk,
    public_key_pem,
    sign_claims,
    verify_signature,
)

from .certification_builders import make_claims as claims_for_key


def make_claims(key: SigningKey, **overrides: object) -> CertificationClaims:
    return claims_for_key(kid=key.key_id, **overrides)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def compact(header: Mapping[str, object], payload: bytes, signature: bytes) -> str:
    segments = (json.dumps(header).encode(), payload, signature)
    return ".".join(b64url(segment) for segment in segments)


class ForgingSigner:
    """Claims one key's id while signing with another key."""

    def __init__(self, claimed: SigningKey, actual: SigningKey) -> None:
        self.key_id = claimed.key_id
        self.algorithm = "EdDSA"
        self._actual = actual

    def sign(self, data: bytes) -> bytes:
        return self._actual.sign(data)


@pytest.fixture
def key() -> SigningKey:
    return SigningKey.generate()


@pytest.fixture
def other_key() -> SigningKey:
    return SigningKey.generate()


def test_signed_claims_verify_and_read_back_unchanged(key: SigningKey) -> None:
    claims = make_claims(key)

    jws = sign_claims(claims.to_json_object(), key)
    verified = verify_signature(jws, {key.key_id: key.public_key})

    assert CertificationClaims.from_json_object(verified) == claims


def test_signature_is_byte_identical_to_pyjwt_encoding() -> None:
    private_key = Ed25519PrivateKey.generate()
    key = SigningKey(private_key)
    payload = rfc8785.dumps(make_claims(key).to_json_object())

    ours = sign_claims(make_claims(key).to_json_object(), key)
    theirs = PyJWS().encode(
        payload,
        private_key,
        algorithm="EdDSA",
        headers={"kid": key.key_id, "typ": TOKEN_TYPE},
    )

    assert ours == theirs


def test_payload_is_the_canonical_json_of_the_claims(key: SigningKey) -> None:
    claims = make_claims(key).to_json_object()

    payload_segment = sign_claims(claims, key).split(".")[1]

    padded = payload_segment + "=" * (-len(payload_segment) % 4)
    assert base64.urlsafe_b64decode(padded) == rfc8785.dumps(claims)


def test_tampered_payload_is_rejected(key: SigningKey) -> None:
    header, _, signature = sign_claims(make_claims(key).to_json_object(), key).split(
        "."
    )
    forged = make_claims(key, container_id="MSKU9070323").to_json_object()
    tampered = f"{header}.{b64url(rfc8785.dumps(forged))}.{signature}"

    with pytest.raises(SignatureInvalid, match="does not match the content"):
        verify_signature(tampered, {key.key_id: key.public_key})


def test_signature_by_another_key_under_a_published_kid_is_rejected(
    key: SigningKey, other_key: SigningKey
) -> None:
    forger = ForgingSigner(claimed=key, actual=other_key)

    jws = sign_claims(make_claims(key).to_json_object(), forger)

    with pytest.raises(SignatureInvalid, match="does not match the content"):
        verify_signature(jws, {key.key_id: key.public_key})


def test_signature_by_an_unpublished_key_is_rejected(
    key: SigningKey, other_key: SigningKey
) -> None:
    jws = sign_claims(make_claims(other_key).to_json_object(), other_key)

    with pytest.raises(SignatureInvalid, match="is not a published key"):
        verify_signature(jws, {key.key_id: key.public_key})


def test_unsigned_alg_none_token_is_rejected(key: SigningKey) -> None:
    header = {"alg": "none", "kid": key.key_id, "typ": TOKEN_TYPE}
    payload = rfc8785.dumps(make_claims(key).to_json_object())
    token = compact(header, payload, b"")

    with pytest.raises(SignatureInvalid, match="'none' is not accepted"):
        verify_signature(token, {key.key_id: key.public_key})


def test_hmac_token_keyed_with_the_public_key_is_rejected(key: SigningKey) -> None:
    raw_public = key.public_key.public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    payload = rfc8785.dumps(make_claims(key).to_json_object())
    token = PyJWS().encode(
        payload,
        raw_public,
        algorithm="HS256",
        headers={"kid": key.key_id, "typ": TOKEN_TYPE},
    )

    with pytest.raises(SignatureInvalid, match="'HS256' is not accepted"):
        verify_signature(token, {key.key_id: key.public_key})


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "not a token",
        "a.b",
        "a.b.c",
        "...",
        "eyJhbGciOiJFZERTQSJ9.!!!.AAAA",
        "x" * 10_000,
    ],
)
def test_garbage_is_rejected_as_invalid_signature(
    key: SigningKey, garbage: str
) -> None:
    published = {key.key_id: key.public_key}

    with pytest.raises(SignatureInvalid):
        verify_signature(garbage, published)


def test_token_of_another_type_is_rejected(key: SigningKey) -> None:
    payload = rfc8785.dumps(make_claims(key).to_json_object())
    token = PyJWS().encode(
        payload, key._private_key, algorithm="EdDSA", headers={"kid": key.key_id}
    )

    with pytest.raises(SignatureInvalid, match="token type 'JWT'"):
        verify_signature(token, {key.key_id: key.public_key})


def test_payload_naming_another_kid_than_the_header_is_rejected(
    key: SigningKey, other_key: SigningKey
) -> None:
    payload = rfc8785.dumps(make_claims(other_key).to_json_object())
    token = PyJWS().encode(
        payload,
        key._private_key,
        algorithm="EdDSA",
        headers={"kid": key.key_id, "typ": TOKEN_TYPE},
    )

    with pytest.raises(SignatureInvalid, match="kid differs"):
        verify_signature(token, {key.key_id: key.public_key})


def test_genuinely_signed_non_canonical_payload_is_rejected(key: SigningKey) -> None:
    payload = json.dumps(make_claims(key).to_json_object(), indent=2).encode()
    token = PyJWS().encode(
        payload,
        key._private_key,
        algorithm="EdDSA",
        headers={"kid": key.key_id, "typ": TOKEN_TYPE},
    )

    with pytest.raises(SignatureInvalid, match="not RFC 8785 canonical"):
        verify_signature(token, {key.key_id: key.public_key})


def test_signing_claims_that_name_another_kid_is_refused(
    key: SigningKey, other_key: SigningKey
) -> None:
    claims = make_claims(other_key).to_json_object()

    with pytest.raises(ValueError, match=r"claims\.kid"):
        sign_claims(claims, key)


def test_key_file_is_created_once_with_mode_0600_and_reloads_same_kid(
    tmp_path: Path,
) -> None:
    path = tmp_path / "keys" / "signing.pem"

    created = SigningKey.load_or_create(path)
    content = path.read_bytes()
    reloaded = SigningKey.load_or_create(path)

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert reloaded.key_id == created.key_id
    assert path.read_bytes() == content
    assert content.startswith(b"-----BEGIN PRIVATE KEY-----")
    assert [entry.name for entry in path.parent.iterdir()] == ["signing.pem"]


def test_concurrent_first_starts_all_get_the_same_key(tmp_path: Path) -> None:
    path = tmp_path / "signing.pem"
    key_ids: list[str] = []
    threads = [
        threading.Thread(
            target=lambda: key_ids.append(SigningKey.load_or_create(path).key_id)
        )
        for _ in range(8)
    ]

    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(key_ids) == 8
    assert set(key_ids) == {SigningKey.load_or_create(path).key_id}


def test_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "signing.pem"
    SigningKey.load_or_create(path)
    path.chmod(0o644)

    with pytest.raises(KeyFileError, match="mode 0644"):
        SigningKey.load_or_create(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not a key", "not an unencrypted PEM PKCS8 key"),
        (
            generate_private_key(SECP256R1()).private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
            "does not hold an Ed25519 key",
        ),
    ],
)
def test_key_file_without_an_ed25519_key_is_refused(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "signing.pem"
    path.write_bytes(content)
    path.chmod(0o600)

    with pytest.raises(KeyFileError, match=message):
        SigningKey.load_or_create(path)


def test_key_id_is_the_rfc7638_thumbprint_of_the_jwk_members(key: SigningKey) -> None:
    raw = key.public_key.public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    members = f'{{"crv":"Ed25519","kty":"OKP","x":"{b64url(raw)}"}}'

    expected = b64url(hashlib.sha256(members.encode()).digest())

    assert key.key_id == expected
    assert public_jwk(key.public_key)["kid"] == expected


def test_thumbprint_matches_the_rfc8037_example() -> None:
    x = base64.urlsafe_b64decode("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo=")

    thumbprint = key_thumbprint(Ed25519PublicKey.from_public_bytes(x))

    assert thumbprint == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


def test_exported_jwk_and_pem_describe_the_signing_key(key: SigningKey) -> None:
    jwk = public_jwk(key.public_key)
    pem = public_key_pem(key.public_key)

    loaded = serialization.load_pem_public_key(pem.encode())
    raw = key.public_key.public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    assert jwk == {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": b64url(raw),
        "kid": key.key_id,
        "alg": "EdDSA",
        "use": "sig",
    }
    assert isinstance(loaded, Ed25519PublicKey)
    assert (
        loaded.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        == raw
    )
