"""Domain model of a certification and of the claims its signature covers.

Plain frozen dataclasses and rules that know nothing of gRPC, SQL or storage.

What is signed
--------------
A certification's ``digital_signature`` covers exactly the claims below, and
nothing else. They are what a holder (a customs officer at another port, a
haulier at a gate) must be able to trust offline, from the QR code alone:

=================== ==========================================================
claim               meaning
=================== ==========================================================
certification_id    the certification (UUID), to look it up online
container_id        the ISO 6346 container number it certifies
request_id          the verification request it rests on (UUID)
issued_at           when it was issued, RFC 3339 UTC to the second
expires_at          ``issued_at`` + ``CERTIFICATION_VALIDITY`` (90 days)
issued_by           the issuing authority
issuing_officer_id  subject of the officer or service that issued it
verification_status always ``PASSED``: nothing else is ever certified
risk_score          the verification's risk estimate, 0 to 1
checks              object mapping each check type to its pass/fail flag
kid                 id of the signing key; equal to the JWS header's ``kid``
=================== ==========================================================

Deliberately left unsigned:

- ``status`` and ``revocation``: they change after issue, so no offline token
  can vouch for them; revocation is only visible through the online service.
- ``issuing_officer`` (a display name, personal data that need not travel in
  every QR code; ``issuing_officer_id`` identifies the issuer), the checks'
  free-text ``details``, ``metadata`` and ``pdf_uri``: informative or
  storage details that would only enlarge the QR code.
- ``signature_algorithm``: it is the JWS header's ``alg``, covered by the
  signature as part of the protected header.

Errors: ``CertificationRuleError`` (a value breaks a rule; names the field and
the rule) and ``CertificationAlreadyRevoked`` (the certification is in the wrong
state for revocation).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime, timedelta
from uuid import UUID

from stdnum import iso6346
from stdnum.exceptions import ValidationError

CERTIFICATION_VALIDITY = timedelta(days=90)
REQUIRED_CHECK_TYPES = frozenset(
    {
        "DOCUMENT_COMPLETENESS",
        "DOCUMENT_AUTHENTICITY",
        "MANIFEST_VERIFICATION",
        "COMPLIANCE_CHECK",
    }
)
VERIFICATION_PASSED = "PASSED"
MAX_REVOCATION_REASON_LENGTH = 1000

# The JSON types a claim takes; ``to_json_object`` produces nothing else.
ClaimValue = str | float | dict[str, bool]

_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


class CertificationRuleError(ValueError):
    """A value breaks a certification rule."""

    def __init__(self, field: str, rule: str) -> None:
        """Create from the offending field's name and the rule it broke."""
        self.field = field
        self.rule = rule
        super().__init__(f"{field}: {rule}")


# Named for the state it reports, as the runtime's errors (NotFound, ...) are.
class CertificationAlreadyRevoked(Exception):
    """The certification was revoked before and cannot be revoked again."""


class CertificationStatus(enum.Enum):
    """Lifecycle of a certification."""

    ACTIVE = "ACTIVE"
    REVOKED = "REVOKED"
    EXPIRED = "EXPIRED"


@dataclass(frozen=True)
class CheckSummary:
    """The outcome of one verification check, as a certification records it."""

    check_type: str
    passed: bool
    details: str


@dataclass(frozen=True)
class Revocation:
    """Why, by whom and when a certification was revoked."""

    reason: str
    revoked_by: str
    revoked_at: datetime


@dataclass(frozen=True)
class CertificationClaims:
    """The claims a certification's signature covers; see the module docstring.

    ``checks`` pairs each check type with its pass/fail flag, sorted by check
    type so that equal claims compare equal whatever order they came in.
    """

    certification_id: UUID
    container_id: str
    request_id: UUID
    issued_at: datetime
    expires_at: datetime
    issued_by: str
    issuing_officer_id: str
    verification_status: str
    risk_score: float
    checks: tuple[tuple[str, bool], ...]
    kid: str

    def to_json_object(self) -> dict[str, ClaimValue]:
        """The claims as a JSON-ready mapping, the payload to canonicalise."""
        return {
            "certification_id": str(self.certification_id),
            "container_id": self.container_id,
            "request_id": str(self.request_id),
            "issued_at": self.issued_at.strftime(_TIME_FORMAT),
            "expires_at": self.expires_at.strftime(_TIME_FORMAT),
            "issued_by": self.issued_by,
            "issuing_officer_id": self.issuing_officer_id,
            "verification_status": self.verification_status,
            "risk_score": self.risk_score,
            "checks": dict(self.checks),
            "kid": self.kid,
        }

    @classmethod
    def from_json_object(cls, claims: Mapping[str, object]) -> CertificationClaims:
        """Read claims back from a verified signature's payload.

        Only shapes and formats are checked here: a genuine signature's claims
        stay readable even if issuance rules change later.

        Raises:
            CertificationRuleError: a claim is missing, unknown or malformed.
        """
        missing = sorted(_CLAIM_NAMES - claims.keys())
        if missing:
            raise CertificationRuleError(f"claims.{missing[0]}", "is required")
        unknown = sorted(claims.keys() - _CLAIM_NAMES)
        if unknown:
            raise CertificationRuleError(f"claims.{unknown[0]}", "is not a claim")
        return cls(
            certification_id=_read_uuid(claims, "certification_id"),
            container_id=_read_text(claims, "container_id"),
            request_id=_read_uuid(claims, "request_id"),
            issued_at=_read_time(claims, "issued_at"),
            expires_at=_read_time(claims, "expires_at"),
            issued_by=_read_text(claims, "issued_by"),
            issuing_officer_id=_read_text(claims, "issuing_officer_id"),
            verification_status=_read_text(claims, "verification_status"),
            risk_score=_read_risk_score(claims),
            checks=_read_checks(claims),
            kid=_read_text(claims, "kid"),
        )


