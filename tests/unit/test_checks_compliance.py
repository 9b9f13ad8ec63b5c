import dataclasses
from decimal import Decimal

import pytest

from verifier.checks import run_checks
from verifier.model import CheckType, Finding, Money, Submission
from verifier.reference import ReferenceData

from .builders import NOW, a_submission, with_item, with_totals

# Valid numbers published by python-stdnum's tests, DCSA's specifications and
# samples, and container-number explainers.
VALID_NUMBERS = [
    "CSQU3054383",
    "TCNU7200794",
    "GYOU4047990",  # weighted sum mod 11 is 10, so the check digit is 0
    "YMLU8305416",
    "RAIU6900114",
    "MWCU6059784",
    "NARU3472484",
    "KKFU6671914",
    "PSSU2109481",
    "MAEU1234567",
    "MSKU1234565",
]

# Published numbers whose check digit is wrong, with the right one.
WRONG_CHECK_DIGITS = [
    ("MSKU1234567", "5"),  # DCSA arrival-notice sample
    ("HLXU1234567", "1"),  # DCSA eBL 3.0 schema example
    ("MSCU1234567", "6"),  # DCSA conformance test
    ("MAEU6543210", "3"),  # DCSA negotiable B/L sample
    ("ABCU1234567", "0"),  # the seed design's sample
    ("CSQU3054384", "3"),  # python-stdnum's negative example
]


def compliance_findings(
    submission: Submission, reference: ReferenceData
) -> tuple[Finding, ...]:
    outcome = run_checks(submission, reference, NOW)
    (check,) = (c for c in outcome.checks if c.check_type is CheckType.COMPLIANCE_CHECK)
    return check.findings


def with_container(container_id: str) -> Submission:
    return dataclasses.replace(a_submission(), container_id=container_id)


@pytest.mark.parametrize("container_id", VALID_NUMBERS)
def test_published_valid_container_number_passes(
    reference: ReferenceData, container_id: str
) -> None:
    submission = with_container(container_id)

    findings = compliance_findings(submission, reference)

    assert findings == ()


@pytest.mark.parametrize(("container_id", "digit"), WRONG_CHECK_DIGITS)
def test_wrong_check_digit_is_reported_with_the_expected_digit(
    reference: ReferenceData, container_id: str, digit: str
) -> None:
    submission = with_container(container_id)

    findings = compliance_findings(submission, reference)

    assert [(f.rule, f.field, f.expected) for f in findings] == [
        ("iso6346.check_digit", "container_id", f"check digit {digit}")
    ]


@pytest.mark.parametrize("container_id", ["CSQU305438", "CSQU30543833", ""])
def test_container_number_of_wrong_length_is_malformed(
    reference: ReferenceData, container_id: str
) -> None:
    submission = with_container(container_id)

    findings = compliance_findings(submission, reference)

    assert [f.rule for f in findings] == ["iso6346.format"]


def test_letter_in_the_serial_is_malformed(reference: ReferenceData) -> None:
    submission = with_container("CSQU3054Z83")

    findings = compliance_findings(submission, reference)

    assert [(f.rule, f.message) for f in findings] == [
        ("iso6346.format", "serial and check digit '3054Z83' are not 7 digits")
    ]


@pytest.mark.parametrize("container_id", ["C5QU3054383", "ÇSQU3054383"])
def test_owner_code_not_three_letters_is_reported_without_a_check_digit(
    reference: ReferenceData, container_id: str
) -> None:
    submission = with_container(container_id)

    findings = compliance_findings(submission, reference)

    assert [(f.rule, f.expected) for f in findings] == [
        ("iso6346.owner_code", "three capital letters A to Z")
    ]


@pytest.mark.parametrize(
    ("container_id", "kind"),
    [
        ("CSQJ3054386", "detachable freight container-related equipment"),
        ("CSQZ3054387", "a trailer or chassis"),
    ],
)
def test_equipment_other_than_a_freight_container_is_reported(
    reference: ReferenceData, container_id: str, kind: str
) -> None:
    submission = with_container(container_id)

    findings = compliance_findings(submission, reference)

    assert [(f.rule, f.message, f.expected) for f in findings] == [
        (
            "iso6346.category",
            f"equipment category {container_id[3]!r} is {kind}, "
            "not a freight container",
            "category U",
        )
    ]


def test_category_and_check_digit_are_both_reported(
    reference: ReferenceData,
) -> None:
    submission = with_container("CSQJ3054383")

    findings = compliance_findings(submission, reference)

    assert [(f.rule, f.expected) for f in findings] == [
        ("iso6346.category", "category U"),
        ("iso6346.check_digit", "check digit 6"),
    ]


@pytest.mark.parametrize("code", ["RMB", "usd", "DEM", "XXX", "XTS", ""])
def test_item_currency_outside_iso_4217_is_reported(
    reference: ReferenceData, code: str
) -> None:
    submission = with_item(a_submission(), 1, value=Money(Decimal("15000.00"), code))

    findings = compliance_findings(submission, reference)

    assert [(f.rule, f.field) for f in findings] == [
        ("iso4217.currency_unknown", "manifest.items[1].value.currency_code")
    ]


def test_unknown_currency_everywhere_is_reported_for_each_field(
    reference: ReferenceData,
) -> None:
    submission = with_totals(
        with_item(
            with_item(a_submission(), 0, value=Money(Decimal("50000.00"), "RMB")),
            1,
            value=Money(Decimal("15000.00"), "RMB"),
        ),
        value=Money(Decimal("65000.00"), "RMB"),
    )

    outcome = run_checks(submission, reference, NOW)

    assert [f.field for f in outcome.compliance_violations] == [
        "manifest.items[0].value.currency_code",
        "manifest.items[1].value.currency_code",
        "manifest.total_value.currency_code",
    ]
    assert outcome.checks[2].passed


@pytest.mark.parametrize("code", ["EUR", "JPY", "SGD", "CNY", "XOF"])
def test_real_currency_used_throughout_passes(
    reference: ReferenceData, code: str
) -> None:
    submission = with_totals(
        with_item(
            with_item(a_submission(), 0, value=Money(Decimal("50000.00"), code)),
            1,
            value=Money(Decimal("15000.00"), code),
        ),
        value=Money(Decimal("65000.00"), code),
    )

    findings = compliance_findings(submission, reference)

    assert findings == ()


def test_compliance_violations_are_the_compliance_findings(
    reference: ReferenceData,
) -> None:
    submission = with_container("MSKU1234567")

    outcome = run_checks(submission, reference, NOW)

    assert outcome.compliance_violations == outcome.checks[3].findings
    assert outcome.checks[3].check_type is CheckType.COMPLIANCE_CHECK
    assert len(outcome.compliance_violations) == 1
