"""Domain model of a verification request and its outcome.

Plain frozen dataclasses that know nothing of gRPC, SQL or AMQP. The servicer
converts protobuf messages to these at the edge; the store serialises them to
JSON; the checks read them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal


class DocumentKind(enum.Enum):
    """The four documents a container needs, with their field names."""

    BILL_OF_LADING = "bill_of_lading"
    CUSTOMS_DECLARATION = "customs_declaration"
    SAFETY_CERTIFICATE = "safety_certificate"
    PACKING_LIST = "packing_list"


class WeightUnit(enum.Enum):
    """Units a weight may be declared in, valued in kilograms."""

    KG = Decimal("1")
    LB = Decimal("0.45359237")
    T = Decimal("1000")


class Priority(enum.Enum):
    """Queue priority of a request."""

    STANDARD = "STANDARD"
    EXPEDITED = "EXPEDITED"


class Status(enum.Enum):
    """Where a request stands; PASSED, FAILED and ERROR are final."""

    PENDING = "PENDING"
    IN_PROGRESS = "IN_PROGRESS"
    PASSED = "PASSED"
    FAILED = "FAILED"
    ERROR = "ERROR"

    @property
    def is_final(self) -> bool:
        """Whether no further change can follow."""
        return self in (Status.PASSED, Status.FAILED, Status.ERROR)


class CheckType(enum.Enum):
    """The four checks, in the order they run."""

    DOCUMENT_COMPLETENESS = "DOCUMENT_COMPLETENESS"
    DOCUMENT_AUTHENTICITY = "DOCUMENT_AUTHENTICITY"
    MANIFEST_VERIFICATION = "MANIFEST_VERIFICATION"
    COMPLIANCE_CHECK = "COMPLIANCE_CHECK"


@dataclass(frozen=True)
class Weight:
    """A weight in a stated unit."""

    value: Decimal
    unit: WeightUnit

    def in_kilograms(self) -> Decimal:
        """The weight converted to kilograms, exactly."""
        return self.value * self.unit.value


@dataclass(frozen=True)
class Money:
    """An amount in an ISO 4217 currency; never a float."""

    amount: Decimal
    currency_code: str


@dataclass(frozen=True)
class Document:
    """One trade document as referenced by the request."""

    document_id: str
    uri: str
    issuer: str
    issued_date: datetime | None
    expiration_date: datetime | None
    signature: str


@dataclass(frozen=True)
class ManifestItem:
    """One manifest line."""

    description: str
    quantity: int
    weight: Weight
    hs_code: str
    value: Money


@dataclass(frozen=True)
class Manifest:
    """Manifest lines and their declared totals."""

    items: tuple[ManifestItem, ...]
    total_weight: Weight
    total_value: Money


@dataclass(frozen=True)
class Submission:
    """What a caller submits for verification, after structural validation.

    Documents are keyed by kind; a kind the caller left out is absent, which
    the completeness check reports.
    """

    container_id: str
    priority: Priority
    documents: dict[DocumentKind, Document]
    manifest: Manifest


@dataclass(frozen=True)
class Finding:
    """A problem found by a check: rule, field path, explanation, expectation."""

    rule: str
    field: str
    message: str
    expected: str = ""


@dataclass(frozen=True)
class CheckOutcome:
    """The result of one check."""

    check_type: CheckType
    findings: tuple[Finding, ...]
    details: str
    checked_at: datetime

    @property
    def passed(self) -> bool:
        """A check passes when it found nothing."""
        return not self.findings


@dataclass(frozen=True)
class VerificationOutcome:
    """The result of all four checks and the risk they add up to."""

    checks: tuple[CheckOutcome, ...]
    risk_score: float
    processing_time: timedelta
    completed_at: datetime
    compliance_violations: tuple[Finding, ...] = field(default=())

    @property
    def passed(self) -> bool:
        """Every check passed."""
        return all(check.passed for check in self.checks)

    @property
    def failure_reasons(self) -> tuple[str, ...]:
        """One line per finding, prefixed by its field."""
        return tuple(
            f"{finding.field}: {finding.message}"
            for check in self.checks
            for finding in check.findings
        )
