"""The printable certificate: an A4 page with a QR code carrying the signature.

The QR code holds the certification's ``digital_signature`` (the JWS), which is
everything a reader needs, with the published public keys, to check the
certificate offline; the printed text is for people and is covered by the
signature only as far as it repeats the signed claims.

The page uses the PDF core fonts, which cover Latin-1 only; other characters
print as ``?``. The QR code is unaffected: the JWS is ASCII.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime

import segno
from fpdf import FPDF
from fpdf.enums import XPos, YPos

from certifier.model import Certification

SIGNING_KEYS_PATH = "/api/v1/signing-keys"
VERIFY_PATH = "/api/v1/certification/verify"
# Medium error correction survives a scuffed or badly printed code; a fixed
# mask skips segno's scoring of all eight masks, which costs about five times
# the encoding itself.
QR_ERROR_LEVEL = "m"
QR_MASK = 0

_QR_SIDE_MM = 70.0
_LABEL_WIDTH_MM = 48.0
_LINE_MM = 6.0
_FONT = "Helvetica"


def make_verification_qr(digital_signature: str) -> segno.QRCode:
    """The QR code that carries ``digital_signature`` (a JWS) for offline checks.

    Raises:
        ValueError: the signature is empty.
    """
    if not digital_signature:
        raise ValueError("digital_signature must not be empty")
    return segno.make_qr(digital_signature, error=QR_ERROR_LEVEL, mask=QR_MASK)


def render_certificate_pdf(
    certification: Certification, *, public_base_url: str = ""
) -> bytes:
    """Render the one-page certificate PDF.

    A pure, CPU-bound function: the same certification gives the same bytes.

    Args:
        certification: What to print; its ``digital_signature`` goes in the QR
            code.
        public_base_url: The gateway's public address, for example
            ``https://certs.port.example``, printed before the API paths; when
            empty the page gives the paths alone.

    Returns:
        The PDF file's bytes.
    """
    pdf = _new_document(certification)
    _write_heading(pdf)
    _write_facts(pdf, certification)
    _write_checks(pdf, certification)
    _write_verification(pdf, certification, public_base_url.rstrip("/"))
    return bytes(pdf.output())


def _new_document(certification: Certification) -> FPDF:
    pdf = FPDF(orientation="portrait", unit="mm", format="A4")
    pdf.set_margins(left=20, top=20, right=20)
    pdf.set_auto_page_break(auto=True, margin=20)
    # Fixing the creation date to the issue time keeps the output
    # reproducible, so a stored PDF can be compared with a fresh rendering.
    pdf.set_creation_date(certification.issued_at)
    pdf.set_title(_printable(f"Certification {certification.certification_id}"))
    pdf.set_author(_printable(certification.issued_by))
    pdf.set_subject(_printable(f"Container {certification.container_id}"))
    pdf.add_page()
    return pdf


def _write_heading(pdf: FPDF) -> None:
    pdf.set_font(_FONT, style="B", size=18)
    pdf.cell(
        text="Container Verification Certificate",
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )
    pdf.set_font(_FONT, size=12)
    pdf.cell(
        text="The container below passed verification of its documents and cargo.",
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )
    pdf.ln(4)


def _write_facts(pdf: FPDF, certification: Certification) -> None:
    officer = f"{certification.issuing_officer} ({certification.issuing_officer_id})"
    facts = (
        ("Certification ID", str(certification.certification_id)),
        ("Container number", certification.container_id),
        ("Verification request", str(certification.request_id)),
        ("Issued", _format_time(certification.issued_at)),
        ("Expires", _format_time(certification.expires_at)),
        ("Issued by", certification.issued_by),
        ("Issuing officer", officer),
        (
            "Risk score",
            f"{certification.risk_score:.3f} (0 = no risk seen, 1 = certain)",
        ),
        ("Signature", certification.signature_algorithm),
        ("Signing key ID", certification.signing_key_id),
    )
    for label, value in facts:
        pdf.set_font(_FONT, style="B", size=10)
        pdf.cell(w=_LABEL_WIDTH_MM, h=_LINE_MM, text=label)
        pdf.set_font(_FONT, size=10)
        pdf.multi_cell(
            w=0,
            h=_LINE_MM,
            text=_printable(value),
            align="L",
            new_x=XPos.LMARGIN,
            new_y=YPos.NEXT,
        )
    pdf.ln(4)


def _write_checks(pdf: FPDF, certification: Certification) -> None:
    pdf.set_font(_FONT, style="B", size=12)
    pdf.cell(text="Checks", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(_FONT, size=10)
    with pdf.table(
        col_widths=(50, 20, 100), text_align="LEFT", line_height=_LINE_MM
    ) as table:
        table.row(("Check", "Result", "Details"))
        for check in certification.checks:
            table.row(
                (
                    _printable(check.check_type.replace("_", " ").capitalize()),
                    "PASSED" if check.passed else "FAILED",
                    _printable(check.details),
                )
            )
    pdf.ln(6)


def _write_verification(pdf: FPDF, certification: Certification, base_url: str) -> None:
    qr_png = io.BytesIO()
    make_verification_qr(certification.digital_signature).save(
        qr_png, kind="png", scale=1, border=4
    )
    if pdf.will_page_break(_QR_SIDE_MM):
        pdf.add_page()
    top = pdf.get_y()
    pdf.image(qr_png, x=pdf.l_margin, y=top, w=_QR_SIDE_MM, h=_QR_SIDE_MM)

    text_left = pdf.l_margin + _QR_SIDE_MM + 6
    pdf.set_xy(text_left, top + 4)
    pdf.set_font(_FONT, style="B", size=12)
    pdf.cell(text="How to verify", new_x=XPos.LEFT, new_y=YPos.NEXT)
    pdf.set_font(_FONT, size=9)
    pdf.multi_cell(
        w=0,
        h=5,
        text=_printable(
            "The QR code holds this certificate's digital signature: a JWS "
            "(RFC 7515, EdDSA) over its signed claims. Check it offline against "
            f"the public key with ID {certification.signing_key_id}, published "
            f"at {base_url}{SIGNING_KEYS_PATH}. To check that it has not been "
            f"revoked, submit it to {base_url}{VERIFY_PATH}."
        ),
        align="L",
        new_x=XPos.LEFT,
        new_y=YPos.NEXT,
    )


def _format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _printable(text: str) -> str:
    # NOTE: the core fonts cannot show characters outside Latin-1; replacing
    # them keeps rendering total, at the cost of a "?" in a name here or there.
    return text.encode("latin-1", errors="replace").decode("latin-1")
