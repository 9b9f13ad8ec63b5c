import csv
from importlib import resources

import pycountry
import pytest

from verifier.model import DocumentKind
from verifier.reference import ReferenceData


def issuer_rows() -> list[dict[str, str]]:
    text = (
        resources.files("verifier.reference")
        .joinpath("trusted-issuers.csv")
        .read_text(encoding="utf-8")
    )
    return list(csv.DictReader(text.splitlines()))


def test_load_returns_one_shared_instance() -> None:
    first = ReferenceData.load()

    second = ReferenceData.load()

    assert first is second


def test_hs_2022_has_its_published_number_of_headings_and_subheadings(
    reference: ReferenceData,
) -> None:
    counts = (len(reference.hs_headings), len(reference.hs_subheadings))

    assert counts == (1228, 5612)


@pytest.mark.parametrize("code", ["99", "9999", "999999", "TOTAL"])
def test_comtrade_pseudo_codes_are_dropped(reference: ReferenceData, code: str) -> None:
    known = reference.is_hs_heading(code) or reference.is_hs_subheading(code)

    assert not known


def test_real_subheadings_are_known_and_chapter_77_is_absent(
    reference: ReferenceData,
) -> None:
    codes = ["854231", "630260", "850760"]

    known = [reference.is_hs_subheading(code) for code in codes]

    assert known == [True, True, True]
    assert not any(code.startswith("77") for code in reference.hs_headings)


def test_every_issuing_kind_but_the_packing_list_has_a_trusted_list(
    reference: ReferenceData,
) -> None:
    kinds = set(reference.trusted_issuers)

    assert kinds == set(DocumentKind) - {DocumentKind.PACKING_LIST}


def test_every_trusted_issuer_has_an_iso_3166_country() -> None:
    rows = issuer_rows()

    unknown = [
        row["issuer"]
        for row in rows
        if pycountry.countries.get(alpha_2=row["country"]) is None
    ]

    assert rows
    assert unknown == []


def test_issuer_trusted_for_one_kind_is_not_trusted_for_another(
    reference: ReferenceData,
) -> None:
    carrier = "Hapag-Lloyd"

    trusted = [reference.is_trusted_issuer(kind, carrier) for kind in DocumentKind]

    assert trusted == [True, False, False, False]


@pytest.mark.parametrize(
    ("code", "known"),
    [("USD", True), ("EUR", True), ("usd", False), ("RMB", False), ("XXX", False)],
)
def test_currencies_are_iso_4217_codes_in_capitals(
    reference: ReferenceData, code: str, known: bool
) -> None:
    result = reference.is_currency(code)

    assert result is known
