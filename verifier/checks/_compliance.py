"""Compliance: ISO 6346 container number and ISO 4217 currencies.

The check digit comes from ``stdnum.iso6346``. The number is taken apart first
so that each broken part gets its own finding, and the digit is only computed
when owner code, category and serial are made of the characters the
algorithm is defined for.
"""

from __future__ import annotations

from collections.abc import Iterator

from stdnum import iso6346

from verifier.model import Finding, Submission
from verifier.reference import ReferenceData

_FREIGHT_CONTAINER = "U"

_OTHER_CATEGORIES = {
    "J": "detachable freight container-related equipment",
    "Z": "a trailer or chassis",
}


def check_compliance(
    submission: Submission, reference: ReferenceData
) -> tuple[Finding, ...]:
    """Report a non-conforming container number and unknown currencies.

    Args:
        submission: The request to check.
        reference: The ISO 4217 currencies.

    Returns:
        Container-number findings, then currency findings item by item and
        for the total.
    """
    findings = list(_container_findings(submission.container_id))
    manifest = submission.manifest
    currencies = [
        (f"manifest.items[{index}].value.currency_code", item.value.currency_code)
        for index, item in enumerate(manifest.items)
    ]
    currencies.append(
        ("manifest.total_value.currency_code", manifest.total_value.currency_code)
    )
    for field, code in currencies:
        if not reference.is_currency(code):
            findings.append(
                Finding(
                    rule="iso4217.currency_unknown",
                    field=field,
                    message=f"{code!r} is not an ISO 4217 currency code",
                    expected="an ISO 4217 currency code in capitals, such as USD",
                )
            )
    return tuple(findings)


def _container_findings(container_id: str) -> Iterator[Finding]:
    number = iso6346.compact(container_id)
    if len(number) != 11:
        yield _container_finding(
            "iso6346.format",
            f"container number {container_id!r} is not 11 characters",
            "owner code, category letter, 6-digit serial and check digit",
        )
        return
    owner, category, serial = number[:3], number[3], number[4:10]
    check_digit = number[10]
    if not _is_capital_letters(owner):
        yield _container_finding(
            "iso6346.owner_code",
            f"owner code {owner!r} is not three letters",
            "three capital letters A to Z",
        )
    if category != _FREIGHT_CONTAINER:
        kind = _OTHER_CATEGORIES.get(category, "not an ISO 6346 category")
        yield _container_finding(
            "iso6346.category",
            f"equipment category {category!r} is {kind}, not a freight container",
            "category U",
        )
    if not _is_digits(serial + check_digit):
        yield _container_finding(
            "iso6346.format",
            f"serial and check digit {serial + check_digit!r} are not 7 digits",
            "a 6-digit serial number followed by a check digit",
        )
    elif _is_capital_letters(owner + category):
        yield from _check_digit_findings(number)


def _check_digit_findings(number: str) -> Iterator[Finding]:
    expected = iso6346.calc_check_digit(number[:10])
    if number[10] != expected:
        yield _container_finding(
            "iso6346.check_digit",
            f"check digit {number[10]} of {number} is wrong; ISO 6346 gives {expected}",
            f"check digit {expected}",
        )


def _container_finding(rule: str, message: str, expected: str) -> Finding:
    return Finding(rule=rule, field="container_id", message=message, expected=expected)


def _is_capital_letters(text: str) -> bool:
    return text.isascii() and text.isalpha() and text.isupper()


def _is_digits(text: str) -> bool:
    return text.isascii() and text.isdigit()
