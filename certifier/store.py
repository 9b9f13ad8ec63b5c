"""SQL for certifications."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from certifier.model import Certification, CertificationStatus, CheckSummary, Revocation
from portcert_runtime.paging import decode_page_token, encode_page_token


@dataclass(frozen=True)
class StoredCertification:
    """A certification with the verification result it rests on (proto JSON)."""

    certification: Certification
    verification_result: Mapping[str, Any]


def _from_row(row: asyncpg.Record) -> StoredCertification:
    result = row["verification_result"]
    revocation = None
    if row["status"] == CertificationStatus.REVOKED.value:
        revocation = Revocation(
            row["revocation_reason"], row["revoked_by"], row["revoked_at"]
        )
    certification = Certification(
        certification_id=row["certification_id"],
        container_id=row["container_id"],
        request_id=row["request_id"],
        issued_at=row["issued_at"],
        expires_at=row["expires_at"],
        issued_by=row["issued_by"],
        issuing_officer=row["issuing_officer"],
        issuing_officer_id=row["issuing_officer_id"],
        checks=tuple(
            CheckSummary(
                check["checkType"].removeprefix("CHECK_TYPE_"),
                bool(check.get("passed", False)),
                check.get("details", ""),
            )
            for check in result.get("checks", [])
        ),
        risk_score=float(result.get("riskScore", 0.0)),
        status=CertificationStatus(row["status"]),
        signing_key_id=row["signing_key_id"],
        signature_algorithm=row["signature_algorithm"],
        digital_signature=row["digital_signature"],
        pdf_uri=row["pdf_uri"],
        revocation=revocation,
        metadata=row["metadata"],
    )
    return StoredCertification(certification, result)


async def insert(
    connection: asyncpg.Connection,
    certification: Certification,
    verification_result: Mapping[str, Any],
) -> bool:
    """Insert unless the request already has a certification; returns whether it did."""
    inserted = await connection.fetchval(
        """
        INSERT INTO certifications (certification_id, container_id, request_id,
            issued_at, expires_at, issued_by, issuing_officer, issuing_officer_id,
            verification_result, digital_signature, signature_algorithm,
            signing_key_id, pdf_uri, status, metadata)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
        ON CONFLICT (request_id) DO NOTHING
        RETURNING certification_id
        """,
        certification.certification_id,
        certification.container_id,
        certification.request_id,
        certification.issued_at,
        certification.expires_at,
        certification.issued_by,
        certification.issuing_officer,
        certification.issuing_officer_id,
        dict(verification_result),
        certification.digital_signature,
        certification.signature_algorithm,
        certification.signing_key_id,
        certification.pdf_uri,
        certification.status.value,
        certification.metadata,
    )
    return inserted is not None


async def get(
    connection: asyncpg.Connection | asyncpg.Pool,
    certification_id: uuid.UUID,
    *,
    for_update: bool = False,
) -> StoredCertification | None:
    """The certification with ``certification_id``."""
    lock = " FOR UPDATE" if for_update else ""
    row = await connection.fetchrow(
        f"SELECT * FROM certifications WHERE certification_id = $1{lock}",
        certification_id,
    )
    return _from_row(row) if row else None


async def get_by_request(
    connection: asyncpg.Connection | asyncpg.Pool, request_id: uuid.UUID
) -> StoredCertification | None:
    """The certification issued for ``request_id``, if any."""
    row = await connection.fetchrow(
        "SELECT * FROM certifications WHERE request_id = $1", request_id
    )
    return _from_row(row) if row else None


async def save_revocation(
    connection: asyncpg.Connection, certification: Certification
) -> None:
    """Persist a revocation made by the domain rules."""
    assert certification.revocation is not None
    await connection.execute(
        """
        UPDATE certifications
        SET status = 'REVOKED', revocation_reason = $2, revoked_by = $3,
            revoked_at = $4, updated_at = now()
        WHERE certification_id = $1
        """,
        certification.certification_id,
        certification.revocation.reason,
        certification.revocation.revoked_by,
        certification.revocation.revoked_at,
    )


async def list_for_container(
    pool: asyncpg.Pool, container_id: str, page_size: int, page_token: str
) -> tuple[Sequence[StoredCertification], str]:
    """A page of the container's certifications, newest first, and the next token."""
    after = decode_page_token(page_token)
    rows = await pool.fetch(
        """
        SELECT * FROM certifications
        WHERE container_id = $1
          AND ($2::timestamptz IS NULL
               OR (issued_at, certification_id) < ($2, $3::uuid))
        ORDER BY issued_at DESC, certification_id DESC
        LIMIT $4
        """,
        container_id,
        after[0] if after else None,
        after[1] if after else None,
        page_size + 1,
    )
    page = [_from_row(row) for row in rows[:page_size]]
    more = len(rows) > page_size
    return page, encode_page_token(
        page[-1].certification.issued_at, page[-1].certification.certification_id
    ) if more else ""


@dataclass(frozen=True)
class VerifiedRequest:
    """What the verifier recorded about a request, as far as issuing needs."""

    container_id: str
    status: str
    checks_recorded: int
    checks_passed: int

    @property
    def certifiable(self) -> bool:
        """All four checks are on record and passed, and nothing went wrong."""
        return (
            self.status in ("IN_PROGRESS", "PASSED")
            and self.checks_recorded == REQUIRED_CHECKS
            and self.checks_passed == REQUIRED_CHECKS
        )


REQUIRED_CHECKS = 4


async def verified_request(
    connection: asyncpg.Connection | asyncpg.Pool, request_id: uuid.UUID
) -> VerifiedRequest | None:
    """The recorded outcome of ``request_id``'s checks, or None if there is none."""
    row = await connection.fetchrow(
        """
        SELECT r.container_id, r.status,
               count(c.check_type) AS checks_recorded,
               count(c.check_type) FILTER (WHERE c.passed) AS checks_passed
        FROM verification_requests r
        LEFT JOIN verification_checks c ON c.request_id = r.request_id
        WHERE r.request_id = $1
        GROUP BY r.request_id
        """,
        request_id,
    )
    if row is None:
        return None
    return VerifiedRequest(
        row["container_id"], row["status"], row["checks_recorded"], row["checks_passed"]
    )
