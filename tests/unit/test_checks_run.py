from datetime import timedelta

from verifier.checks import run_checks
from verifier.model import CheckType, DocumentKind
from verifier.reference import ReferenceData

from .builders import NOW, a_submission, with_item, without_document


def test_all_four_checks_run_in_order_even_after_a_failure(
    reference: ReferenceData,
) -> None:
    submission = without_document(a_submission(), DocumentKind.BILL_OF_LADING)

    outcome = run_checks(submission, reference, NOW)

    assert [c.check_type for c in outcome.checks] == [
        CheckType.DOCUMENT_COMPLETENESS,
        CheckType.DOCUMENT_AUTHENTICITY,
        CheckType.MANIFEST_VERIFICATION,
        CheckType.COMPLIANCE_CHECK,
    ]
    assert [c.passed for c in outcome.checks] == [False, True, True, True]
    assert not outcome.passed


def test_failed_check_details_count_findings_and_name_their_rules(
    reference: ReferenceData,
) -> None:
    submission = with_item(
        with_item(a_submission(), 0, hs_code="7700.00"), 1, hs_code="7711.00"
    )

    outcome = run_checks(submission, reference, NOW)

    assert outcome.checks[2].details == "2 findings: hs.code_unknown"
    assert outcome.failure_reasons == (
        "manifest.items[0].hs_code: HS code '7700.00': heading 7700 is not in HS 2022",
        "manifest.items[1].hs_code: HS code '7711.00': heading 7711 is not in HS 2022",
    )


def test_passed_checks_carry_a_summary_and_no_findings(
    reference: ReferenceData,
) -> None:
    submission = a_submission()

    outcome = run_checks(submission, reference, NOW)

    assert outcome.passed
    assert outcome.failure_reasons == ()
    assert outcome.compliance_violations == ()
    assert all(check.details for check in outcome.checks)


def test_times_start_at_now_and_follow_the_measured_duration(
    reference: ReferenceData,
) -> None:
    submission = a_submission()

    outcome = run_checks(submission, reference, NOW)

    checked = [check.checked_at for check in outcome.checks]
    assert NOW <= checked[0] <= checked[1] <= checked[2] <= checked[3]
    assert checked[3] <= outcome.completed_at
    assert outcome.completed_at == NOW + outcome.processing_time
    assert timedelta(0) < outcome.processing_time
