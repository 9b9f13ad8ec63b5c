"""Caller identity: bearer tokens, roles and the permission matrix.

Tokens are JWTs (ES256 or RS256) checked against a JWKS. The gateway checks
them too, but services never rely on that: a caller that reaches a service
directly is held to the same rules.
"""

from __future__ import annotations

import enum
import json
import os
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from portcert_runtime.errors import PermissionDenied, Unauthenticated
from portcert_runtime.fields import is_plain_text

_ALGORITHMS = ["ES256", "RS256"]
_DEVELOPMENT_KEY_ID = "development-token-issuer"
# Subjects are stored as audit actors and submitters (varchar(255)).
_MAX_SUBJECT_LENGTH = 255


class Role(enum.Enum):
    """Roles of the permission matrix, as they appear in the ``roles`` claim."""

    VIEWER = "VIEWER"
    OPERATOR = "OPERATOR"
    CERTIFICATION_AUTHORITY = "CERTIFICATION_AUTHORITY"
    ADMINISTRATOR = "ADMINISTRATOR"


@dataclass(frozen=True)
class Principal:
    """An authenticated caller."""

    subject: str
    name: str
    roles: frozenset[Role]

    @property
    def primary_role(self) -> Role | None:
        """The most powerful role held, for audit entries."""
        for role in reversed(Role):
            if role in self.roles:
                return role
        return None

    def require(self, allowed: Iterable[Role]) -> None:
        """Raise PermissionDenied unless the caller holds one of ``allowed``."""
        allowed = frozenset(allowed)
        if not self.roles & allowed:
            names = ", ".join(sorted(role.value for role in allowed))
            raise PermissionDenied(f"requires one of the roles: {names}")


class TokenVerifier:
    """Checks bearer tokens against a fixed set of public keys."""

    def __init__(self, jwks: Mapping[str, object], issuer: str, audience: str) -> None:
        """Create from a JWKS document and the expected issuer and audience."""
        key_set = jwt.PyJWKSet.from_dict(dict(jwks))
        self._keys = {key.key_id: key for key in key_set.keys}
        self._issuer = issuer
        self._audience = audience

    def verify(self, authorization: str | None) -> Principal:
        """Turn an ``authorization`` header value into a Principal.

        Raises:
            Unauthenticated: the header is missing, malformed, expired, or the
                token is not signed by a known key.
        """
        if not authorization:
            raise Unauthenticated("missing bearer token")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated("authorization must be 'Bearer <token>'")
        try:
            key_id = jwt.get_unverified_header(token).get("kid")
            key = self._keys.get(key_id) if key_id else None
            if key is None:
                raise Unauthenticated("token signed by an unknown key")
            claims = jwt.decode(
                token,
                key=key,
                algorithms=_ALGORITHMS,
                audience=self._audience,
                issuer=self._issuer,
                options={"require": ["exp", "sub", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError as err:
            raise Unauthenticated("token expired") from err
        except jwt.InvalidTokenError as err:
            raise Unauthenticated(f"invalid token: {err}") from err
        return _principal_from_claims(claims)


def _principal_from_claims(claims: Mapping[str, object]) -> Principal:
    raw_roles = claims.get("roles", [])
    if not isinstance(raw_roles, list):
        raise Unauthenticated("invalid token: 'roles' must be a list")
    known = {role.value for role in Role}
    roles = frozenset(Role(r) for r in raw_roles if isinstance(r, str) and r in known)
    subject = str(claims["sub"])
    if not 0 < len(subject) <= _MAX_SUBJECT_LENGTH or not is_plain_text(subject):
        raise Unauthenticated(
            f"invalid token: 'sub' must be 1 to {_MAX_SUBJECT_LENGTH} "
            "printable characters"
        )
    return Principal(
        subject=subject, name=str(claims.get("name", subject)), roles=roles
    )


class DevelopmentTokenIssuer:
    """Mints tokens with a local ES256 key, for the embedded default and tests.

    Production deployments use their OpenID Connect provider instead and point
    ``PORTCERT_JWKS_FILE`` at its keys.
    """

    def __init__(self, key_file: Path, issuer: str, audience: str) -> None:
        """Load the key from ``key_file``, creating it on first use."""
        self._key = _load_or_create_ec_key(key_file)
        self._issuer = issuer
        self._audience = audience

    def jwks(self) -> dict[str, object]:
        """The public key as a JWKS document."""
        jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self._key.public_key()))
        jwk.update({"kid": _DEVELOPMENT_KEY_ID, "alg": "ES256", "use": "sig"})
        return {"keys": [jwk]}

    def mint(
        self,
        subject: str,
        roles: Iterable[Role],
        lifetime_seconds: int = 3600,
        name: str | None = None,
    ) -> str:
        """Sign a token for ``subject`` holding ``roles``."""
        now = int(time.time())
        claims = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": subject,
            "name": name or subject,
            "roles": [role.value for role in roles],
            "iat": now,
            "exp": now + lifetime_seconds,
            "jti": str(uuid.uuid4()),
        }
        return jwt.encode(
            claims, self._key, algorithm="ES256", headers={"kid": _DEVELOPMENT_KEY_ID}
        )


def _load_or_create_ec_key(path: Path) -> ec.EllipticCurvePrivateKey:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        temporary = path.with_suffix(".tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(pem)
        # rename is atomic, so a concurrent starter never reads half a key.
        os.replace(temporary, path)
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{path} does not hold an EC private key")
    return key
