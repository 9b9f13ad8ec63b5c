"""JSON form of submissions and outcomes, as stored in PostgreSQL.

Decimals are strings (``str`` keeps their exact digits and exponent), datetimes
RFC 3339 in UTC with microseconds, durations integer microseconds and enums
their names, so reading back what was written gives an equal object.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from verifier.model import (
    CheckOutcome,
    CheckType,
    Document,
    DocumentKind,
    Finding,
    Manifest,
    ManifestItem,
    Money,
    Priority,
    Submission,
    VerificationOutcome,
    Weight,
    WeightUnit,
)

JsonObject = dict[str, Any]
JsonInput = Mapping[str, Any]

_MICROSECOND = timedelta(microseconds=1)


def submission_to_json(submission: Submission) -> JsonObject:
    """Return the JSON-ready form of a submission.

    Raises:
        ValueError: A datetime in it has no time zone.
    """
    return {
        "container_id": submission.container_id,
        "priority": submission.priority.name,
        "documents": {
            kind.value: _document_to_json(document)
            for kind, document in submission.documents.items()
        },
        "manifest": {
            "items": [_item_to_json(item) for item in submission.manifest.items],
            "total_weight": _weight_to_json(submission.manifest.total_weight),
            "total_value": _money_to_json(submission.manifest.total_value),
        },
    }


def submission_from_json(data: JsonInput) -> Submission:
    """Rebuild a submission from what ``submission_to_json`` produced.

    Raises:
        KeyError: A key is missing.
        ValueError: A value is malformed.
    """
    manifest = data["manifest"]
    return Submission(
        container_id=data["container_id"],
        priority=Priority[data["priority"]],
        documents={
            DocumentKind(kind): _document_from_json(document)
            for kind, document in data["documents"].items()
        },
        manifest=Manifest(
            items=tuple(_item_from_json(item) for item in manifest["items"]),
            total_weight=_weight_from_json(manifest["total_weight"]),
            total_value=_money_from_json(manifest["total_value"]),
        ),
    )


def outcome_to_json(outcome: VerificationOutcome) -> JsonObject:
    """Return the JSON-ready form of a verification outcome.

    Raises:
        ValueError: A datetime in it has no time zone.
    """
    return {
        "checks": [_check_to_json(check) for check in outcome.checks],
        "risk_score": outcome.risk_score,
        "processing_time_us": outcome.processing_time // _MICROSECOND,
        "completed_at": _datetime_to_json(outcome.completed_at),
        "compliance_violations": [
            _finding_to_json(finding) for finding in outcome.compliance_violations
        ],
    }


def outcome_from_json(data: JsonInput) -> VerificationOutcome:
    """Rebuild a verification outcome from what ``outcome_to_json`` produced.

    Raises:
        KeyError: A key is missing.
        ValueError: A value is malformed.
    """
    return VerificationOutcome(
        checks=tuple(_check_from_json(check) for check in data["checks"]),
        risk_score=float(data["risk_score"]),
        processing_time=timedelta(microseconds=data["processing_time_us"]),
        completed_at=_datetime_from_json(data["completed_at"]),
        compliance_violations=tuple(
            _finding_from_json(finding) for finding in data["compliance_violations"]
        ),
    )


def _datetime_to_json(moment: datetime) -> str:
    # A naive datetime could be read back only as a different, aware one.
    if moment.utcoffset() is None:
        raise ValueError(f"datetime without a time zone: {moment.isoformat()}")
    text = moment.astimezone(UTC).isoformat(timespec="microseconds")
    return text.removesuffix("+00:00") + "Z"


def _datetime_from_json(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.utcoffset() is None:
        raise ValueError(f"datetime without a time zone: {text!r}")
    return moment.astimezone(UTC)


def _optional_datetime_to_json(moment: datetime | None) -> str | None:
    return None if moment is None else _datetime_to_json(moment)


def _optional_datetime_from_json(text: str | None) -> datetime | None:
    return None if text is None else _datetime_from_json(text)


def _document_to_json(document: Document) -> JsonObject:
    return {
        "document_id": document.document_id,
        "uri": document.uri,
        "issuer": document.issuer,
        "issued_date": _optional_datetime_to_json(document.issued_date),
        "expiration_date": _optional_datetime_to_json(document.expiration_date),
        "signature": document.signature,
    }


def _document_from_json(data: JsonInput) -> Document:
    return Document(
        document_id=data["document_id"],
        uri=data["uri"],
        issuer=data["issuer"],
        issued_date=_optional_datetime_from_json(data["issued_date"]),
        expiration_date=_optional_datetime_from_json(data["expiration_date"]),
        signature=data["signature"],
    )


def _item_to_json(item: ManifestItem) -> JsonObject:
    return {
        "description": item.description,
        "quantity": item.quantity,
        "weight": _weight_to_json(item.weight),
        "hs_code": item.hs_code,
        "value": _money_to_json(item.value),
    }


def _item_from_json(data: JsonInput) -> ManifestItem:
    return ManifestItem(
        description=data["description"],
        quantity=int(data["quantity"]),
        weight=_weight_from_json(data["weight"]),
        hs_code=data["hs_code"],
        value=_money_from_json(data["value"]),
    )


def _weight_to_json(weight: Weight) -> JsonObject:
    return {"value": str(weight.value), "unit": weight.unit.name}


def _weight_from_json(data: JsonInput) -> Weight:
    return Weight(Decimal(data["value"]), WeightUnit[data["unit"]])


def _money_to_json(money: Money) -> JsonObject:
    return {"amount": str(money.amount), "currency_code": money.currency_code}


def _money_from_json(data: JsonInput) -> Money:
    return Money(Decimal(data["amount"]), data["currency_code"])


def _check_to_json(check: CheckOutcome) -> JsonObject:
    return {
        "check_type": check.check_type.name,
        "findings": [_finding_to_json(finding) for finding in check.findings],
        "details": check.details,
        "checked_at": _datetime_to_json(check.checked_at),
    }


def _check_from_json(data: JsonInput) -> CheckOutcome:
    return CheckOutcome(
        check_type=CheckType[data["check_type"]],
        findings=tuple(_finding_from_json(finding) for finding in data["findings"]),
        details=data["details"],
        checked_at=_datetime_from_json(data["checked_at"]),
    )


def _finding_to_json(finding: Finding) -> JsonObject:
    return {
        "rule": finding.rule,
        "field": finding.field,
        "message": finding.message,
        "expected": finding.expected,
    }


def _finding_from_json(data: JsonInput) -> Finding:
    return Finding(
        rule=data["rule"],
        field=data["field"],
        message=data["message"],
        expected=data["expected"],
    )
