"""The printable certificate: an A4 page with a QR code carrying the signature.

The QR code holds the certification's ``digital_signature`` (the JWS), which is
everything a reader needs, with the published public keys, to check the
certificate offline; the printed text is for people and is covered by the
signature only as far as it repeats the signed claims.

The page uses the PDF core fonts, which cover Latin-1 only; other characters
print as ``?``. The QR code is unaffected: the JWS is ASCII.

Rendering runs once per issued certification, so it avoids fpdf2's general
layout machinery (``multi_cell``, ``table``): every line is placed with
``FPDF.text`` at a computed position, and text is broken into lines with the
core font's glyph widths. The QR code is a 1-bit image, one pixel per module,
which the PDF stores CCITT G4 compressed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import accumulate

import zxingcpp
from fpdf import FPDF
from fpdf.fonts import CORE_FONTS_CHARWIDTHS
from PIL import Image, features

from certifier.model import Certification

SIGNING_KEYS_PATH = "/api/v1/signing-keys"
VERIFY_PATH = "/api/v1/certification/verify"
# Medium error correction survives a scuffed or badly printed code. A fixed
# mask skips the scoring of all eight masks, which costs about five times the
# encoding itself; the JWS is close to random data, so any mask reads well.
QR_ERROR_LEVEL = "M"
QR_DATA_MASK = 0

_MM_PER_PT = 25.4 / 72
_PAGE_WIDTH_MM = 210.0
_PAGE_HEIGHT_MM = 297.0
_MARGIN_MM = 20.0
_BOTTOM_MM = _PAGE_HEIGHT_MM - _MARGIN_MM
_BODY_HEIGHT_MM = _BOTTOM_MM - _MARGIN_MM
# Space between a cell's edge and its text, as fpdf2 leaves in its cells.
_PAD_MM = 1.0
_LINE_MM = 6.0
_LABEL_WIDTH_MM = 48.0
_QR_SIDE_MM = 70.0
_QR_GAP_MM = 6.0
_NOTE_LINE_MM = 5.0
_FAMILY = "helvetica"
# fpdf2 stores a 1-bit image CCITT G4 compressed when Pillow has libtiff, and
# otherwise mislabels its data; 8-bit gray is the larger, slower safe choice.
_QR_IMAGE_MODE = "1" if features.check("libtiff") else "L"


@dataclass(frozen=True)
class _Font:
    """A core font face at one size, with the glyph widths to measure text."""

    style: str
    size_pt: float
    char_widths: Mapping[str, int]

    def text_width(self, text: str) -> float:
        """Width of Latin-1 ``text`` in millimetres."""
        units = sum(map(self.char_widths.__getitem__, text))
        return units * self.size_pt * _MM_PER_PT / 1000

    @property
    def height(self) -> float:
        """The font size in millimetres, the height of a single-spaced line."""
        return self.size_pt * _MM_PER_PT

    def baseline(self, line_mm: float) -> float:
        """Offset of the baseline from the top of a line ``line_mm`` high."""
        # The same placement fpdf2 gives text in a cell of that height.
        return line_mm / 2 + 0.3 * self.height


def _helvetica(style: str, size_pt: float) -> _Font:
    return _Font(style, size_pt, CORE_FONTS_CHARWIDTHS[_FAMILY + style])


_TITLE = _helvetica("B", 18)
_SUBTITLE = _helvetica("", 12)
_SECTION = _helvetica("B", 12)
_LABEL = _helvetica("B", 10)
_BODY = _helvetica("", 10)
_NOTE = _helvetica("", 9)


@dataclass(frozen=True)
class _Cell:
    """Lines of text in one column of a table row."""

    left: float
    width: float
    font: _Font
    lines: Sequence[str]


_CHECK_COLUMN_WIDTHS_MM = (50.0, 20.0, 100.0)
_CHECK_COLUMNS = tuple(
    zip(
        accumulate(_CHECK_COLUMN_WIDTHS_MM[:-1], initial=_MARGIN_MM),
        _CHECK_COLUMN_WIDTHS_MM,
        strict=True,
    )
)
_CHECK_HEADER = tuple(
    _Cell(left, width, _LABEL, (title,))
    for (left, width), title in zip(
        _CHECK_COLUMNS, ("Check", "Result", "Details"), strict=True
    )
)


class _Sheet:
    """The document and a cursor moving down its pages."""

    def __init__(self, pdf: FPDF) -> None:
        self.pdf = pdf
        self.y = _MARGIN_MM

    def room(self) -> float:
        """Height left on the current page, in millimetres."""
        return _BOTTOM_MM - self.y

    def new_page(self) -> None:
        """Continue at the top of a fresh page."""
        self.pdf.add_page()
        self.y = _MARGIN_MM

    def put_lines(
        self, font: _Font, left: float, lines: Sequence[str], line_mm: float
    ) -> None:
        """Print ``lines`` one below the other from the cursor, leaving it there."""
        self.pdf.set_font(_FAMILY, font.style, font.size_pt)
        baseline = self.y + font.baseline(line_mm)
        for index, line in enumerate(lines):
            if line:
                self.pdf.text(left, baseline + index * line_mm, line)

    def write_lines(
        self, font: _Font, left: float, lines: Sequence[str], line_mm: float
    ) -> None:
        """Print ``lines`` one below the other and move the cursor past them."""
        self.put_lines(font, left, lines, line_mm)
        self.y += len(lines) * line_mm


def make_verification_qr(digital_signature: str) -> zxingcpp.Barcode:
    """The QR code that carries ``digital_signature`` (a JWS) for offline checks.

    Returns:
        The symbol at error correction level ``QR_ERROR_LEVEL`` with data mask
        ``QR_DATA_MASK``; ``to_image()`` gives its modules, quiet zone included.

    Raises:
        ValueError: the signature is empty or too long for one QR code.
    """
    if not digital_signature:
        raise ValueError("digital_signature must not be empty")
    try:
        return zxingcpp.create_barcode(
            digital_signature,
            zxingcpp.BarcodeFormat.QRCode,
            ec_level=QR_ERROR_LEVEL,
            data_mask=QR_DATA_MASK,
        )
    except ValueError as err:
        raise ValueError(
            f"digital_signature ({len(digital_signature)} characters) does not fit "
            f"in one QR code at error correction level {QR_ERROR_LEVEL}"
        ) from err


def render_certificate_pdf(
    certification: Certification, *, public_base_url: str = ""
) -> bytes:
    """Render the one-page certificate PDF.

    A pure, CPU-bound function: the same certification gives the same bytes.
    Long check details continue on further pages.

    Args:
        certification: What to print; its ``digital_signature`` goes in the QR
            code.
        public_base_url: The gateway's public address, for example
            ``https://certs.port.example``, printed before the API paths; when
            empty the page gives the paths alone.

    Returns:
        The PDF file's bytes.

    Raises:
        ValueError: the signature is empty or too long for one QR code.
    """
    qr = _qr_bitmap(make_verification_qr(certification.digital_signature))
    sheet = _Sheet(_new_document(certification))
    _write_heading(sheet)
    _write_facts(sheet, certification)
    _write_checks(sheet, certification)
    _write_verification(sheet, certification, public_base_url.rstrip("/"), qr)
    return bytes(sheet.pdf.output())


def _qr_bitmap(barcode: zxingcpp.Barcode) -> Image.Image:
    # One pixel per module, with the four-module quiet zone readers need.
    gray = Image.fromarray(barcode.to_image(add_quiet_zones=True))
    return gray.convert(_QR_IMAGE_MODE, dither=Image.Dither.NONE)


def _new_document(certification: Certification) -> FPDF:
    pdf = FPDF(orientation="portrait", unit="mm", format="A4")
    pdf.set_margins(left=_MARGIN_MM, top=_MARGIN_MM, right=_MARGIN_MM)
    # Pages break where _Sheet decides.
    pdf.set_auto_page_break(auto=False)
    # Fixing the creation date to the issue time keeps the output
    # reproducible, so a stored PDF can be compared with a fresh rendering.
    pdf.set_creation_date(certification.issued_at)
    pdf.set_title(_printable(f"Certification {certification.certification_id}"))
    pdf.set_author(_printable(certification.issued_by))
    pdf.set_subject(_printable(f"Container {certification.container_id}"))
    pdf.add_page()
    return pdf


def _write_heading(sheet: _Sheet) -> None:
    left = _MARGIN_MM + _PAD_MM
    sheet.write_lines(
        _TITLE, left, ["Container Verification Certificate"], _TITLE.height
    )
    sheet.write_lines(
        _SUBTITLE,
        left,
        ["The container below passed verification of its documents and cargo."],
        _SUBTITLE.height,
    )
    sheet.y += 4


def _write_facts(sheet: _Sheet, certification: Certification) -> None:
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
    value_left = _MARGIN_MM + _LABEL_WIDTH_MM
    value_width = _PAGE_WIDTH_MM - _MARGIN_MM - value_left
    # One two-column row for all facts: two font changes rather than two per fact.
    labels: list[str] = []
    values: list[str] = []
    for label, value in facts:
        lines = _wrap_cell(value, _BODY, value_width)
        labels.extend([label, *[""] * (len(lines) - 1)])
        values.extend(lines)
    row = (
        _Cell(_MARGIN_MM, _LABEL_WIDTH_MM, _LABEL, labels),
        _Cell(value_left, value_width, _BODY, values),
    )
    _write_row(sheet, row, ruled=False)
    sheet.y += 4


def _write_checks(sheet: _Sheet, certification: Certification) -> None:
    sheet.write_lines(_SECTION, _MARGIN_MM + _PAD_MM, ["Checks"], _SECTION.height)

    def repeat_header() -> None:
        _write_row(sheet, _CHECK_HEADER, ruled=True)

    repeat_header()
    for check in certification.checks:
        texts = (
            check.check_type.replace("_", " ").capitalize(),
            "PASSED" if check.passed else "FAILED",
            check.details,
        )
        row = tuple(
            _Cell(left, width, _BODY, _wrap_cell(text, _BODY, width))
            for (left, width), text in zip(_CHECK_COLUMNS, texts, strict=True)
        )
        _write_row(sheet, row, ruled=True, on_new_page=repeat_header)
    sheet.y += 6


def _write_row(
    sheet: _Sheet,
    row: Sequence[_Cell],
    *,
    ruled: bool,
    on_new_page: Callable[[], None] | None = None,
) -> None:
    """Print a row of cells, splitting it across pages only if it must."""

    def turn_page() -> None:
        sheet.new_page()
        if on_new_page is not None:
            on_new_page()

    count = max(len(cell.lines) for cell in row)
    height = count * _LINE_MM
    if sheet.room() < height and (height <= _BODY_HEIGHT_MM or sheet.room() < _LINE_MM):
        turn_page()
    start = 0
    while start < count:
        stop = min(count, start + max(1, int(sheet.room() // _LINE_MM)))
        for cell in row:
            lines = cell.lines[start:stop]
            sheet.put_lines(cell.font, cell.left + _PAD_MM, lines, _LINE_MM)
            if ruled:
                sheet.pdf.rect(
                    cell.left, sheet.y, cell.width, (stop - start) * _LINE_MM
                )
        sheet.y += (stop - start) * _LINE_MM
        start = stop
        if start < count:
            turn_page()


def _write_verification(
    sheet: _Sheet, certification: Certification, base_url: str, qr: Image.Image
) -> None:
    text_left = _MARGIN_MM + _QR_SIDE_MM + _QR_GAP_MM
    note = _wrap(
        _printable(
            "The QR code holds this certificate's digital signature: a JWS "
            "(RFC 7515, EdDSA) over its signed claims. Check it offline against "
            f"the public key with ID {certification.signing_key_id}, published "
            f"at {base_url}{SIGNING_KEYS_PATH}. To check that it has not been "
            f"revoked, submit it to {base_url}{VERIFY_PATH}."
        ),
        _NOTE,
        _PAGE_WIDTH_MM - _MARGIN_MM - text_left - 2 * _PAD_MM,
    )
    note_height = 4 + _SECTION.height + len(note) * _NOTE_LINE_MM
    if sheet.room() < max(_QR_SIDE_MM, note_height):
        sheet.new_page()
    top = sheet.y
    sheet.pdf.image(qr, x=_MARGIN_MM, y=top, w=_QR_SIDE_MM, h=_QR_SIDE_MM)
    sheet.y = top + 4
    sheet.write_lines(_SECTION, text_left + _PAD_MM, ["How to verify"], _SECTION.height)
    sheet.write_lines(_NOTE, text_left + _PAD_MM, note, _NOTE_LINE_MM)
    sheet.y = max(sheet.y, top + _QR_SIDE_MM)


def _wrap_cell(text: str, font: _Font, cell_width: float) -> list[str]:
    return _wrap(_printable(text), font, cell_width - 2 * _PAD_MM)


def _wrap(text: str, font: _Font, width: float) -> list[str]:
    """Break Latin-1 ``text`` into lines at most ``width`` wide.

    Lines break at spaces, and inside a word only where the word alone is too
    wide; a newline in the text always starts a new line.
    """
    if "\n" not in text and font.text_width(text) <= width:
        return [text]
    lines: list[str] = []
    for paragraph in text.split("\n"):
        lines.extend(_wrap_paragraph(paragraph.split(), font, width))
    return lines


def _wrap_paragraph(words: Sequence[str], font: _Font, width: float) -> list[str]:
    lines: list[str] = []
    space = font.text_width(" ")
    line, line_width = "", 0.0
    for word in words:
        word_width = font.text_width(word)
        if line and line_width + space + word_width <= width:
            line, line_width = f"{line} {word}", line_width + space + word_width
            continue
        if line:
            lines.append(line)
        pieces = _split_word(word, font, width) if word_width > width else [word]
        lines.extend(pieces[:-1])
        line = pieces[-1]
        line_width = font.text_width(line)
    lines.append(line)
    return lines


def _split_word(word: str, font: _Font, width: float) -> list[str]:
    pieces: list[str] = []
    start, used = 0, 0.0
    for index, char in enumerate(word):
        char_width = font.text_width(char)
        if index > start and used + char_width > width:
            pieces.append(word[start:index])
            start, used = index, 0.0
        used += char_width
    pieces.append(word[start:])
    return pieces


def _format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _printable(text: str) -> str:
    # NOTE: the core fonts cannot show characters outside Latin-1; replacing
    # them keeps rendering total, at the cost of a "?" in a name here or there.
    return text.encode("latin-1", errors="replace").decode("latin-1")
