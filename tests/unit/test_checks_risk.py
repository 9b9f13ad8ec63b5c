import dataclasses
from datetime import timedelta
from decimal import Decimal

import pytest

from verifier.checks import run_checks
from verifier.model import CheckType, DocumentKind, Money, Priority, Submission
from verifier.reference import ReferenceData

from .builders import (
    NOW,
    a_submission,
    with_document,
    with_item,
    with_totals,
    without_document,
)


def with_high_value(submission: Submission) -> Submission:
    items = with_item(
        with_item(submission, 0, value=Money(Decimal("1000000.00"), "USD")),
        1,
        value=Money(Decimal("250000.00"), "USD"),
    )
    return with_totals(items, value=Money(Decimal("1250000.00"), "USD"))


def expedited(submission: Submission) -> Submission:
    return dataclasses.replace(submission, priority=Priority.EXPEDITED)


def failing_one_check(check_type: CheckType) -> Submission:
    submission = a_submission()
    if check_type is CheckType.DOCUMENT_COMPLETENESS:
        return without_document(submission, DocumentKind.PACKING_LIST)
    if check_type is CheckType.DOCUMENT_AUTHENTICITY:
        return with_document(
            submission,
            DocumentKind.CUSTOMS_DECLARATION,
            expiration_date=NOW - timedelta(days=1),
        )
    if check_type is CheckType.MANIFEST_VERIFICATION:
        return with_item(submission, 1, hs_code="7700.00")
    return dataclasses.replace(submission, container_id="MSKU1234567")


def test_clean_standard_request_scores_the_base_risk(
    reference: ReferenceData,
) -> None:
    submission = a_submission()

    outcome = run_checks(submission, reference, NOW)

    assert outcome.passed
    assert outcome.risk_score == 0.05


def test_clean_request_with_every_signal_stays_below_three_tenths(
    reference: ReferenceData,
) -> None:
    submission = expedited(with_high_value(a_submission()))

    outcome = run_checks(submission, reference, NOW)

    assert outcome.passed
    assert outcome.risk_score == pytest.approx(1 - 0.95 * 0.95 * 0.90, abs=1e-4)
    assert outcome.risk_score < 0.3


def test_expedited_priority_raises_the_score(reference: ReferenceData) -> None:
    standard = run_checks(a_submission(), reference, NOW)

    rushed = run_checks(expedited(a_submission()), reference, NOW)

    assert rushed.risk_score > standard.risk_score


def test_high_declared_value_raises_the_score(reference: ReferenceData) -> None:
    ordinary = run_checks(a_submission(), reference, NOW)

    valuable = run_checks(with_high_value(a_submission()), reference, NOW)

    assert valuable.risk_score == pytest.approx(1 - 0.95 * 0.90)
    assert valuable.risk_score > ordinary.risk_score


@pytest.mark.parametrize("check_type", list(CheckType), ids=lambda c: c.value)
def test_any_failed_check_pushes_the_score_to_at_least_one_half(
    reference: ReferenceData, check_type: CheckType
) -> None:
    submission = failing_one_check(check_type)

    outcome = run_checks(submission, reference, NOW)

    assert [c.check_type for c in outcome.checks if not c.passed] == [check_type]
    assert outcome.risk_score >= 0.5


def test_findings_within_one_check_count_once(reference: ReferenceData) -> None:
    one = failing_one_check(CheckType.DOCUMENT_COMPLETENESS)
    two = without_document(one, DocumentKind.BILL_OF_LADING)

    first = run_checks(one, reference, NOW)
    second = run_checks(two, reference, NOW)

    assert first.risk_score == second.risk_score == pytest.approx(0.525)


def test_each_further_failed_check_raises_the_score_up_to_at_most_one(
    reference: ReferenceData,
) -> None:
    steps = [a_submission()]
    steps.append(without_document(steps[-1], DocumentKind.PACKING_LIST))
    steps.append(
        with_document(
            steps[-1],
            DocumentKind.CUSTOMS_DECLARATION,
            expiration_date=NOW - timedelta(days=1),
        )
    )
    steps.append(with_item(steps[-1], 1, hs_code="7700.00"))
    steps.append(dataclasses.replace(steps[-1], container_id="MSKU1234567"))

    scores = [run_checks(step, reference, NOW).risk_score for step in steps]

    assert scores == sorted(set(scores))
    assert scores[-1] == pytest.approx(1 - 0.95 * 0.5 * 0.4 * 0.5 * 0.5)
    assert scores[-1] <= 1.0


def test_same_request_scores_the_same_every_time(reference: ReferenceData) -> None:
    submission = failing_one_check(CheckType.COMPLIANCE_CHECK)

    scores = {run_checks(submission, reference, NOW).risk_score for _ in range(3)}

    assert len(scores) == 1
