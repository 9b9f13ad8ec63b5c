"""A valid submission built from real data, and ways to break it in one place.

The container number, HS codes, issuers and amounts are real: CSQU3054383 is
the ISO 6346 example number, 8542.31 (processors) and 6302.60 (terry towelling)
are HS 2022 subheadings, and the issuers are on the packaged trusted list.
"""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

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

NOW = datetime(2026, 2, 14, 10, 30, tzinfo=UTC)

ISSUERS = {
    DocumentKind.BILL_OF_LADING: "Maersk",
    DocumentKind.CUSTOMS_DECLARATION: "U.S. Customs and Border Protection",
    DocumentKind.SAFETY_CERTIFICATE: "Lloyd's Register",
    DocumentKind.PACKING_LIST: "Shenzhen Hengtai Electronics Co., Ltd.",
}

VALIDITY = {
    DocumentKind.BILL_OF_LADING: timedelta(days=90),
    DocumentKind.CUSTOMS_DECLARATION: timedelta(days=28),
    DocumentKind.SAFETY_CERTIFICATE: timedelta(days=5 * 365),
}


def signature_of(content: str) -> str:
    """A digest-style signature over some bytes, in the request's form."""
    return "SHA256:" + hashlib.sha256(content.encode()).hexdigest()


def a_document(kind: DocumentKind) -> Document:
    """A complete, trusted, in-date document of the given kind."""
    issued = NOW - timedelta(days=2)
    validity = VALIDITY.get(kind)
    document_id = f"{kind.name[:3]}-2026-004211"
    return Document(
        document_id=document_id,
        uri=f"s3://container-docs/CSQU3054383/{kind.value}.pdf",
        issuer=ISSUERS[kind],
        issued_date=issued,
        expiration_date=None if validity is None else issued + validity,
        signature=signature_of(document_id),
    )


def an_item(
    hs_code: str,
    weight: str,
    value: str,
    unit: WeightUnit = WeightUnit.KG,
    currency: str = "USD",
) -> ManifestItem:
    """A manifest line with the given code, weight and value."""
    return ManifestItem(
        description=f"goods under HS {hs_code}",
        quantity=100,
        weight=Weight(Decimal(weight), unit),
        hs_code=hs_code,
        value=Money(Decimal(value), currency),
    )


def a_submission() -> Submission:
    """A submission every check passes."""
    return Submission(
        container_id="CSQU3054383",
        priority=Priority.STANDARD,
        documents={kind: a_document(kind) for kind in DocumentKind},
        manifest=Manifest(
            items=(
                an_item("8542.31", "500.5", "50000.00"),
                an_item("6302.60", "250.0", "15000.00"),
            ),
            total_weight=Weight(Decimal("750.5"), WeightUnit.KG),
            total_value=Money(Decimal("65000.00"), "USD"),
        ),
    )


def with_document(
    submission: Submission, kind: DocumentKind, **changes: Any
) -> Submission:
    """The submission with one document's fields changed."""
    documents = dict(submission.documents)
    documents[kind] = dataclasses.replace(documents[kind], **changes)
    return dataclasses.replace(submission, documents=documents)


def without_document(submission: Submission, kind: DocumentKind) -> Submission:
    """The submission with one document left out."""
    documents = {k: d for k, d in submission.documents.items() if k is not kind}
    return dataclasses.replace(submission, documents=documents)


def with_items(submission: Submission, *items: ManifestItem) -> Submission:
    """The submission with other manifest lines and the same totals."""
    manifest = dataclasses.replace(submission.manifest, items=items)
    return dataclasses.replace(submission, manifest=manifest)


def with_item(submission: Submission, index: int, **changes: Any) -> Submission:
    """The submission with one manifest line's fields changed."""
    items = list(submission.manifest.items)
    items[index] = dataclasses.replace(items[index], **changes)
    return with_items(submission, *items)


def with_totals(
    submission: Submission,
    weight: Weight | None = None,
    value: Money | None = None,
) -> Submission:
    """The submission with other declared totals."""
    manifest = dataclasses.replace(
        submission.manifest,
        total_weight=weight or submission.manifest.total_weight,
        total_value=value or submission.manifest.total_value,
    )
    return dataclasses.replace(submission, manifest=manifest)
