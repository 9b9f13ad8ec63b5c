"""Valid certification claims for the certifier's unit tests to vary."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from certifier.model import CertificationClaims, CheckSummary, new_certification_claims

ISSUED_AT = datetime(2026, 3, 1, 9, 15, 30, 123456, tzinfo=UTC)
CHECK_TYPES = (
    "DOCUMENT_COMPLETENESS",
    "DOCUMENT_AUTHENTICITY",
    "MANIFEST_VERIFICATION",
    "COMPLIANCE_CHECK",
)


def passing_checks() -> list[CheckSummary]:
    """One passed summary per check type."""
    return [CheckSummary(name, True, f"{name} found nothing") for name in CHECK_TYPES]


def make_claims(kid: str = "key-1", **overrides: object) -> CertificationClaims:
    """Claims of a passed verification, with ``overrides`` applied."""
    arguments: dict[str, object] = {
        "certification_id": UUID("6f1c2b9e-2d4a-4c11-9a53-0b7f6f0b1e21"),
        "container_id": "CSQU3054383",
        "request_id": UUID("0c8d5b67-3c55-4a0e-8d89-5e1f3f2b7a10"),
        "issued_at": ISSUED_AT,
        "issued_by": "Port of Rotterdam Authority",
        "issuing_officer_id": "officer-4711",
        "checks": passing_checks(),
        "risk_score": 0.125,
        "kid": kid,
    }
    arguments.update(overrides)
    return new_certification_claims(**arguments)  # type: ignore[arg-type]
