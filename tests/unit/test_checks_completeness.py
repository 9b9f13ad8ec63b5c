from datetime import timedelta

import pytest

from verifier.checks import run_checks
from verifier.model import CheckType, DocumentKind, Finding, Submission
from verifier.reference import ReferenceData

from .builders import NOW, a_submission, with_document, without_document


def completeness_findings(
    submission: Submission, reference: ReferenceData
) -> tuple[Finding, ...]:
    outcome = run_checks(submission, reference, NOW)
    (check,) = (
        c for c in outcome.checks if c.check_type is CheckType.DOCUMENT_COMPLETENESS
    )
    return check.findings


def test_complete_documents_pass_with_no_findings(reference: ReferenceData) -> None:
    submission = a_submission()

    findings = completeness_findings(submission, reference)

    assert findings == ()


@pytest.mark.parametrize("kind", list(DocumentKind), ids=lambda kind: kind.value)
def test_missing_document_is_reported_by_its_field(
    reference: ReferenceData, kind: DocumentKind
) -> None:
    submission = without_document(a_submission(), kind)

    findings = completeness_findings(submission, reference)

    assert [(f.rule, f.field) for f in findings] == [
        ("documents.required", f"documentation.{kind.value}")
    ]


def test_every_missing_document_is_reported_in_request_order(
    reference: ReferenceData,
) -> None:
    submission = a_submission()
    for kind in DocumentKind:
        submission = without_document(submission, kind)

    findings = completeness_findings(submission, reference)

    assert [f.field for f in findings] == [
        "documentation.bill_of_lading",
        "documentation.customs_declaration",
        "documentation.safety_certificate",
        "documentation.packing_list",
    ]
    assert findings[0].message == "the bill of lading is missing"


@pytest.mark.parametrize(
    ("field", "empty"),
    [
        ("document_id", ""),
        ("uri", ""),
        ("issuer", "   "),
        ("signature", ""),
        ("issued_date", None),
        ("expiration_date", None),
    ],
)
def test_empty_identifying_field_is_reported_with_its_path(
    reference: ReferenceData, field: str, empty: str | None
) -> None:
    kind = DocumentKind.CUSTOMS_DECLARATION
    submission = with_document(a_submission(), kind, **{field: empty})

    findings = completeness_findings(submission, reference)

    assert [(f.rule, f.field) for f in findings] == [
        ("documents.field_required", f"documentation.customs_declaration.{field}")
    ]


def test_packing_list_without_expiration_date_passes(
    reference: ReferenceData,
) -> None:
    submission = with_document(
        a_submission(), DocumentKind.PACKING_LIST, expiration_date=None
    )

    findings = completeness_findings(submission, reference)

    assert findings == ()


def test_packing_list_with_expiration_date_passes(reference: ReferenceData) -> None:
    submission = with_document(
        a_submission(),
        DocumentKind.PACKING_LIST,
        expiration_date=NOW + timedelta(days=30),
    )

    findings = completeness_findings(submission, reference)

    assert findings == ()


def test_document_with_every_field_empty_reports_each_field_and_does_not_crash(
    reference: ReferenceData,
) -> None:
    submission = with_document(
        a_submission(),
        DocumentKind.SAFETY_CERTIFICATE,
        document_id="",
        uri="",
        issuer="",
        issued_date=None,
        expiration_date=None,
        signature="",
    )

    outcome = run_checks(submission, reference, NOW)

    completeness, authenticity = outcome.checks[0], outcome.checks[1]
    assert [f.field.rsplit(".", 1)[1] for f in completeness.findings] == [
        "document_id",
        "uri",
        "issuer",
        "issued_date",
        "expiration_date",
        "signature",
    ]
    assert authenticity.passed
