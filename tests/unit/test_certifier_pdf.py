"""The certificate PDF and the QR code that carries the signature."""

from __future__ import annotations

import dataclasses
import io
from datetime import UTC, datetime
from uuid import UUID

import pytest
import zxingcpp
from fpdf import FPDF
from PIL import Image
from pypdf import PdfReader

from certifier.model import (
    Certification,
    CheckSummary,
    new_certification,
    new_certification_claims,
)
from certifier.pdf import (
    QR_DATA_MASK,
    QR_ERROR_LEVEL,
    make_verification_qr,
    render_certificate_pdf,
)
from certifier.signing import SigningKey, sign_claims, verify_signature

CHECK_TYPES = (
    "DOCUMENT_COMPLETENESS",
    "DOCUMENT_AUTHENTICITY",
    "MANIFEST_VERIFICATION",
    "COMPLIANCE_CHECK",
)


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return SigningKey.generate()


@pytest.fixture(scope="module")
def certification(key: SigningKey) -> Certification:
    checks = [CheckSummary(name, True, "no findings") for name in CHECK_TYPES]
    claims = new_certification_claims(
        certification_id=UUID("6f1c2b9e-2d4a-4c11-9a53-0b7f6f0b1e21"),
        container_id="CSQU3054383",
        request_id=UUID("0c8d5b67-3c55-4a0e-8d89-5e1f3f2b7a10"),
        issued_at=datetime(2026, 3, 1, 9, 15, 30, tzinfo=UTC),
        issued_by="Port of Rotterdam Authority",
        issuing_officer_id="officer-4711",
        checks=checks,
        risk_score=0.125,
        kid=key.key_id,
    )
    return new_certification(
        claims,
        checks=checks,
        issuing_officer="Anna de Vries",
        signature_algorithm=key.algorithm,
        digital_signature=sign_claims(claims.to_json_object(), key),
        pdf_uri="file:///certificates/6f1c2b9e.pdf",
    )


def page_texts(pdf: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]


def decoded_qrs(image: Image.Image | zxingcpp.Image) -> list[zxingcpp.Barcode]:
    return [
        result
        for result in zxingcpp.read_barcodes(image)
        if result.format == zxingcpp.BarcodeFormat.QRCode
    ]


def data_mask(result: zxingcpp.Barcode) -> object:
    extra = result.extra
    assert isinstance(extra, dict)
    return extra["DataMask"]


def decoded_qr_texts(image: Image.Image) -> list[str]:
    return [result.text for result in decoded_qrs(image)]


def with_details(certification: Certification, details: str) -> Certification:
    return dataclasses.replace(
        certification,
        checks=tuple(
            dataclasses.replace(check, details=details)
            for check in certification.checks
        ),
    )


def details_column_lines(pdf: bytes) -> list[str]:
    # The details column starts 90 mm from the page's left edge; its text sits
    # just inside the cell.
    column_left_pt = 90 * 72 / 25.4
    lines: list[str] = []

    def collect(text: str, cm: object, tm: list[float], *_: object) -> None:
        if text.strip() and column_left_pt < tm[4] < column_left_pt + 5:
            lines.append(text.strip())

    for page in PdfReader(io.BytesIO(pdf)).pages:
        page.extract_text(visitor_text=collect)
    return [line for line in lines if line != "Details"]


def fpdf2_multi_cell_lines(text: str, width_mm: float) -> list[str]:
    reference = FPDF(unit="mm")
    reference.add_page()
    reference.set_font("helvetica", size=10)
    lines = reference.multi_cell(
        w=width_mm, h=6, text=text, dry_run=True, output="LINES"
    )
    assert isinstance(lines, list)
    return lines


def embedded_images(pdf: bytes) -> list[Image.Image]:
    images = []
    for page in PdfReader(io.BytesIO(pdf)).pages:
        for picture in page.images:
            assert picture.image is not None
            images.append(picture.image)
    return images


def test_pdf_shows_the_certification_facts(certification: Certification) -> None:
    pdf = render_certificate_pdf(certification)

    text = " ".join(page_texts(pdf))
    assert pdf.startswith(b"%PDF-")
    for expected in (
        str(certification.certification_id),
        certification.container_id,
        str(certification.request_id),
        "2026-03-01 09:15:30 UTC",
        "2026-05-30 09:15:30 UTC",
        "Port of Rotterdam Authority",
        "Anna de Vries (officer-4711)",
        "Manifest verification",
        "PASSED",
        "0.125",
        certification.signing_key_id,
        "/api/v1/signing-keys",
    ):
        assert expected in text


