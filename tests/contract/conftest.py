"""A realistic, valid SubmitVerification request for the contract tests."""

from __future__ import annotations

import hashlib

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from stdnum import iso6346

from portcert.verification.v1 import verification_pb2 as pb
from portcert.verification.v1 import verification_service_pb2 as service_pb

CONTAINER_ID = "MSCU123456" + iso6346.calc_check_digit("MSCU123456")


def timestamp(text: str) -> Timestamp:
    """Parse an RFC 3339 time into a Timestamp."""
    stamp = Timestamp()
    stamp.FromJsonString(text)
    return stamp


def _document(
    document_id: str, name: str, issuer: str, issued: str, expires: str | None
) -> pb.Document:
    document = pb.Document(
        document_id=document_id,
        uri=f"s3://container-docs/documents/{CONTAINER_ID}/{name}.pdf",
        issuer=issuer,
        issued_date=timestamp(issued),
        signature="SHA256:" + hashlib.sha256(document_id.encode()).hexdigest(),
    )
    if expires is not None:
        document.expiration_date.CopyFrom(timestamp(expires))
    return document


def _item(
    description: str, quantity: int, kilograms: str, hs_code: str, usd: str
) -> pb.ManifestItem:
    return pb.ManifestItem(
        description=description,
        quantity=quantity,
        weight=pb.Weight(value=kilograms, unit=pb.WEIGHT_UNIT_KG),
        hs_code=hs_code,
        value=pb.Money(amount=usd, currency_code="USD"),
    )


def _documentation() -> pb.Documentation:
    return pb.Documentation(
        bill_of_lading=_document(
            "MAEU240912345",
            "bill-of-lading",
            "Maersk A/S",
            "2026-03-02T09:15:00Z",
            "2026-09-02T00:00:00Z",
        ),
        customs_declaration=_document(
            "26NL0004219876543",
            "customs-declaration",
            "Douane Nederland",
            "2026-03-03T14:40:00Z",
            "2026-06-03T00:00:00Z",
        ),
        safety_certificate=_document(
            "CSC-NL-BV-2024-118734",
            "safety-certificate",
            "Bureau Veritas",
            "2024-05-10T08:00:00Z",
            "2029-05-10T00:00:00Z",
        ),
        packing_list=_document(
            "PL-2026-0311",
            "packing-list",
            "Lianhua Electronics Co., Ltd.",
            "2026-02-27T06:30:00Z",
            None,
        ),
    )


@pytest.fixture
def valid_request() -> service_pb.SubmitVerificationRequest:
    """Two lines of cargo under four documents, every field well formed."""
    chips = _item("Microcontrollers, reel packed", 12000, "1250.5", "8542.31", "48000")
    towels = _item("Cotton terry kitchen towels", 3000, "840", "6302.60", "7350.00")
    return service_pb.SubmitVerificationRequest(
        container_id=CONTAINER_ID,
        documentation=_documentation(),
        manifest=pb.Manifest(
            items=[chips, towels],
            total_weight=pb.Weight(value="2090.5", unit=pb.WEIGHT_UNIT_KG),
            total_value=pb.Money(amount="55350.00", currency_code="USD"),
        ),
        idempotency_key="tos-7f3c2a91",
    )
