"""Manifest verification: HS codes exist and the declared totals add up.

Weights are converted to kilograms and summed exactly with ``Decimal``; the
sum and the declared total are compared after rounding both to the gram, so a
total declared in one unit may match items declared in others. Values are
summed exactly and only within one currency: amounts in different currencies
cannot be added without an exchange rate, which the manifest does not carry.
"""

from __future__ import annotations

import decimal
import re
from collections.abc import Iterator
from decimal import Decimal

from verifier.model import Finding, Manifest, ManifestItem, Submission
from verifier.reference import ReferenceData

_HS_SEPARATORS = str.maketrans("", "", ". ")
_HS_CODE = re.compile(r"[0-9]{6,10}")
_GRAM = Decimal("0.001")

# Ample for any real manifest, so sums and unit conversions stay exact.
_PRECISION = 60


def check_manifest(
    submission: Submission, reference: ReferenceData
) -> tuple[Finding, ...]:
    """Report unknown HS codes and totals that differ from their items.

    Args:
        submission: The request to check.
        reference: The HS 2022 nomenclature.

    Returns:
        HS findings item by item, then the weight and the value findings.
    """
    manifest = submission.manifest
    findings = [
        finding
        for index, item in enumerate(manifest.items)
        for finding in _hs_findings(index, item, reference)
    ]
    with decimal.localcontext(prec=_PRECISION):
        findings.extend(_weight_findings(manifest))
        findings.extend(_value_findings(manifest))
    return tuple(findings)


def _hs_findings(
    index: int, item: ManifestItem, reference: ReferenceData
) -> Iterator[Finding]:
    field = f"manifest.items[{index}].hs_code"
    digits = item.hs_code.translate(_HS_SEPARATORS)
    if not _HS_CODE.fullmatch(digits):
        yield Finding(
            rule="hs.code_format",
            field=field,
            message=f"HS code {item.hs_code!r} is not 6 to 10 digits",
            expected="6 to 10 digits, dots allowed, for example 8542.31",
        )
        return
    heading, subheading = digits[:4], digits[:6]
    if not reference.is_hs_heading(heading):
        yield Finding(
            rule="hs.code_unknown",
            field=field,
            message=f"HS code {item.hs_code!r}: heading {heading} is not in HS 2022",
            expected="a code whose first 6 digits are an HS 2022 subheading",
        )
    elif not reference.is_hs_subheading(subheading):
        known = ", ".join(reference.hs_subheadings_of(heading))
        yield Finding(
            rule="hs.code_unknown",
            field=field,
            message=(
                f"HS code {item.hs_code!r}: subheading {subheading} is not in HS 2022"
            ),
            expected=f"a subheading of heading {heading}: {known}",
        )


def _weight_findings(manifest: Manifest) -> Iterator[Finding]:
    items_kg = sum((item.weight.in_kilograms() for item in manifest.items), Decimal(0))
    total = manifest.total_weight
    total_kg = total.in_kilograms()
    if total_kg.quantize(_GRAM) != items_kg.quantize(_GRAM):
        yield Finding(
            rule="manifest.total_weight_mismatch",
            field="manifest.total_weight",
            message=_weight_mismatch_message(
                total.value, total.unit.name, total_kg, items_kg
            ),
            expected=f"total {_kilograms(items_kg)} kg",
        )


def _weight_mismatch_message(
    declared: Decimal, unit: str, declared_kg: Decimal, items_kg: Decimal
) -> str:
    shown = f"{declared:f} {unit.lower()}"
    if unit != "KG":
        shown += f" ({_kilograms(declared_kg)} kg)"
    return f"declared total {shown}, but the items weigh {_kilograms(items_kg)} kg"


def _value_findings(manifest: Manifest) -> Iterator[Finding]:
    total = manifest.total_value
    mixed = False
    for index, item in enumerate(manifest.items):
        if item.value.currency_code != total.currency_code:
            mixed = True
            yield Finding(
                rule="manifest.currency_mismatch",
                field=f"manifest.items[{index}].value.currency_code",
                message=(
                    f"currency {item.value.currency_code!r} differs from the "
                    f"total's {total.currency_code!r}; mixed currencies cannot "
                    "be totalled"
                ),
                expected=total.currency_code,
            )
    if mixed:
        return
    items_value = sum((item.value.amount for item in manifest.items), Decimal(0))
    if items_value != total.amount:
        yield Finding(
            rule="manifest.total_value_mismatch",
            field="manifest.total_value.amount",
            message=(
                f"declared total {total.amount:f} {total.currency_code} differs "
                f"from the items' sum {items_value:f} {total.currency_code}"
            ),
            expected=f"total {items_value:f} {total.currency_code}",
        )


def _kilograms(value: Decimal) -> str:
    text = f"{value.quantize(_GRAM):f}"
    return text.rstrip("0").rstrip(".")
