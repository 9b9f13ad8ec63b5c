"""Structural validation of SubmitVerification requests at the verifier's edge."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, cast

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import given, settings
from hypothesis import strategies as st

from portcert.verification.v1 import verification_pb2 as pb
from portcert.verification.v1 import verification_service_pb2 as service_pb
from portcert_runtime.errors import InvalidArgument
from verifier.conversion import MAX_MANIFEST_ITEMS, submission_from_proto
from verifier.model import DocumentKind, Priority, Submission, WeightUnit

Request = service_pb.SubmitVerificationRequest
CLEAR = object()


def _set_field(request: Request, path: str, value: object) -> None:
    *parents, name = path.split(".")
    message: Any = request
    for part in parents:
        field, _, index = part.partition("[")
        message = getattr(message, field)
        if index:
            message = message[int(index.rstrip("]"))]
    if value is CLEAR:
        message.ClearField(name)
    elif isinstance(value, Timestamp):
        getattr(message, name).CopyFrom(value)
    elif isinstance(value, list):
        del getattr(message, name)[:]
        getattr(message, name).extend(value)
    else:
        setattr(message, name, value)


def _violations(request: Request) -> list[tuple[str, str]]:
    with pytest.raises(InvalidArgument) as caught:
        submission_from_proto(request)
    return [(v.field, v.description) for v in caught.value.violations]


def test_valid_request_converts_to_submission(valid_request: Request) -> None:
    submission = submission_from_proto(valid_request)

    assert submission.container_id == valid_request.container_id
    assert submission.priority is Priority.STANDARD
    assert set(submission.documents) == set(DocumentKind)
    bill_of_lading = submission.documents[DocumentKind.BILL_OF_LADING]
    assert bill_of_lading.issuer == "Maersk A/S"
    assert bill_of_lading.issued_date is not None
    assert bill_of_lading.issued_date.isoformat() == "2026-03-02T09:15:00+00:00"
    assert submission.documents[DocumentKind.PACKING_LIST].expiration_date is None
    chips, towels = submission.manifest.items
    assert (chips.weight.value, chips.weight.unit) == (Decimal("1250.5"), WeightUnit.KG)
    assert (chips.hs_code, towels.hs_code) == ("854231", "630260")
    assert towels.value.amount == Decimal("7350.00")
    assert submission.manifest.total_value.currency_code == "USD"


def test_container_id_with_spaces_and_lower_case_is_normalised(
    valid_request: Request,
) -> None:
    expected = valid_request.container_id
    valid_request.container_id = (
        f" {expected[:4].lower()} {expected[4:10]} {expected[10]}"
    )

    submission = submission_from_proto(valid_request)

    assert submission.container_id == expected


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        (pb.PRIORITY_UNSPECIFIED, Priority.STANDARD),
        (pb.PRIORITY_STANDARD, Priority.STANDARD),
        (pb.PRIORITY_EXPEDITED, Priority.EXPEDITED),
    ],
)
def test_priority_unset_becomes_standard(
    valid_request: Request, number: pb.Priority, expected: Priority
) -> None:
    valid_request.priority = number

    submission = submission_from_proto(valid_request)

    assert submission.priority is expected


def test_request_without_documents_is_accepted_for_the_checks(
    valid_request: Request,
) -> None:
    valid_request.ClearField("documentation")

    submission = submission_from_proto(valid_request)

    assert submission.documents == {}


def test_absent_documents_are_left_out_and_empty_ones_kept(
    valid_request: Request,
) -> None:
    valid_request.documentation.ClearField("customs_declaration")
    valid_request.documentation.packing_list.Clear()

    submission = submission_from_proto(valid_request)

    assert set(submission.documents) == {
        DocumentKind.BILL_OF_LADING,
        DocumentKind.SAFETY_CERTIFICATE,
        DocumentKind.PACKING_LIST,
    }
    assert submission.documents[DocumentKind.PACKING_LIST].uri == ""


def test_semantic_problems_are_accepted_for_the_checks(
    valid_request: Request,
) -> None:
    digit = int(valid_request.container_id[10])
    valid_request.container_id = valid_request.container_id[:10] + str((digit + 1) % 10)
    valid_request.manifest.items[0].hs_code = "9999.99"
    valid_request.manifest.items[1].value.currency_code = "ABC"
    valid_request.manifest.total_value.amount = "1.00"
    bill_of_lading = valid_request.documentation.bill_of_lading
    bill_of_lading.expiration_date.FromJsonString("2001-01-01T00:00:00Z")
    bill_of_lading.document_id = ""
    bill_of_lading.signature = "not a digest"

    submission = submission_from_proto(valid_request)

    assert submission.container_id == valid_request.container_id
    assert submission.manifest.items[0].hs_code == "999999"
    assert submission.manifest.total_value.amount == Decimal("1.00")


_ITEMS = "manifest.items"
_WEIGHT = "manifest.items[0].weight"
_VALUE = "manifest.items[0].value"
_BOL = "documentation.bill_of_lading"
BAD_FIELDS: list[tuple[str, object, str]] = [
    (
        "container_id",
        "ABC123",
        "must be 4 letters and 7 digits (ISO 6346), for "
        "example 'MSCU1234566', got 'ABC123'",
    ),
    ("container_id", "", "got ''"),
    ("container_id", "\u0131SCU1234566", "ISO 6346"),
    ("container_id", "MSCU12345667", "got 'MSCU12345667'"),
    ("priority", 7, "unknown value 7; use PRIORITY_STANDARD or PRIORITY_EXPEDITED"),
    (f"{_BOL}.document_id", "B" * 65, "at most 64 characters, got 65"),
    (f"{_BOL}.uri", "docs/bol.pdf", "must be a URI with a scheme"),
    (f"{_BOL}.uri", "https://", "got 'https://'"),
    (f"{_BOL}.uri", "s3://b/" + "k" * 1018, "at most 1024 characters, got 1025"),
    (f"{_BOL}.issuer", "Maersk\x00A/S", "must not contain control characters"),
    (f"{_BOL}.document_id", "BOL\n123", "must not contain control characters"),
    (f"{_BOL}.issuer", "Maersk\u202eS/A", "must not contain control characters"),
    ("documentation.safety_certificate.issuer", "I" * 257, "at most 256 characters"),
    ("documentation.packing_list.signature", "S" * 513, "at most 512 characters"),
    (
        f"{_BOL}.issued_date",
        Timestamp(seconds=-62_135_596_801),
        "must be between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z",
    ),
    (
        "documentation.safety_certificate.expiration_date",
        Timestamp(seconds=253_402_300_800),
        "got seconds=253402300800",
    ),
    (
        "documentation.customs_declaration.expiration_date",
        Timestamp(nanos=-1),
        "nanos must be between 0 and 999999999, got -1",
    ),
    (
        "documentation.packing_list.issued_date",
        Timestamp(nanos=10**9),
        "got 1000000000",
    ),
    ("manifest", CLEAR, "is required"),
    (_ITEMS, [], "must hold 1 to 1000 items, got 0"),
    (_ITEMS, [pb.ManifestItem()] * (MAX_MANIFEST_ITEMS + 1), "got 1001"),
    ("manifest.items[1].description", " \t", "must not be blank"),
    ("manifest.items[1].description", "d" * 513, "at most 512 characters"),
    ("manifest.items[0].quantity", 0, "must be at least 1, got 0"),
    ("manifest.items[0].quantity", -3, "got -3"),
    (_WEIGHT, CLEAR, "is required"),
    (f"{_WEIGHT}.value", "1.25e3", "no exponent"),
    (f"{_WEIGHT}.value", "NaN", "got 'NaN'"),
    (f"{_WEIGHT}.value", "Infinity", "got 'Infinity'"),
    (f"{_WEIGHT}.value", "1,250.5", "plain decimal number such as '1250.5'"),
    (f"{_WEIGHT}.value", " 1250.5", "plain decimal"),
    (f"{_WEIGHT}.value", ".5", "plain decimal"),
    (f"{_WEIGHT}.value", "\u0663", "plain decimal"),
    (f"{_WEIGHT}.value", "-5", "must not be negative, got '-5'"),
    (f"{_WEIGHT}.value", "1" * 16, "at most 15 digits before the point"),
    (f"{_WEIGHT}.value", "0.1234567", "at most 6 digits after the point"),
    (f"{_WEIGHT}.unit", pb.WEIGHT_UNIT_UNSPECIFIED, "got WEIGHT_UNIT_UNSPECIFIED"),
    (f"{_WEIGHT}.unit", 9, "got unknown value 9"),
    ("manifest.items[1].hs_code", "6302.6", "6 to 10 digits"),
    ("manifest.items[1].hs_code", "6302.60.10.901", "6 to 10 digits"),
    ("manifest.items[1].hs_code", "6302-60", "got '6302-60'"),
    ("manifest.items[1].hs_code", "", "got ''"),
    (_VALUE, CLEAR, "is required"),
    (f"{_VALUE}.amount", "48000.00001", "at most 4 digits after the point"),
    (f"{_VALUE}.amount", "-0.01", "must not be negative"),
    (f"{_VALUE}.amount", "", "got ''"),
    (f"{_VALUE}.currency_code", "usd", "must be 3 upper-case letters (ISO 4217)"),
    (f"{_VALUE}.currency_code", "USDX", "got 'USDX'"),
    ("manifest.total_weight", CLEAR, "is required"),
    ("manifest.total_weight.value", "2,090.5", "plain decimal"),
    ("manifest.total_weight.unit", 0, "got WEIGHT_UNIT_UNSPECIFIED"),
    ("manifest.total_value", CLEAR, "is required"),
    ("manifest.total_value.amount", "NaN", "plain decimal"),
    ("manifest.total_value.currency_code", "eur", "got 'eur'"),
    ("idempotency_key", "k" * 129, "at most 128 printable ASCII characters"),
    ("idempotency_key", "cl\u00e9", "printable ASCII"),
    ("idempotency_key", "line\nbreak", "printable ASCII"),
]


@pytest.mark.parametrize(
    ("field", "value", "description"),
    BAD_FIELDS,
    ids=[f"{index}:{field}" for index, (field, _, _) in enumerate(BAD_FIELDS)],
)
def test_bad_field_is_reported_under_its_proto_path(
    valid_request: Request, field: str, value: object, description: str
) -> None:
    _set_field(valid_request, field, value)

    violations = _violations(valid_request)

    [(reported_field, reported_description)] = violations
    assert reported_field == field
    assert description in reported_description


def test_several_bad_fields_are_all_reported_at_once(valid_request: Request) -> None:
    valid_request.container_id = "ABC123"
    valid_request.documentation.packing_list.uri = "packing-list.pdf"
    valid_request.manifest.items[0].weight.value = "heavy"
    valid_request.manifest.items[1].quantity = -2
    valid_request.manifest.items[1].value.currency_code = "Euro"
    valid_request.manifest.total_value.amount = "1e5"
    valid_request.idempotency_key = "line\nbreak"

    violations = _violations(valid_request)

    assert [field for field, _ in violations] == [
        "container_id",
        "documentation.packing_list.uri",
        "manifest.items[0].weight.value",
        "manifest.items[1].quantity",
        "manifest.items[1].value.currency_code",
        "manifest.total_value.amount",
        "idempotency_key",
    ]


def test_default_request_reports_container_id_and_manifest() -> None:
    violations = _violations(Request())

    assert [field for field, _ in violations] == ["container_id", "manifest"]


def test_huge_value_is_cut_short_in_the_error(valid_request: Request) -> None:
    valid_request.container_id = "X" * 100_000

    [(_, description)] = _violations(valid_request)

    assert len(description) < 200
    assert description.endswith("... (100000 characters)")


# Mostly arbitrary text, with some well-formed values so that later rules run.
_ANY_TEXT = st.text(max_size=12) | st.sampled_from(
    ["MSCU1234566", "8542.31", "USD", "1250.5", "-0", "1e3", "NaN", "s3://b/k"]
)
# Any int32, so that numbers outside the enums reach the converter too.
_ENUM_NUMBER = st.integers(-(2**31), 2**31 - 1)
_INT64 = st.integers(-(2**63), 2**63 - 1)


@st.composite
def _any_requests(draw: st.DrawFn) -> Request:
    request = Request(
        container_id=draw(_ANY_TEXT),
        priority=cast("pb.Priority", draw(_ENUM_NUMBER)),
        idempotency_key=draw(_ANY_TEXT),
    )
    for kind in DocumentKind:
        if draw(st.booleans()):
            document = getattr(request.documentation, kind.value)
            document.uri = draw(_ANY_TEXT)
            document.issued_date.seconds = draw(_INT64)
            document.issued_date.nanos = draw(_ENUM_NUMBER)
    if draw(st.booleans()):
        request.manifest.SetInParent()
        for _ in range(draw(st.integers(0, 3))):
            item = request.manifest.items.add(
                description=draw(_ANY_TEXT),
                quantity=draw(_INT64),
                hs_code=draw(_ANY_TEXT),
            )
            item.weight.value = draw(_ANY_TEXT)
            item.weight.unit = cast("pb.WeightUnit", draw(_ENUM_NUMBER))
            item.value.amount = draw(_ANY_TEXT)
        if draw(st.booleans()):
            request.manifest.total_value.currency_code = draw(_ANY_TEXT)
    return request


def _convert(request: Request) -> Submission | InvalidArgument:
    try:
        return submission_from_proto(request)
    except InvalidArgument as error:
        return error


@settings(max_examples=300, deadline=None, database=None)
@given(_any_requests())
def test_any_request_either_converts_or_raises_invalid_argument(
    submit_request: Request,
) -> None:
    result = _convert(submit_request)

    violations = result.violations if isinstance(result, InvalidArgument) else ()
    assert isinstance(result, Submission) or violations
    assert all(v.field and v.description for v in violations)
