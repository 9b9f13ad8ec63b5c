from datetime import datetime, timedelta

import pytest

from verifier.checks import run_checks
from verifier.model import CheckType, DocumentKind, Finding, Submission
from verifier.reference import ReferenceData

from .builders import NOW, a_submission, signature_of, with_document

BILL = DocumentKind.BILL_OF_LADING
CUSTOMS = DocumentKind.CUSTOMS_DECLARATION
SAFETY = DocumentKind.SAFETY_CERTIFICATE
PACKING = DocumentKind.PACKING_LIST


def authenticity_findings(
    submission: Submission, reference: ReferenceData, now: datetime = NOW
) -> tuple[Finding, ...]:
    outcome = run_checks(submission, reference, now)
    (check,) = (
        c for c in outcome.checks if c.check_type is CheckType.DOCUMENT_AUTHENTICITY
    )
    return check.findings


def test_trusted_signed_documents_in_date_pass(reference: ReferenceData) -> None:
    submission = a_submission()

    findings = authenticity_findings(submission, reference)

    assert findings == ()


@pytest.mark.parametrize(
    ("kind", "issuer"),
    [
        (BILL, "MSC"),
        (BILL, "Hapag-Lloyd AG"),
        (BILL, "Ocean Network Express"),
        (CUSTOMS, "HM Revenue & Customs"),
        (CUSTOMS, "Singapore Customs"),
        (SAFETY, "Bureau Veritas"),
        (SAFETY, "ClassNK"),
    ],
)
def test_real_issuer_on_the_list_for_its_kind_passes(
    reference: ReferenceData, kind: DocumentKind, issuer: str
) -> None:
    submission = with_document(a_submission(), kind, issuer=issuer)

    findings = authenticity_findings(submission, reference)

    assert findings == ()


def test_issuer_matches_regardless_of_case_and_spacing(
    reference: ReferenceData,
) -> None:
    submission = with_document(a_submission(), BILL, issuer="  maersk   LINE ")

    findings = authenticity_findings(submission, reference)

    assert findings == ()


@pytest.mark.parametrize(
    ("kind", "issuer"),
    [
        # The seed design's sample: the IMO does not grant CSC approvals.
        (SAFETY, "International Maritime Organization"),
        # A carrier is trusted for bills of lading, not customs declarations.
        (CUSTOMS, "Maersk"),
        (BILL, "Maersk Logistics Fake Ltd"),
    ],
)
def test_issuer_not_trusted_for_its_kind_is_reported(
    reference: ReferenceData, kind: DocumentKind, issuer: str
) -> None:
    submission = with_document(a_submission(), kind, issuer=issuer)

    findings = authenticity_findings(submission, reference)

    assert [(f.rule, f.field) for f in findings] == [
        ("documents.issuer_untrusted", f"documentation.{kind.value}.issuer")
    ]


def test_packing_list_accepts_any_shipper_as_issuer(reference: ReferenceData) -> None:
    submission = with_document(a_submission(), PACKING, issuer="Shipper Inc")

    findings = authenticity_findings(submission, reference)

    assert findings == ()


@pytest.mark.parametrize(
    "signature",
    [
        "SHA256:def456...",
        "sha256:" + "a" * 64,
        "SHA256:" + "a" * 63,
        "SHA256:" + "a" * 65,
        "SHA256:" + "g" * 64,
        "SHA256:" + "a" * 64 + "\n",
        "SHA1:" + "a" * 40,
    ],
)
def test_signature_not_a_sha256_digest_is_reported(
    reference: ReferenceData, signature: str
) -> None:
    submission = with_document(a_submission(), CUSTOMS, signature=signature)

    findings = authenticity_findings(submission, reference)

    assert [(f.rule, f.field, f.expected) for f in findings] == [
        (
            "documents.signature_format",
            "documentation.customs_declaration.signature",
            "SHA256: followed by 64 hexadecimal digits",
        )
    ]


def test_signature_with_upper_case_hex_digits_passes(
    reference: ReferenceData,
) -> None:
    signature = signature_of("BOL-2026-004211").upper()
    submission = with_document(a_submission(), BILL, signature=signature)

    findings = authenticity_findings(submission, reference)

    assert findings == ()


def test_issue_date_within_clock_skew_passes(reference: ReferenceData) -> None:
    submission = with_document(
        a_submission(), CUSTOMS, issued_date=NOW + timedelta(minutes=4)
    )

    findings = authenticity_findings(submission, reference)

    assert findings == ()


def test_issue_date_beyond_clock_skew_is_reported(reference: ReferenceData) -> None:
    submission = with_document(
        a_submission(), CUSTOMS, issued_date=NOW + timedelta(minutes=6)
    )

    findings = authenticity_findings(submission, reference)

    assert [(f.rule, f.field, f.expected) for f in findings] == [
        (
            "documents.issued_in_future",
            "documentation.customs_declaration.issued_date",
            "no later than 2026-02-14T10:35:00Z",
        )
    ]


@pytest.mark.parametrize("gap", [timedelta(0), timedelta(days=-1)])
def test_expiration_not_after_issue_is_reported(
    reference: ReferenceData, gap: timedelta
) -> None:
    issued = NOW - timedelta(days=10)
    submission = with_document(
        a_submission(), SAFETY, issued_date=issued, expiration_date=issued + gap
    )

    findings = authenticity_findings(submission, reference)

    assert [f.rule for f in findings] == [
        "documents.expiry_before_issue",
        "documents.expired",
    ]
    assert findings[0].expected == "after 2026-02-04T10:30:00Z"


def test_expired_document_is_reported_with_the_instant_it_lapsed(
    reference: ReferenceData,
) -> None:
    submission = with_document(
        a_submission(), CUSTOMS, expiration_date=NOW - timedelta(days=1)
    )

    findings = authenticity_findings(submission, reference)

    assert [(f.rule, f.field, f.message) for f in findings] == [
        (
            "documents.expired",
            "documentation.customs_declaration.expiration_date",
            "the document expired at 2026-02-13T10:30:00Z",
        )
    ]


def test_document_expiring_exactly_now_is_expired(reference: ReferenceData) -> None:
    submission = with_document(a_submission(), CUSTOMS, expiration_date=NOW)

    findings = authenticity_findings(submission, reference)

    assert [f.rule for f in findings] == ["documents.expired"]


def test_expired_packing_list_is_reported(reference: ReferenceData) -> None:
    submission = with_document(
        a_submission(), PACKING, expiration_date=NOW - timedelta(hours=1)
    )

    findings = authenticity_findings(submission, reference)

    assert [f.field for f in findings] == ["documentation.packing_list.expiration_date"]


def test_naive_document_dates_are_read_as_utc(reference: ReferenceData) -> None:
    naive_expiry = (NOW - timedelta(minutes=1)).replace(tzinfo=None)
    submission = with_document(a_submission(), CUSTOMS, expiration_date=naive_expiry)

    findings = authenticity_findings(submission, reference)

    assert [f.message for f in findings] == [
        "the document expired at 2026-02-14T10:29:00Z"
    ]


def test_missing_dates_issuer_and_signature_are_skipped_without_error(
    reference: ReferenceData,
) -> None:
    submission = with_document(
        a_submission(),
        CUSTOMS,
        issuer="",
        signature="",
        issued_date=None,
        expiration_date=None,
    )

    findings = authenticity_findings(submission, reference)

    assert findings == ()


def test_naive_now_is_refused(reference: ReferenceData) -> None:
    naive_now = NOW.replace(tzinfo=None)

    with pytest.raises(ValueError, match="timezone-aware"):
        run_checks(a_submission(), reference, naive_now)
