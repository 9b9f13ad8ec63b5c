"""Domain objects rendered as messages of the verification contract."""

from __future__ import annotations

from decimal import Decimal

from portcert.verification.v1 import verification_pb2 as pb
from verifier.model import (
    CheckOutcome,
    CheckType,
    Document,
    Finding,
    Manifest,
    ManifestItem,
    Money,
    Priority,
    Status,
    Submission,
    VerificationOutcome,
    Weight,
    WeightUnit,
)

_PRIORITIES = {
    Priority.STANDARD: pb.PRIORITY_STANDARD,
    Priority.EXPEDITED: pb.PRIORITY_EXPEDITED,
}
_WEIGHT_UNITS = {
    WeightUnit.KG: pb.WEIGHT_UNIT_KG,
    WeightUnit.LB: pb.WEIGHT_UNIT_LB,
    WeightUnit.T: pb.WEIGHT_UNIT_T,
}
_STATUSES = {
    Status.PENDING: pb.VERIFICATION_STATUS_PENDING,
    Status.IN_PROGRESS: pb.VERIFICATION_STATUS_IN_PROGRESS,
    Status.PASSED: pb.VERIFICATION_STATUS_PASSED,
    Status.FAILED: pb.VERIFICATION_STATUS_FAILED,
    Status.ERROR: pb.VERIFICATION_STATUS_ERROR,
}
_CHECK_TYPES = {
    CheckType.DOCUMENT_COMPLETENESS: pb.CHECK_TYPE_DOCUMENT_COMPLETENESS,
    CheckType.DOCUMENT_AUTHENTICITY: pb.CHECK_TYPE_DOCUMENT_AUTHENTICITY,
    CheckType.MANIFEST_VERIFICATION: pb.CHECK_TYPE_MANIFEST_VERIFICATION,
    CheckType.COMPLIANCE_CHECK: pb.CHECK_TYPE_COMPLIANCE_CHECK,
}


def status_to_proto(status: Status) -> pb.VerificationStatus:
    """Return the contract's enum value for a domain status."""
    return _STATUSES[status]


def outcome_to_proto(
    request_id: str, outcome: VerificationOutcome
) -> pb.VerificationResult:
    """Render the outcome of the checks as the contract's VerificationResult.

    Args:
        request_id: The request the outcome belongs to.
        outcome: The checks' results.

    Returns:
        The result, PASSED when every check passed and FAILED otherwise.
    """
    return pb.VerificationResult(
        request_id=request_id,
        status=status_to_proto(Status.PASSED if outcome.passed else Status.FAILED),
        completed_at=outcome.completed_at,
        processing_time=outcome.processing_time,
        checks=[_check_to_proto(check) for check in outcome.checks],
        failure_reasons=outcome.failure_reasons,
        compliance_violations=[
            _finding_to_proto(finding) for finding in outcome.compliance_violations
        ],
        risk_score=outcome.risk_score,
    )


def submission_to_proto(submission: Submission) -> pb.VerificationRequest:
    """Render a stored submission as the contract's VerificationRequest.

    Only what the caller submitted is filled in; the request id, submitter,
    submission time and status are the store's to set.

    Args:
        submission: The submission as stored.

    Returns:
        The request; documents the caller left out stay unset.
    """
    documentation = pb.Documentation(
        **{
            kind.value: _document_to_proto(document)
            for kind, document in submission.documents.items()
        }
    )
    return pb.VerificationRequest(
        container_id=submission.container_id,
        priority=_PRIORITIES[submission.priority],
        documentation=documentation,
        manifest=_manifest_to_proto(submission.manifest),
    )


def _check_to_proto(check: CheckOutcome) -> pb.CheckResult:
    return pb.CheckResult(
        check_type=_CHECK_TYPES[check.check_type],
        passed=check.passed,
        details=check.details,
        checked_at=check.checked_at,
        findings=[_finding_to_proto(finding) for finding in check.findings],
    )


def _finding_to_proto(finding: Finding) -> pb.Finding:
    return pb.Finding(
        rule=finding.rule,
        field=finding.field,
        message=finding.message,
        expected=finding.expected,
    )


def _document_to_proto(document: Document) -> pb.Document:
    return pb.Document(
        document_id=document.document_id,
        uri=document.uri,
        issuer=document.issuer,
        issued_date=document.issued_date,
        expiration_date=document.expiration_date,
        signature=document.signature,
    )


def _manifest_to_proto(manifest: Manifest) -> pb.Manifest:
    return pb.Manifest(
        items=[_item_to_proto(item) for item in manifest.items],
        total_weight=_weight_to_proto(manifest.total_weight),
        total_value=_money_to_proto(manifest.total_value),
    )


def _item_to_proto(item: ManifestItem) -> pb.ManifestItem:
    return pb.ManifestItem(
        description=item.description,
        quantity=item.quantity,
        weight=_weight_to_proto(item.weight),
        hs_code=item.hs_code,
        value=_money_to_proto(item.value),
    )


def _weight_to_proto(weight: Weight) -> pb.Weight:
    return pb.Weight(value=_plain(weight.value), unit=_WEIGHT_UNITS[weight.unit])


def _money_to_proto(money: Money) -> pb.Money:
    return pb.Money(amount=_plain(money.amount), currency_code=money.currency_code)


def _plain(value: Decimal) -> str:
    # str() would switch to an exponent for small values ("1E-7"); the
    # contract promises plain digits.
    return format(value, "f")