def test_base_url_is_printed_before_the_key_path(certification: Certification) -> None:
    pdf = render_certificate_pdf(
        certification, public_base_url="https://certs.port.example/"
    )

    text = " ".join(page_texts(pdf)).replace("\n", "")
    assert "https://certs.port.example/api/v1/signing-keys" in text


def test_qr_code_decodes_to_the_exact_signature_at_level_m(
    certification: Certification,
) -> None:
    qr = make_verification_qr(certification.digital_signature)

    decoded = decoded_qrs(qr.to_image(scale=4))

    assert [result.text for result in decoded] == [certification.digital_signature]
    assert decoded[0].ec_level == QR_ERROR_LEVEL == "M"


def test_qr_codes_all_use_the_fixed_data_mask() -> None:
    # Left to choose, the encoder picks masks 4 and 7 for these texts.
    texts = [
        f"eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ{n}In0.c2lnbmF0dXJl{n}" for n in range(8)
    ]

    masks = {
        data_mask(result)
        for text in texts
        for result in decoded_qrs(make_verification_qr(text).to_image(scale=3))
    }

    assert masks == {QR_DATA_MASK}


def test_qr_code_in_the_pdf_verifies_offline(
    certification: Certification, key: SigningKey
) -> None:
    pdf = render_certificate_pdf(certification)

    decoded = [
        result for image in embedded_images(pdf) for result in decoded_qrs(image)
    ]

    assert [result.text for result in decoded] == [certification.digital_signature]
    assert decoded[0].ec_level == "M"
    claims = verify_signature(decoded[0].text, {key.key_id: key.public_key})
    assert claims["certification_id"] == str(certification.certification_id)


def test_rendering_is_reproducible(certification: Certification) -> None:
    first = render_certificate_pdf(certification)

    second = render_certificate_pdf(certification)

    assert first == second


def test_names_outside_latin1_render_with_a_placeholder(
    certification: Certification,
) -> None:
    foreign = dataclasses.replace(certification, issuing_officer="Łukasz 王")

    pdf = render_certificate_pdf(foreign)

    assert "?ukasz ? (officer-4711)" in " ".join(page_texts(pdf))


def test_long_check_details_flow_onto_further_pages_with_one_whole_qr_code(
    certification: Certification,
) -> None:
    wordy = with_details(certification, "all documents in order. " * 40)

    pdf = render_certificate_pdf(wordy)

    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) > 1
    texts = page_texts(pdf)
    assert all("Check Result Details" in text for text in texts[1:])
    flowing_text = " ".join(texts).replace("\n", " ")
    assert flowing_text.count("all documents in order.") == 4 * 40
    assert [len(page.images) for page in reader.pages][-1:] == [1]
    assert [
        text for image in embedded_images(pdf) for text in decoded_qr_texts(image)
    ] == [certification.digital_signature]


def test_details_longer_than_a_page_continue_under_a_repeated_header(
    certification: Certification,
) -> None:
    first, *others = certification.checks
    endless = dataclasses.replace(
        certification,
        checks=(dataclasses.replace(first, details="inspected " * 2500), *others),
    )

    pdf = render_certificate_pdf(endless)

    texts = page_texts(pdf)
    assert len(texts) >= 3
    assert " ".join(texts).count("inspected") == 2500
    assert all("Check Result Details" in text for text in texts[1:-1])


def test_details_wrap_where_fpdf2s_own_line_breaker_would(
    certification: Certification,
) -> None:
    details = (
        "Bill of lading BL-2026-000123 matches the manifest; seal 4471 intact, "
        "weights within tolerance (declared 21 340 kg, measured 21 298 kg). "
        + "x" * 150
        + " reference ends here."
    )

    pdf = render_certificate_pdf(with_details(certification, details))

    expected = fpdf2_multi_cell_lines(details, width_mm=100)
    assert len(expected) > 3
    assert details_column_lines(pdf)[: len(expected)] == expected


def test_line_breaks_in_details_start_new_lines(certification: Certification) -> None:
    pdf = render_certificate_pdf(
        with_details(certification, "seal intact\nweights checked")
    )

    assert details_column_lines(pdf)[:2] == ["seal intact", "weights checked"]


def test_page_count_alias_in_a_value_prints_as_given(
    certification: Certification,
) -> None:
    braced = dataclasses.replace(certification, issued_by="Port {nb} Authority")

    pdf = render_certificate_pdf(braced)

    assert "Port {nb} Authority" in " ".join(page_texts(pdf))


def test_empty_signature_cannot_make_a_qr_code() -> None:
    with pytest.raises(ValueError, match="digital_signature"):
        make_verification_qr("")


def test_signature_too_long_for_one_qr_code_is_refused_naming_the_field() -> None:
    with pytest.raises(ValueError, match=r"digital_signature .* does not fit"):
        make_verification_qr("a" * 3000)