_CLAIM_NAMES = frozenset(claim.name for claim in fields(CertificationClaims))


@dataclass(frozen=True)
class Certification:
    """A signed statement that a container passed verification."""

    certification_id: UUID
    container_id: str
    request_id: UUID
    issued_at: datetime
    expires_at: datetime
    issued_by: str
    issuing_officer: str
    issuing_officer_id: str
    checks: tuple[CheckSummary, ...]
    risk_score: float
    status: CertificationStatus
    signing_key_id: str
    signature_algorithm: str
    digital_signature: str
    pdf_uri: str
    revocation: Revocation | None = None
    metadata: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Reject states that no valid certification can be in."""
        _require_utc("issued_at", self.issued_at)
        _require_utc("expires_at", self.expires_at)
        if (self.status is CertificationStatus.REVOKED) != (
            self.revocation is not None
        ):
            raise CertificationRuleError(
                "revocation", "must be set exactly when the status is REVOKED"
            )

    def signed_claims(self) -> CertificationClaims:
        """The claims this certification's signature must carry."""
        return CertificationClaims(
            certification_id=self.certification_id,
            container_id=self.container_id,
            request_id=self.request_id,
            issued_at=self.issued_at,
            expires_at=self.expires_at,
            issued_by=self.issued_by,
            issuing_officer_id=self.issuing_officer_id,
            verification_status=VERIFICATION_PASSED,
            risk_score=self.risk_score,
            checks=_sorted_flags(self.checks),
            kid=self.signing_key_id,
        )

    def status_at(self, now: datetime) -> CertificationStatus:
        """The status as of ``now``: a stored ACTIVE past its expiry is EXPIRED."""
        if self.status is CertificationStatus.ACTIVE and now >= self.expires_at:
            return CertificationStatus.EXPIRED
        return self.status


def new_certification_claims(
    *,
    certification_id: UUID,
    container_id: str,
    request_id: UUID,
    issued_at: datetime,
    issued_by: str,
    issuing_officer_id: str,
    checks: Sequence[CheckSummary],
    risk_score: float,
    kid: str,
) -> CertificationClaims:
    """Build the claims to sign for a verification that passed.

    ``issued_at`` is truncated to the whole second (the precision of the
    signed times); ``expires_at`` is ``CERTIFICATION_VALIDITY`` later.

    Raises:
        CertificationRuleError: an input breaks an issuance rule, for example a
            failed or missing check, a bad container number or a naive time.
    """
    _require_iso6346("container_id", container_id)
    _require_utc("issued_at", issued_at)
    for name, value in (
        ("issued_by", issued_by),
        ("issuing_officer_id", issuing_officer_id),
        ("kid", kid),
    ):
        _require_text(name, value)
    _require_risk_score(risk_score)
    _require_all_checks_passed(checks)

    issued = issued_at.astimezone(UTC).replace(microsecond=0)
    return CertificationClaims(
        certification_id=certification_id,
        container_id=container_id,
        request_id=request_id,
        issued_at=issued,
        expires_at=issued + CERTIFICATION_VALIDITY,
        issued_by=issued_by,
        issuing_officer_id=issuing_officer_id,
        verification_status=VERIFICATION_PASSED,
        risk_score=float(risk_score),
        checks=_sorted_flags(checks),
        kid=kid,
    )


