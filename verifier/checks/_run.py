"""Running the four checks in order and adding up their outcome."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta

from verifier.checks._authenticity import check_authenticity
from verifier.checks._completeness import check_completeness
from verifier.checks._compliance import check_compliance
from verifier.checks._manifest import check_manifest
from verifier.checks._risk import score_risk
from verifier.model import (
    CheckOutcome,
    CheckType,
    Finding,
    Submission,
    VerificationOutcome,
)
from verifier.reference import ReferenceData

_PASSED_DETAILS = {
    CheckType.DOCUMENT_COMPLETENESS: "All four documents present and complete",
    CheckType.DOCUMENT_AUTHENTICITY: (
        "Issuers trusted, signatures well formed, documents in date"
    ),
    CheckType.MANIFEST_VERIFICATION: "HS codes exist and the totals match the items",
    CheckType.COMPLIANCE_CHECK: "Container number and currencies conform",
}


def run_checks(
    submission: Submission, reference: ReferenceData, now: datetime
) -> VerificationOutcome:
    """Run the four checks in order and score the risk.

    Every check runs, whatever the ones before it found, so the caller learns
    every problem at once.

    Args:
        submission: The request, structurally valid.
        reference: The reference data, from ``ReferenceData.load()``.
        now: The timezone-aware instant the checks start at; document dates
            are judged against it, and ``checked_at`` and ``completed_at`` are
            it plus the time measured since.

    Returns:
        One outcome per check, the risk score, the time taken and the
        compliance check's findings.

    Raises:
        ValueError: ``now`` has no timezone.
    """
    if now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")
    started = time.perf_counter()
    steps: tuple[tuple[CheckType, Callable[[], tuple[Finding, ...]]], ...] = (
        (CheckType.DOCUMENT_COMPLETENESS, lambda: check_completeness(submission)),
        (
            CheckType.DOCUMENT_AUTHENTICITY,
            lambda: check_authenticity(submission, reference, now),
        ),
        (
            CheckType.MANIFEST_VERIFICATION,
            lambda: check_manifest(submission, reference),
        ),
        (CheckType.COMPLIANCE_CHECK, lambda: check_compliance(submission, reference)),
    )

    checks = []
    for check_type, run in steps:
        findings = run()
        checks.append(
            CheckOutcome(
                check_type=check_type,
                findings=findings,
                details=_details(check_type, findings),
                checked_at=now + _since(started),
            )
        )

    risk = score_risk(submission, checks)
    elapsed = _since(started)
    return VerificationOutcome(
        checks=tuple(checks),
        risk_score=risk,
        processing_time=elapsed,
        completed_at=now + elapsed,
        compliance_violations=checks[-1].findings,
    )


def _details(check_type: CheckType, findings: tuple[Finding, ...]) -> str:
    if not findings:
        return _PASSED_DETAILS[check_type]
    rules = ", ".join(dict.fromkeys(finding.rule for finding in findings))
    noun = "finding" if len(findings) == 1 else "findings"
    return f"{len(findings)} {noun}: {rules}"


def _since(started: float) -> timedelta:
    return timedelta(seconds=time.perf_counter() - started)
