"""The certificate PDF and the QR code that carries the signature."""

from __future__ import annotations

import dataclasses
import io
from datetime import UTC, datetime
from uuid import UUID

import pytest
import zxingcpp
from PIL import Image
from pypdf import PdfReader

from certifier.model import (
    Certification,
    CheckSummary,
    new_certification,
    new_certification_claims,
)
from certifier.pdf import make_verification_qr, render_certificate_pdf
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


def decoded_qr_texts(image: Image.Image) -> list[str]:
    return [
        result.text
        for result in zxingcpp.read_barcodes(image)
        if result.format == zxingcpp.BarcodeFormat.QRCode
    ]


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


def test_qr_code_decodes_to_the_exact_signature(certification: Certification) -> None:
    qr = make_verification_qr(certification.digital_signature)
    png = io.BytesIO()
    qr.save(png, kind="png", scale=4)

    decoded = decoded_qr_texts(Image.open(io.BytesIO(png.getvalue())))

    assert decoded == [certification.digital_signature]


def test_qr_code_in_the_pdf_verifies_offline(
    certification: Certification, key: SigningKey
) -> None:
    pdf = render_certificate_pdf(certification)

    decoded = [
        text for image in embedded_images(pdf) for text in decoded_qr_texts(image)
    ]

    assert decoded == [certification.digital_signature]
    claims = verify_signature(decoded[0], {key.key_id: key.public_key})
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
    wordy = dataclasses.replace(
        certification,
        checks=tuple(
            dataclasses.replace(check, details="all documents in order. " * 40)
            for check in certification.checks
        ),
    )

    pdf = render_certificate_pdf(wordy)

    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) > 1
    assert [len(page.images) for page in reader.pages][-1:] == [1]
    assert [
        text for image in embedded_images(pdf) for text in decoded_qr_texts(image)
    ] == [certification.digital_signature]


def test_empty_signature_cannot_make_a_qr_code() -> None:
    with pytest.raises(ValueError, match="digital_signature"):
        make_verification_qr("")
