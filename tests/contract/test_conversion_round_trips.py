"""Submissions and outcomes through JSON, PostgreSQL jsonb and the contract."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import asyncpg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portcert.verification.v1 import verification_pb2 as pb
from portcert.verification.v1 import verification_service_pb2 as service_pb
from verifier.conversion import (
    outcome_from_json,
    outcome_to_json,
    outcome_to_proto,
    submission_from_json,
    submission_from_proto,
    submission_to_json,
    submission_to_proto,
)
from verifier.model import (
    CheckOutcome,
    CheckType,
    DocumentKind,
    Finding,
    VerificationOutcome,
    Weight,
    WeightUnit,
)

ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"

Request = service_pb.SubmitVerificationRequest


def _resubmitted(stored: pb.VerificationRequest) -> Request:
    return Request(
        container_id=stored.container_id,
        priority=stored.priority,
        documentation=stored.documentation,
        manifest=stored.manifest,
    )


# Text a client may legitimately send: no control, format or surrogate
# characters.
_TEXT = st.text(st.characters(exclude_categories=("Cc", "Cf", "Cs")), max_size=64)
_UTC_DATETIMES = st.datetimes(
    min_value=datetime(1, 1, 1),
    max_value=datetime(9999, 12, 31, 23, 59, 59, 999_999),
    timezones=st.just(UTC),
)
_URIS = st.just("") | st.from_regex(
    r"[a-z][a-z0-9+.-]{0,8}://[A-Za-z0-9/._~-]{1,40}", fullmatch=True
)


def _plain_decimals(places: int) -> st.SearchStrategy[str]:
    largest = Decimal(10**15) - Decimal(1).scaleb(-places)
    return st.decimals(min_value=0, max_value=largest, places=places).map(
        lambda value: format(value, "f")
    )


def _weights() -> st.SearchStrategy[pb.Weight]:
    units = st.sampled_from([pb.WEIGHT_UNIT_KG, pb.WEIGHT_UNIT_LB, pb.WEIGHT_UNIT_T])
    return st.builds(pb.Weight, value=_plain_decimals(6), unit=units)


def _money() -> st.SearchStrategy[pb.Money]:
    codes = st.from_regex(r"[A-Z]{3}", fullmatch=True)
    return st.builds(pb.Money, amount=_plain_decimals(4), currency_code=codes)


@st.composite
def _valid_requests(draw: st.DrawFn) -> Request:
    request = Request(
        container_id=draw(st.from_regex(r"[A-Z]{4}[0-9]{7}", fullmatch=True)),
        priority=draw(st.sampled_from([pb.PRIORITY_STANDARD, pb.PRIORITY_EXPEDITED])),
    )
    for kind in draw(st.sets(st.sampled_from(list(DocumentKind)))):
        document: pb.Document = getattr(request.documentation, kind.value)
        document.SetInParent()
        document.document_id = draw(_TEXT)
        document.uri = draw(_URIS)
        document.issuer = draw(_TEXT)
        document.signature = draw(_TEXT)
        for name in draw(st.sets(st.sampled_from(["issued_date", "expiration_date"]))):
            getattr(document, name).FromDatetime(draw(_UTC_DATETIMES))
    for _ in range(draw(st.integers(1, 5))):
        request.manifest.items.add(
            description=draw(_TEXT.filter(str.strip)),
            quantity=draw(st.integers(1, 2**63 - 1)),
            weight=draw(_weights()),
            hs_code=draw(st.from_regex(r"[0-9]{4}(\.[0-9]{2}){1,3}", fullmatch=True)),
            value=draw(_money()),
        )
    request.manifest.total_weight.CopyFrom(draw(_weights()))
    request.manifest.total_value.CopyFrom(draw(_money()))
    return request


@settings(max_examples=200, deadline=None, database=None)
@given(_valid_requests())
def test_valid_submission_survives_json_and_contract_round_trips(
    submit_request: Request,
) -> None:
    submission = submission_from_proto(submit_request)

    from_json = submission_from_json(
        json.loads(json.dumps(submission_to_json(submission)))
    )
    from_contract = submission_from_proto(_resubmitted(submission_to_proto(submission)))

    assert from_json == submission
    assert from_contract == submission


def test_submission_to_proto_leaves_server_fields_to_the_store(
    valid_request: Request,
) -> None:
    submission = submission_from_proto(valid_request)

    stored = submission_to_proto(submission)

    assert (stored.request_id, stored.submitted_by) == ("", "")
    assert not stored.HasField("submitted_at")
    assert stored.status == pb.VERIFICATION_STATUS_UNSPECIFIED
    assert stored.container_id == valid_request.container_id
    assert stored.manifest.items[0].hs_code == "854231"
    assert stored.documentation.packing_list.HasField("expiration_date") is False


def test_submission_to_proto_writes_decimals_without_exponent(
    valid_request: Request,
) -> None:
    submission = submission_from_proto(valid_request)
    tiny = Weight(Decimal("1E-7"), WeightUnit.T)
    item = replace(submission.manifest.items[0], weight=tiny)
    manifest = replace(submission.manifest, items=(item,), total_weight=tiny)

    stored = submission_to_proto(replace(submission, manifest=manifest))

    assert stored.manifest.items[0].weight.value == "0.0000001"
    assert stored.manifest.total_weight.value == "0.0000001"


def failed_outcome() -> VerificationOutcome:
    checked_at = datetime(2026, 3, 4, 10, 0, 0, 250_000, tzinfo=UTC)
    wrong_digit = Finding(
        rule="iso6346.check_digit",
        field="container_id",
        message="check digit is 5, expected 6",
        expected="check digit 6",
    )
    checks = tuple(
        CheckOutcome(
            check_type=check_type,
            findings=(wrong_digit,) if check_type is CheckType.COMPLIANCE_CHECK else (),
            details="1 problem" if check_type is CheckType.COMPLIANCE_CHECK else "ok",
            checked_at=checked_at,
        )
        for check_type in CheckType
    )
    return VerificationOutcome(
        checks=checks,
        risk_score=0.35,
        processing_time=timedelta(milliseconds=412, microseconds=7),
        completed_at=checked_at,
        compliance_violations=(wrong_digit,),
    )


def test_outcome_survives_a_json_round_trip() -> None:
    outcome = failed_outcome()

    restored = outcome_from_json(json.loads(json.dumps(outcome_to_json(outcome))))

    assert restored == outcome


def test_outcome_to_proto_reports_the_failed_check_and_its_finding() -> None:
    outcome = failed_outcome()

    result = outcome_to_proto("0b6f3c1e-5d2a-4c8e-9f71-3a2d4e5f6a7b", outcome)

    assert result.request_id == "0b6f3c1e-5d2a-4c8e-9f71-3a2d4e5f6a7b"
    assert result.status == pb.VERIFICATION_STATUS_FAILED
    assert [check.passed for check in result.checks] == [True, True, True, False]
    assert result.checks[3].check_type == pb.CHECK_TYPE_COMPLIANCE_CHECK
    assert result.checks[3].findings[0].expected == "check digit 6"
    assert list(result.failure_reasons) == [
        "container_id: check digit is 5, expected 6"
    ]
    assert result.compliance_violations[0].rule == "iso6346.check_digit"
    assert result.processing_time.ToTimedelta() == timedelta(microseconds=412_007)
    assert result.completed_at.ToJsonString() == "2026-03-04T10:00:00.250Z"
    assert result.risk_score == 0.35


def test_outcome_without_findings_is_passed_in_proto() -> None:
    outcome = failed_outcome()
    passing = replace(
        outcome,
        checks=tuple(replace(check, findings=()) for check in outcome.checks),
        compliance_violations=(),
    )

    result = outcome_to_proto("r", passing)

    assert result.status == pb.VERIFICATION_STATUS_PASSED
    assert list(result.failure_reasons) == []


def test_naive_datetime_is_refused_by_the_json_writer() -> None:
    naive = replace(failed_outcome(), completed_at=datetime(2026, 3, 4, 10, 0))

    with pytest.raises(ValueError, match="without a time zone"):
        outcome_to_json(naive)


@pytest.fixture
async def database() -> AsyncIterator[asyncpg.Connection]:
    name = f"portcert_conversion_{uuid.uuid4().hex}"
    admin = await asyncpg.connect(ADMIN_DSN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    connection = await asyncpg.connect(ADMIN_DSN.rsplit("/", 1)[0] + f"/{name}")
    try:
        yield connection
    finally:
        await connection.close()
        await admin.execute(f'DROP DATABASE "{name}"')
        await admin.close()


async def test_submission_and_outcome_survive_postgresql_jsonb(
    database: asyncpg.Connection, valid_request: Request
) -> None:
    submission = submission_from_proto(valid_request)
    outcome = failed_outcome()
    await database.execute("CREATE TABLE stored (submission jsonb, outcome jsonb)")

    await database.execute(
        "INSERT INTO stored VALUES ($1::jsonb, $2::jsonb)",
        json.dumps(submission_to_json(submission)),
        json.dumps(outcome_to_json(outcome)),
    )
    row = await database.fetchrow("SELECT submission::text, outcome::text FROM stored")

    assert row is not None
    assert submission_from_json(json.loads(row["submission"])) == submission
    assert outcome_from_json(json.loads(row["outcome"])) == outcome
