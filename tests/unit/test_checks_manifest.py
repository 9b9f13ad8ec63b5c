from decimal import Decimal

import pytest

from verifier.checks import run_checks
from verifier.model import CheckType, Finding, Money, Submission, Weight, WeightUnit
from verifier.reference import ReferenceData

from .builders import NOW, a_submission, an_item, with_item, with_items, with_totals


def manifest_findings(
    submission: Submission, reference: ReferenceData
) -> tuple[Finding, ...]:
    outcome = run_checks(submission, reference, NOW)
    (check,) = (
        c for c in outcome.checks if c.check_type is CheckType.MANIFEST_VERIFICATION
    )
    return check.findings


def test_manifest_with_real_codes_and_matching_totals_passes(
    reference: ReferenceData,
) -> None:
    submission = a_submission()

    findings = manifest_findings(submission, reference)

    assert findings == ()


@pytest.mark.parametrize(
    "hs_code",
    [
        "854231",
        "8507.60",  # lithium-ion accumulators
        "85076000",  # as in DCSA's dangerous-goods eBL sample
        "8542.31.0001",  # a 10-digit national extension
        "6302 60",
    ],
)
def test_code_whose_first_six_digits_are_a_subheading_passes(
    reference: ReferenceData, hs_code: str
) -> None:
    submission = with_item(a_submission(), 0, hs_code=hs_code)

    findings = manifest_findings(submission, reference)

    assert findings == ()


def test_code_in_reserved_chapter_77_is_unknown(reference: ReferenceData) -> None:
    submission = with_item(a_submission(), 1, hs_code="7700.00")

    findings = manifest_findings(submission, reference)

    assert [(f.rule, f.field, f.message) for f in findings] == [
        (
            "hs.code_unknown",
            "manifest.items[1].hs_code",
            "HS code '7700.00': heading 7700 is not in HS 2022",
        )
    ]


def test_missing_subheading_of_a_real_heading_names_the_real_ones(
    reference: ReferenceData,
) -> None:
    submission = with_item(a_submission(), 0, hs_code="8542.99")

    findings = manifest_findings(submission, reference)

    assert [(f.rule, f.expected) for f in findings] == [
        (
            "hs.code_unknown",
            "a subheading of heading 8542: 854231, 854232, 854233, 854239, 854290",
        )
    ]


def test_comtrade_pseudo_code_is_unknown(reference: ReferenceData) -> None:
    submission = with_item(a_submission(), 0, hs_code="999999")

    findings = manifest_findings(submission, reference)

    assert [f.rule for f in findings] == ["hs.code_unknown"]


@pytest.mark.parametrize(
    "hs_code", ["8542", "85423", "85423100001", "8542.3l", "", "8542-31"]
)
def test_code_not_six_to_ten_digits_is_malformed(
    reference: ReferenceData, hs_code: str
) -> None:
    submission = with_item(a_submission(), 0, hs_code=hs_code)

    findings = manifest_findings(submission, reference)

    assert [(f.rule, f.field) for f in findings] == [
        ("hs.code_format", "manifest.items[0].hs_code")
    ]


def test_total_weight_other_than_the_items_sum_is_reported(
    reference: ReferenceData,
) -> None:
    submission = with_totals(
        a_submission(), weight=Weight(Decimal("760"), WeightUnit.KG)
    )

    findings = manifest_findings(submission, reference)

    assert [(f.rule, f.field, f.expected) for f in findings] == [
        ("manifest.total_weight_mismatch", "manifest.total_weight", "total 750.5 kg")
    ]


@pytest.mark.parametrize(
    "total",
    [
        Weight(Decimal("954.092"), WeightUnit.KG),
        Weight(Decimal("954.09237"), WeightUnit.KG),
        Weight(Decimal("0.954092"), WeightUnit.T),
    ],
)
def test_mixed_units_sum_exactly_and_compare_to_the_gram(
    reference: ReferenceData, total: Weight
) -> None:
    submission = with_totals(
        with_items(
            a_submission(),
            an_item("8542.31", "500.5", "50000.00"),
            an_item("6302.60", "1000", "15000.00", unit=WeightUnit.LB),
        ),
        weight=total,
    )

    findings = manifest_findings(submission, reference)

    assert findings == ()


def test_mixed_units_one_gram_off_is_reported(reference: ReferenceData) -> None:
    submission = with_totals(
        with_items(
            a_submission(),
            an_item("8542.31", "500.5", "50000.00"),
            an_item("6302.60", "1000", "15000.00", unit=WeightUnit.LB),
        ),
        weight=Weight(Decimal("2103.4"), WeightUnit.LB),
    )

    findings = manifest_findings(submission, reference)

    assert [(f.message, f.expected) for f in findings] == [
        (
            "declared total 2103.4 lb (954.086 kg), but the items weigh 954.092 kg",
            "total 954.092 kg",
        )
    ]


def test_total_value_other_than_the_items_sum_is_reported(
    reference: ReferenceData,
) -> None:
    submission = with_totals(a_submission(), value=Money(Decimal("65000.01"), "USD"))

    findings = manifest_findings(submission, reference)

    assert [(f.rule, f.field, f.expected) for f in findings] == [
        (
            "manifest.total_value_mismatch",
            "manifest.total_value.amount",
            "total 65000.00 USD",
        )
    ]


def test_total_value_equal_but_written_differently_passes(
    reference: ReferenceData,
) -> None:
    submission = with_totals(a_submission(), value=Money(Decimal("65000"), "USD"))

    findings = manifest_findings(submission, reference)

    assert findings == ()


def test_item_in_another_currency_is_reported_and_not_totalled(
    reference: ReferenceData,
) -> None:
    submission = with_item(a_submission(), 1, value=Money(Decimal("13800.00"), "EUR"))

    findings = manifest_findings(submission, reference)

    assert [(f.rule, f.field, f.expected) for f in findings] == [
        (
            "manifest.currency_mismatch",
            "manifest.items[1].value.currency_code",
            "USD",
        )
    ]


def test_every_broken_rule_is_reported_in_one_pass(reference: ReferenceData) -> None:
    submission = with_totals(
        with_item(a_submission(), 0, hs_code="7700.00"),
        weight=Weight(Decimal("1"), WeightUnit.T),
        value=Money(Decimal("1"), "USD"),
    )

    findings = manifest_findings(submission, reference)

    assert [f.rule for f in findings] == [
        "hs.code_unknown",
        "manifest.total_weight_mismatch",
        "manifest.total_value_mismatch",
    ]
