"""SQL for verification requests, their check results and their status."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from verifier.model import Status


@dataclass(frozen=True)
class StoredRequest:
    """A request row as the worker and the status RPCs need it."""

    request_id: uuid.UUID
    container_id: str
    submitted_by: str
    submitted_at: datetime
    updated_at: datetime
    status: Status
    priority: str
    submission: dict[str, Any]
    result: dict[str, Any] | None
    certification_id: uuid.UUID | None
    error_message: str | None


def _stored(row: asyncpg.Record) -> StoredRequest:
    return StoredRequest(
        request_id=row["request_id"],
        container_id=row["container_id"],
        submitted_by=row["submitted_by"],
        submitted_at=row["submitted_at"],
        updated_at=row["updated_at"],
        status=Status(row["status"]),
        priority=row["priority"],
        submission={
            "container_id": row["container_id"],
            "priority": row["priority"],
            "documents": row["documentation"],
            "manifest": row["manifest"],
        },
        result=row["result"],
        certification_id=row["certification_id"],
        error_message=row["error_message"],
    )


@dataclass(frozen=True)
class RequestState:
    """Where a request stands: what status lookups and streams send."""

    request_id: uuid.UUID
    container_id: str
    status: Status
    submitted_at: datetime
    updated_at: datetime
    result: dict[str, Any] | None
    certification_id: uuid.UUID | None
    error_message: str | None


async def load_state(
    connection: asyncpg.Connection | asyncpg.Pool, request_id: uuid.UUID
) -> RequestState | None:
    """The state of ``request_id``, without its documents and manifest.

    Status lookups and streams read this often; leaving out the submission's
    JSON spares decoding it each time.
    """
    row = await connection.fetchrow(
        """
        SELECT request_id, container_id, status, submitted_at, updated_at, result,
               certification_id, error_message
        FROM verification_requests WHERE request_id = $1
        """,
        request_id,
    )
    if row is None:
        return None
    return RequestState(**{**dict(row), "status": Status(row["status"])})


@dataclass(frozen=True)
class NewRequest:
    """A validated submission ready to be stored."""

    request_id: uuid.UUID
    submitted_by: str
    submitted_at: datetime
    submission_json: Mapping[str, Any]
    idempotency_key: str | None
    payload_digest: str


async def insert_request(
    connection: asyncpg.Connection, new: NewRequest
) -> tuple[uuid.UUID, str] | None:
    """Insert ``new``; on an idempotency-key clash return the existing id and digest.

    Returns None when the row was inserted.
    """
    submission = new.submission_json
    inserted = await connection.fetchval(
        """
        INSERT INTO verification_requests (request_id, container_id, submitted_by,
            submitted_at, status, priority, documentation, manifest,
            idempotency_key, payload_digest)
        VALUES ($1, $2, $3, $4, 'PENDING', $5, $6, $7, $8, $9)
        ON CONFLICT (submitted_by, idempotency_key) DO NOTHING
        RETURNING request_id
        """,
        new.request_id,
        submission["container_id"],
        new.submitted_by,
        new.submitted_at,
        submission["priority"],
        submission["documents"],
        submission["manifest"],
        new.idempotency_key,
        new.payload_digest,
    )
    if inserted is not None:
        return None
    row = await connection.fetchrow(
        "SELECT request_id, payload_digest FROM verification_requests"
        " WHERE submitted_by = $1 AND idempotency_key = $2",
        new.submitted_by,
        new.idempotency_key,
    )
    # The conflicting row exists: ON CONFLICT waited for its transaction.
    assert row is not None
    return row["request_id"], row["payload_digest"]


async def find_by_idempotency_key(
    pool: asyncpg.Pool, submitted_by: str, key: str
) -> tuple[uuid.UUID, str, datetime, Status] | None:
    """The request a caller already made with ``key``, if any."""
    row = await pool.fetchrow(
        "SELECT request_id, payload_digest, submitted_at, status"
        " FROM verification_requests WHERE submitted_by = $1 AND idempotency_key = $2",
        submitted_by,
        key,
    )
    if row is None:
        return None
    return (
        row["request_id"],
        row["payload_digest"],
        row["submitted_at"],
        Status(row["status"]),
    )


async def load_request(
    connection: asyncpg.Connection | asyncpg.Pool,
    request_id: uuid.UUID,
    *,
    for_update: bool = False,
) -> StoredRequest | None:
    """The request with ``request_id``, locked for update when asked."""
    lock = " FOR UPDATE" if for_update else ""
    row = await connection.fetchrow(
        f"SELECT * FROM verification_requests WHERE request_id = $1{lock}", request_id
    )
    return _stored(row) if row else None


async def set_in_progress(
    connection: asyncpg.Connection, request_id: uuid.UUID
) -> None:
    """Move a PENDING request to IN_PROGRESS."""
    await connection.execute(
        "UPDATE verification_requests SET status = 'IN_PROGRESS', updated_at = now()"
        " WHERE request_id = $1 AND status = 'PENDING'",
        request_id,
    )


async def finish(
    connection: asyncpg.Connection,
    request_id: uuid.UUID,
    status: Status,
    result: Mapping[str, Any],
    certification_id: uuid.UUID | None,
) -> bool:
    """Record the final outcome unless one is already recorded.

    Returns whether this call recorded it.
    """
    updated = await connection.fetchval(
        """
        UPDATE verification_requests
        SET status = $2, result = $3, certification_id = $4, updated_at = now()
        WHERE request_id = $1 AND status IN ('PENDING', 'IN_PROGRESS')
        RETURNING request_id
        """,
        request_id,
        status.value,
        result,
        certification_id,
    )
    return updated is not None


async def record_checks(
    connection: asyncpg.Connection,
    request_id: uuid.UUID,
    checks: list[Mapping[str, Any]],
) -> None:
    """Store one row per check result."""
    await connection.executemany(
        """
        INSERT INTO verification_checks (request_id, check_type, passed, details,
            findings, checked_at)
        VALUES ($1, $2, $3, $4, $5, $6)
        ON CONFLICT (request_id, check_type) DO NOTHING
        """,
        [
            (
                request_id,
                check["check_type"],
                not check["findings"],
                check["details"],
                check["findings"],
                datetime.fromisoformat(check["checked_at"]),
            )
            for check in checks
        ],
    )


async def set_error(
    connection: asyncpg.Connection | asyncpg.Pool, request_id: uuid.UUID, message: str
) -> bool:
    """Move a request that could not be processed to ERROR; returns whether it did."""
    updated = await connection.fetchval(
        """
        UPDATE verification_requests
        SET status = 'ERROR', error_message = $2, updated_at = now()
        WHERE request_id = $1 AND status IN ('PENDING', 'IN_PROGRESS')
        RETURNING request_id
        """,
        request_id,
        message,
    )
    return updated is not None
