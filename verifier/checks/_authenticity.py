"""Document authenticity: trusted issuers, signature form, dates in order.

Rules whose inputs are missing are skipped: the completeness check reports the
missing field, and reporting it twice would only add noise.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from verifier.model import Document, DocumentKind, Finding, Submission
from verifier.reference import ReferenceData

CLOCK_SKEW = timedelta(minutes=5)

_SIGNATURE = re.compile(r"SHA256:[0-9A-Fa-f]{64}")

# The shipper writes its own packing list, so any issuer is acceptable there.
_ANY_ISSUER = frozenset({DocumentKind.PACKING_LIST})


def check_authenticity(
    submission: Submission, reference: ReferenceData, now: datetime
) -> tuple[Finding, ...]:
    """Report untrusted issuers, malformed signatures and dates out of order.

    Args:
        submission: The request to check.
        reference: The trusted-issuer lists.
        now: The instant validity is judged at; timezone-aware.

    Returns:
        The findings, document by document in request order.
    """
    findings: list[Finding] = []
    for kind in DocumentKind:
        document = submission.documents.get(kind)
        if document is None:
            continue
        path = f"documentation.{kind.value}"
        findings.extend(_issuer_findings(kind, document, path, reference))
        findings.extend(_signature_findings(document, path))
        findings.extend(_date_findings(document, path, now))
    return tuple(findings)


def _issuer_findings(
    kind: DocumentKind, document: Document, path: str, reference: ReferenceData
) -> Iterator[Finding]:
    if kind in _ANY_ISSUER or not document.issuer.strip():
        return
    if not reference.is_trusted_issuer(kind, document.issuer):
        label = kind.value.replace("_", " ")
        yield Finding(
            rule="documents.issuer_untrusted",
            field=f"{path}.issuer",
            message=f"{document.issuer!r} is not a trusted issuer of a {label}",
            expected=f"an organisation on the trusted list for the {label}",
        )


def _signature_findings(document: Document, path: str) -> Iterator[Finding]:
    if not document.signature.strip():
        return
    if not _SIGNATURE.fullmatch(document.signature):
        yield Finding(
            rule="documents.signature_format",
            field=f"{path}.signature",
            message="signature is not a SHA-256 digest",
            expected="SHA256: followed by 64 hexadecimal digits",
        )


def _date_findings(document: Document, path: str, now: datetime) -> Iterator[Finding]:
    issued = _as_utc(document.issued_date)
    expires = _as_utc(document.expiration_date)
    latest_issue = now + CLOCK_SKEW
    if issued is not None and issued > latest_issue:
        yield Finding(
            rule="documents.issued_in_future",
            field=f"{path}.issued_date",
            message=f"issued_date {_instant(issued)} is in the future",
            expected=f"no later than {_instant(latest_issue)}",
        )
    if issued is not None and expires is not None and expires <= issued:
        yield Finding(
            rule="documents.expiry_before_issue",
            field=f"{path}.expiration_date",
            message=f"expiration_date {_instant(expires)} is not after issued_date",
            expected=f"after {_instant(issued)}",
        )
    if expires is not None and expires <= now:
        yield Finding(
            rule="documents.expired",
            field=f"{path}.expiration_date",
            message=f"the document expired at {_instant(expires)}",
            expected=f"after {_instant(now)}",
        )


def _as_utc(instant: datetime | None) -> datetime | None:
    # Protobuf's Timestamp.ToDatetime() gives naive datetimes that mean UTC.
    if instant is None or instant.tzinfo is not None:
        return instant
    return instant.replace(tzinfo=UTC)


def _instant(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
