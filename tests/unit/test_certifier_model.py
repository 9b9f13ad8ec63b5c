"""Issuance rules of certification claims, and a certification's lifecycle."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import pytest

from certifier.model import (
    CERTIFICATION_VALIDITY,
    Certification,
    CertificationAlreadyRevoked,
    CertificationClaims,
    CertificationRuleError,
    CertificationStatus,
    CheckSummary,
    new_certification,
    revoke_certification,
)

from .certification_builders import CHECK_TYPES, ISSUED_AT, make_claims, passing_checks


def make_certification(claims: CertificationClaims) -> Certification:
    return new_certification(
        claims,
        checks=passing_checks(),
        issuing_officer="Anna de Vries",
        signature_algorithm="EdDSA",
        digital_signature="header.payload.signature",
        pdf_uri="file:///certificates/6f1c2b9e.pdf",
    )


def test_claims_expire_90_days_after_issue_truncated_to_the_second() -> None:
    claims = make_claims()

    assert claims.issued_at == ISSUED_AT.replace(microsecond=0)
    assert claims.expires_at - claims.issued_at == CERTIFICATION_VALIDITY
    assert timedelta(days=90) == CERTIFICATION_VALIDITY
    assert claims.to_json_object()["expires_at"] == "2026-05-30T09:15:30Z"


def test_claims_state_times_in_utc_and_survive_a_trip_through_json() -> None:
    two_hours_east = timezone(timedelta(hours=2))
    claims = make_claims(
        issued_at=datetime(2026, 3, 1, 11, 15, 30, tzinfo=two_hours_east)
    )

    read_back = CertificationClaims.from_json_object(claims.to_json_object())

    assert claims.to_json_object()["issued_at"] == "2026-03-01T09:15:30Z"
    assert read_back == claims


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"container_id": "CSQU3054384"}, "container_id"),
        ({"container_id": "csqu3054383"}, "container_id"),
        ({"issued_at": datetime(2026, 3, 1, 9, 15)}, "issued_at"),
        ({"risk_score": 1.5}, "risk_score"),
        ({"risk_score": float("nan")}, "risk_score"),
        ({"issued_by": " "}, "issued_by"),
        ({"checks": passing_checks()[:3]}, "checks"),
        ({"checks": [*passing_checks(), passing_checks()[0]]}, "checks"),
        (
            {"checks": [*passing_checks(), CheckSummary("CUSTOMS_HOLD", True, "")]},
            "checks",
        ),
        (
            {
                "checks": [
                    *passing_checks()[:3],
                    CheckSummary(CHECK_TYPES[3], False, ""),
                ]
            },
            "checks",
        ),
    ],
)
def test_claims_that_break_an_issuance_rule_are_refused_naming_the_field(
    overrides: dict[str, object], field: str
) -> None:
    with pytest.raises(CertificationRuleError) as raised:
        make_claims(**overrides)

    assert raised.value.field == field


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda claims: claims.pop("request_id"), "claims.request_id"),
        (lambda claims: claims.update(extra="x"), "claims.extra"),
        (lambda claims: claims.update(issued_at="yesterday"), "claims.issued_at"),
        (lambda claims: claims.update(request_id="42"), "claims.request_id"),
        (lambda claims: claims.update(risk_score=True), "claims.risk_score"),
        (lambda claims: claims.update(checks=["COMPLIANCE_CHECK"]), "claims.checks"),
    ],
)
def test_malformed_claims_are_refused_naming_the_claim(
    change: Callable[[dict[str, object]], object], field: str
) -> None:
    claims: dict[str, object] = dict(make_claims().to_json_object())
    change(claims)

    with pytest.raises(CertificationRuleError) as raised:
        CertificationClaims.from_json_object(claims)

    assert raised.value.field == field


def test_certification_carries_the_claims_it_was_built_from() -> None:
    claims = make_claims()

    certification = make_certification(claims)

    assert certification.signed_claims() == claims
    assert certification.status is CertificationStatus.ACTIVE


def test_certification_whose_checks_differ_from_its_claims_is_refused() -> None:
    other_checks = [*passing_checks()[:3], CheckSummary(CHECK_TYPES[3], False, "")]

    with pytest.raises(CertificationRuleError) as raised:
        new_certification(
            make_claims(),
            checks=other_checks,
            issuing_officer="Anna de Vries",
            signature_algorithm="EdDSA",
            digital_signature="header.payload.signature",
            pdf_uri="",
        )

    assert raised.value.field == "checks"


def test_active_certification_reads_expired_from_its_expiry_on() -> None:
    certification = make_certification(make_claims())
    expiry = certification.expires_at

    before = certification.status_at(expiry - timedelta(seconds=1))
    at = certification.status_at(expiry)

    assert before is CertificationStatus.ACTIVE
    assert at is CertificationStatus.EXPIRED


def test_revocation_records_reason_officer_and_time() -> None:
    certification = make_certification(make_claims())

    revoked = revoke_certification(
        certification,
        reason="seal broken",
        revoked_by="officer-1",
        revoked_at=ISSUED_AT,
    )

    assert revoked.status is CertificationStatus.REVOKED
    assert revoked.revocation is not None
    assert (revoked.revocation.reason, revoked.revocation.revoked_by) == (
        "seal broken",
        "officer-1",
    )
    assert revoked.status_at(revoked.expires_at) is CertificationStatus.REVOKED


def test_revoking_twice_is_refused() -> None:
    revoked = revoke_certification(
        make_certification(make_claims()),
        reason="seal broken",
        revoked_by="officer-1",
        revoked_at=ISSUED_AT,
    )

    with pytest.raises(CertificationAlreadyRevoked):
        revoke_certification(
            revoked, reason="again", revoked_by="officer-1", revoked_at=ISSUED_AT
        )


@pytest.mark.parametrize("reason", ["", "   ", "x" * 1001])
def test_revocation_reason_must_have_1_to_1000_characters(reason: str) -> None:
    certification = make_certification(make_claims())

    with pytest.raises(CertificationRuleError) as raised:
        revoke_certification(
            certification, reason=reason, revoked_by="officer-1", revoked_at=ISSUED_AT
        )

    assert raised.value.field == "reason"