def new_certification(
    claims: CertificationClaims,
    *,
    checks: Sequence[CheckSummary],
    issuing_officer: str,
    signature_algorithm: str,
    digital_signature: str,
    pdf_uri: str,
    metadata: Mapping[str, str] | None = None,
) -> Certification:
    """Build the ACTIVE certification whose signature carries ``claims``.

    Raises:
        CertificationRuleError: ``checks`` disagree with the signed claims, or
            a required text is empty.
    """
    if _sorted_flags(checks) != claims.checks:
        raise CertificationRuleError("checks", "must match the signed claims")
    for name, value in (
        ("issuing_officer", issuing_officer),
        ("signature_algorithm", signature_algorithm),
        ("digital_signature", digital_signature),
    ):
        _require_text(name, value)

    return Certification(
        certification_id=claims.certification_id,
        container_id=claims.container_id,
        request_id=claims.request_id,
        issued_at=claims.issued_at,
        expires_at=claims.expires_at,
        issued_by=claims.issued_by,
        issuing_officer=issuing_officer,
        issuing_officer_id=claims.issuing_officer_id,
        checks=tuple(checks),
        risk_score=claims.risk_score,
        status=CertificationStatus.ACTIVE,
        signing_key_id=claims.kid,
        signature_algorithm=signature_algorithm,
        digital_signature=digital_signature,
        pdf_uri=pdf_uri,
        metadata=dict(metadata or {}),
    )


def revoke_certification(
    certification: Certification,
    *,
    reason: str,
    revoked_by: str,
    revoked_at: datetime,
) -> Certification:
    """Return the certification revoked for ``reason``.

    Raises:
        CertificationRuleError: the reason is empty or longer than 1000
            characters, or ``revoked_by`` is empty, or ``revoked_at`` naive.
        CertificationAlreadyRevoked: it was revoked before.
    """
    _require_text("reason", reason)
    if len(reason) > MAX_REVOCATION_REASON_LENGTH:
        raise CertificationRuleError(
            "reason", f"must be at most {MAX_REVOCATION_REASON_LENGTH} characters"
        )
    _require_text("revoked_by", revoked_by)
    _require_utc("revoked_at", revoked_at)
    if certification.status is CertificationStatus.REVOKED:
        raise CertificationAlreadyRevoked(
            f"certification {certification.certification_id} is already revoked"
        )

    revocation = Revocation(reason, revoked_by, revoked_at.astimezone(UTC))
    return replace(
        certification, status=CertificationStatus.REVOKED, revocation=revocation
    )


def _sorted_flags(checks: Sequence[CheckSummary]) -> tuple[tuple[str, bool], ...]:
    return tuple(sorted((check.check_type, check.passed) for check in checks))


def _require_text(name: str, value: str) -> None:
    if not value.strip():
        raise CertificationRuleError(name, "must not be empty")


def _require_utc(name: str, value: datetime) -> None:
    if value.utcoffset() is None:
        raise CertificationRuleError(name, "must be timezone-aware")


def _require_iso6346(name: str, value: str) -> None:
    try:
        compact = iso6346.validate(value)
    except ValidationError as err:
        raise CertificationRuleError(
            name, f"must be a valid ISO 6346 container number ({err})"
        ) from err
    if compact != value:
        raise CertificationRuleError(name, f"must be written compactly: {compact}")


def _require_risk_score(value: float) -> None:
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise CertificationRuleError("risk_score", "must be between 0 and 1")


def _require_all_checks_passed(checks: Sequence[CheckSummary]) -> None:
    types = [check.check_type for check in checks]
    if len(set(types)) != len(types):
        raise CertificationRuleError("checks", "must name each check type once")
    missing = sorted(REQUIRED_CHECK_TYPES - set(types))
    if missing:
        raise CertificationRuleError("checks", f"lack {', '.join(missing)}")
    unknown = sorted(set(types) - REQUIRED_CHECK_TYPES)
    if unknown:
        raise CertificationRuleError("checks", f"unknown type {', '.join(unknown)}")
    failed = sorted(check.check_type for check in checks if not check.passed)
    if failed:
        raise CertificationRuleError(
            "checks", f"must all have passed; failed: {', '.join(failed)}"
        )


def _read_text(claims: Mapping[str, object], name: str) -> str:
    value = claims[name]
    if not isinstance(value, str):
        raise CertificationRuleError(f"claims.{name}", "must be a string")
    return value


def _read_uuid(claims: Mapping[str, object], name: str) -> UUID:
    text = _read_text(claims, name)
    try:
        return UUID(text)
    except ValueError as err:
        raise CertificationRuleError(f"claims.{name}", "must be a UUID") from err


def _read_time(claims: Mapping[str, object], name: str) -> datetime:
    text = _read_text(claims, name)
    try:
        return datetime.strptime(text, _TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError as err:
        raise CertificationRuleError(
            f"claims.{name}", "must be a UTC time like 2026-01-31T23:59:59Z"
        ) from err


def _read_risk_score(claims: Mapping[str, object]) -> float:
    value = claims["risk_score"]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CertificationRuleError("claims.risk_score", "must be a number")
    return float(value)


def _read_checks(claims: Mapping[str, object]) -> tuple[tuple[str, bool], ...]:
    value = claims["checks"]
    if not isinstance(value, Mapping) or not all(
        isinstance(name, str) and isinstance(passed, bool)
        for name, passed in value.items()
    ):
        raise CertificationRuleError(
            "claims.checks", "must map check types to true or false"
        )
    return tuple(sorted(value.items()))
