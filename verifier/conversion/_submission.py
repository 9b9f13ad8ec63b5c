"""Structural validation of a submit request and its conversion to a Submission."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal

from google.protobuf import timestamp_pb2

from portcert.verification.v1 import verification_pb2 as pb
from portcert.verification.v1 import verification_service_pb2 as service_pb
from portcert_runtime.errors import FieldViolation, InvalidArgument
from portcert_runtime.fields import is_plain_text
from verifier.model import (
    Document,
    DocumentKind,
    Manifest,
    ManifestItem,
    Money,
    Priority,
    Submission,
    Weight,
    WeightUnit,
)

MAX_MANIFEST_ITEMS = 1000
_MAX_DOCUMENT_ID = 64
_MAX_URI = 1024
_MAX_ISSUER = 256
_MAX_SIGNATURE = 512
_MAX_DESCRIPTION = 512
_MAX_IDEMPOTENCY_KEY = 128
# 15 integer and at most 6 fraction digits keep the sum of 1000 items within
# the 28 digits of Decimal's default context, so totals are compared exactly.
_MAX_INTEGER_DIGITS = 15
_MAX_WEIGHT_FRACTION_DIGITS = 6
_MAX_MONEY_FRACTION_DIGITS = 4
# Timestamp's documented range: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z.
_MIN_TIMESTAMP_SECONDS = -62_135_596_800
_MAX_TIMESTAMP_SECONDS = 253_402_300_799
_MAX_NANOS = 999_999_999
# Values echoed in messages are cut so a huge field cannot bloat the error.
_MAX_SHOWN = 40

_CONTAINER_ID = re.compile(r"[A-Z]{4}[0-9]{7}")
_PLAIN_DECIMAL = re.compile(r"-?([0-9]+)(?:\.([0-9]+))?")
_HS_CODE = re.compile(r"[0-9. ]+")
_CURRENCY_CODE = re.compile(r"[A-Z]{3}")
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S+")
_PRINTABLE_ASCII = re.compile(r"[\x20-\x7e]*")

_PRIORITIES: dict[int, Priority] = {
    pb.PRIORITY_UNSPECIFIED: Priority.STANDARD,
    pb.PRIORITY_STANDARD: Priority.STANDARD,
    pb.PRIORITY_EXPEDITED: Priority.EXPEDITED,
}
_WEIGHT_UNITS: dict[int, WeightUnit] = {
    pb.WEIGHT_UNIT_KG: WeightUnit.KG,
    pb.WEIGHT_UNIT_LB: WeightUnit.LB,
    pb.WEIGHT_UNIT_T: WeightUnit.T,
}


def submission_from_proto(
    request: service_pb.SubmitVerificationRequest,
) -> Submission:
    """Validate the shape of a submit request and convert it to a Submission.

    The container number is returned without spaces and in upper case, the HS
    codes as their digits only, an unset priority as STANDARD. The idempotency
    key is validated but not part of the Submission; read it from the request.

    Args:
        request: The request as received.

    Returns:
        The structurally valid submission.

    Raises:
        InvalidArgument: One or more fields are malformed; every violation is
            listed under its proto path.
    """
    errors: list[FieldViolation] = []
    container_id = _container_id(request.container_id, errors)
    priority = _priority(request.priority, errors)
    documents = _documents(request, errors)
    manifest = None
    if request.HasField("manifest"):
        manifest = _manifest(request.manifest, errors)
    else:
        errors.append(FieldViolation("manifest", "is required"))
    _check_idempotency_key(request.idempotency_key, errors)

    # A None manifest has always been reported; testing it too narrows the type.
    if errors or manifest is None:
        raise InvalidArgument(errors)
    return Submission(container_id, priority, documents, manifest)


def _shown(text: str) -> str:
    if len(text) > _MAX_SHOWN:
        return f"{text[:_MAX_SHOWN]!r}... ({len(text)} characters)"
    return repr(text)


def _container_id(raw: str, errors: list[FieldViolation]) -> str:
    compact = "".join(raw.split())
    # Only ASCII is upper-cased: the dotless i (U+0131) and ligatures such as
    # U+FB00 upper-case to ASCII letters and would pass as an owner code.
    normalised = compact.upper() if compact.isascii() else compact
    if not _CONTAINER_ID.fullmatch(normalised):
        errors.append(
            FieldViolation(
                "container_id",
                "must be 4 letters and 7 digits (ISO 6346), for example "
                f"'MSCU1234566', got {_shown(raw)}",
            )
        )
    return normalised


def _priority(raw: int, errors: list[FieldViolation]) -> Priority:
    priority = _PRIORITIES.get(raw)
    if priority is None:
        errors.append(
            FieldViolation(
                "priority",
                f"unknown value {raw}; use PRIORITY_STANDARD or PRIORITY_EXPEDITED",
            )
        )
        return Priority.STANDARD
    return priority


def _check_text(
    text: str,
    path: str,
    max_length: int,
    errors: list[FieldViolation],
    *,
    multi_line: bool = False,
) -> bool:
    if len(text) > max_length:
        errors.append(
            FieldViolation(
                path, f"must be at most {max_length} characters, got {len(text)}"
            )
        )
        return False
    # Identifiers are one line of visible text; only a description may break
    # lines. Direction overrides and other format characters are refused too.
    if not is_plain_text(text.replace("\r\n", "\n"), allow_line_breaks=multi_line):
        errors.append(
            FieldViolation(
                path, f"must not contain control characters, got {_shown(text)}"
            )
        )
        return False
    return True


def _documents(
    request: service_pb.SubmitVerificationRequest, errors: list[FieldViolation]
) -> dict[DocumentKind, Document]:
    documents: dict[DocumentKind, Document] = {}
    if not request.HasField("documentation"):
        return documents
    for kind in DocumentKind:
        if request.documentation.HasField(kind.value):
            message: pb.Document = getattr(request.documentation, kind.value)
            path = f"documentation.{kind.value}"
            documents[kind] = _document(message, path, errors)
    return documents


def _document(
    message: pb.Document, path: str, errors: list[FieldViolation]
) -> Document:
    _check_text(message.document_id, f"{path}.document_id", _MAX_DOCUMENT_ID, errors)
    uri_ok = _check_text(message.uri, f"{path}.uri", _MAX_URI, errors)
    # An empty URI is left to the completeness check, like any missing field.
    if uri_ok and message.uri and not _URI.fullmatch(message.uri):
        errors.append(
            FieldViolation(
                f"{path}.uri",
                "must be a URI with a scheme, such as 's3://bucket/key' or "
                f"'https://host/path', got {_shown(message.uri)}",
            )
        )
    _check_text(message.issuer, f"{path}.issuer", _MAX_ISSUER, errors)
    _check_text(message.signature, f"{path}.signature", _MAX_SIGNATURE, errors)
    issued = _timestamp(message, "issued_date", path, errors)
    expires = _timestamp(message, "expiration_date", path, errors)
    return Document(
        message.document_id,
        message.uri,
        message.issuer,
        issued,
        expires,
        message.signature,
    )


def _timestamp(
    message: pb.Document, name: str, path: str, errors: list[FieldViolation]
) -> datetime | None:
    if not message.HasField(name):
        return None
    stamp: timestamp_pb2.Timestamp = getattr(message, name)
    if not _MIN_TIMESTAMP_SECONDS <= stamp.seconds <= _MAX_TIMESTAMP_SECONDS:
        errors.append(
            FieldViolation(
                f"{path}.{name}",
                "must be between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z, "
                f"got seconds={stamp.seconds}",
            )
        )
        return None
    if not 0 <= stamp.nanos <= _MAX_NANOS:
        errors.append(
            FieldViolation(
                f"{path}.{name}",
                f"nanos must be between 0 and {_MAX_NANOS}, got {stamp.nanos}",
            )
        )
        return None
    # NOTE: datetime holds microseconds; finer nanoseconds are truncated.
    return stamp.ToDatetime(tzinfo=UTC)


def _manifest(message: pb.Manifest, errors: list[FieldViolation]) -> Manifest | None:
    items = _items(message, errors)
    total_weight = _weight(message, "total_weight", "manifest", errors)
    total_value = _money(message, "total_value", "manifest", errors)
    if items is None or total_weight is None or total_value is None:
        return None
    return Manifest(items, total_weight, total_value)


def _items(
    message: pb.Manifest, errors: list[FieldViolation]
) -> tuple[ManifestItem, ...] | None:
    count = len(message.items)
    if not 1 <= count <= MAX_MANIFEST_ITEMS:
        # Past the limit the items are not examined, which bounds the work and
        # the size of the error.
        errors.append(
            FieldViolation(
                "manifest.items",
                f"must hold 1 to {MAX_MANIFEST_ITEMS} items, got {count}",
            )
        )
        return None
    items = [
        _item(item, f"manifest.items[{index}]", errors)
        for index, item in enumerate(message.items)
    ]
    if None in items:
        return None
    return tuple(item for item in items if item is not None)


def _item(
    message: pb.ManifestItem, path: str, errors: list[FieldViolation]
) -> ManifestItem | None:
    description = message.description
    if not description.strip():
        errors.append(FieldViolation(f"{path}.description", "must not be blank"))
    else:
        _check_text(
            description,
            f"{path}.description",
            _MAX_DESCRIPTION,
            errors,
            multi_line=True,
        )
    if message.quantity < 1:
        errors.append(
            FieldViolation(
                f"{path}.quantity", f"must be at least 1, got {message.quantity}"
            )
        )
    weight = _weight(message, "weight", path, errors)
    hs_code = _hs_code(message.hs_code, f"{path}.hs_code", errors)
    value = _money(message, "value", path, errors)
    if weight is None or hs_code is None or value is None:
        return None
    return ManifestItem(description, message.quantity, weight, hs_code, value)


def _weight(
    parent: pb.Manifest | pb.ManifestItem,
    name: str,
    parent_path: str,
    errors: list[FieldViolation],
) -> Weight | None:
    path = f"{parent_path}.{name}"
    if not parent.HasField(name):
        errors.append(FieldViolation(path, "is required"))
        return None
    message: pb.Weight = getattr(parent, name)
    value = _decimal(
        message.value, f"{path}.value", _MAX_WEIGHT_FRACTION_DIGITS, errors
    )
    unit = _WEIGHT_UNITS.get(message.unit)
    if unit is None:
        errors.append(
            FieldViolation(
                f"{path}.unit",
                "must be WEIGHT_UNIT_KG, WEIGHT_UNIT_LB or WEIGHT_UNIT_T, "
                f"got {_weight_unit_name(message.unit)}",
            )
        )
    if value is None or unit is None:
        return None
    return Weight(value, unit)


def _money(
    parent: pb.Manifest | pb.ManifestItem,
    name: str,
    parent_path: str,
    errors: list[FieldViolation],
) -> Money | None:
    path = f"{parent_path}.{name}"
    if not parent.HasField(name):
        errors.append(FieldViolation(path, "is required"))
        return None
    message: pb.Money = getattr(parent, name)
    amount = _decimal(
        message.amount, f"{path}.amount", _MAX_MONEY_FRACTION_DIGITS, errors
    )
    currency_code = message.currency_code
    if not _CURRENCY_CODE.fullmatch(currency_code):
        errors.append(
            FieldViolation(
                f"{path}.currency_code",
                "must be 3 upper-case letters (ISO 4217), for example 'USD', "
                f"got {_shown(currency_code)}",
            )
        )
        return None
    if amount is None:
        return None
    return Money(amount, currency_code)


def _decimal(
    text: str, path: str, max_fraction_digits: int, errors: list[FieldViolation]
) -> Decimal | None:
    match = _PLAIN_DECIMAL.fullmatch(text)
    if match is None:
        errors.append(
            FieldViolation(
                path,
                "must be a plain decimal number such as '1250.5' (digits, an "
                "optional '.' and fraction digits; no exponent, sign, spaces or "
                f"separators), got {_shown(text)}",
            )
        )
        return None
    integer_digits, fraction_digits = match.group(1), match.group(2) or ""
    if text.startswith("-"):
        problem = "must not be negative"
    elif len(integer_digits) > _MAX_INTEGER_DIGITS:
        problem = f"must have at most {_MAX_INTEGER_DIGITS} digits before the point"
    elif len(fraction_digits) > max_fraction_digits:
        problem = f"must have at most {max_fraction_digits} digits after the point"
    else:
        return Decimal(text)
    errors.append(FieldViolation(path, f"{problem}, got {_shown(text)}"))
    return None


def _weight_unit_name(number: int) -> str:
    if number in pb.WeightUnit.values():
        return pb.WeightUnit.Name(number)
    return f"unknown value {number}"


def _hs_code(text: str, path: str, errors: list[FieldViolation]) -> str | None:
    digits = text.replace(".", "").replace(" ", "")
    if not _HS_CODE.fullmatch(text) or not 6 <= len(digits) <= 10:
        errors.append(
            FieldViolation(
                path,
                "must be an HS code of 6 to 10 digits, dots and spaces allowed, "
                f"for example '8542.31', got {_shown(text)}",
            )
        )
        return None
    return digits


def _check_idempotency_key(key: str, errors: list[FieldViolation]) -> None:
    if len(key) > _MAX_IDEMPOTENCY_KEY or not _PRINTABLE_ASCII.fullmatch(key):
        errors.append(
            FieldViolation(
                "idempotency_key",
                f"must be at most {_MAX_IDEMPOTENCY_KEY} printable ASCII "
                f"characters, got {_shown(key)}",
            )
        )
