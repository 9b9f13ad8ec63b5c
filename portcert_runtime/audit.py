"""The append-only, hash-chained audit log.

Writers insert entries inside the transaction of the change they record, so an
entry exists exactly when its change does. Entries are written unsealed; the
sealer then numbers committed entries consecutively and sets each one's hash
to SHA-256 over the previous hash and the entry's canonical JSON. Sealing
after commit keeps writers from queueing behind one global lock, and numbering
in the sealer (not at insert) leaves no gaps from rolled-back transactions.
"""

from __future__ import annotations

import asyncio
import enum
import hashlib
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import asyncpg
import rfc8785

from portcert_runtime.auth import Principal
from portcert_runtime.paging import decode_page_token, encode_page_token
from portcert_runtime.waiting import wait_for_event

logger = logging.getLogger(__name__)

GENESIS_HASH = "0" * 64
# Any constant works; it only has to be the same for every sealing process.
_SEALER_LOCK_ID = 0x61756474


class EventType(enum.Enum):
    """Audited event types of the seed design."""

    VERIFICATION_REQUEST_SUBMITTED = "VERIFICATION_REQUEST_SUBMITTED"
    VERIFICATION_IN_PROGRESS = "VERIFICATION_IN_PROGRESS"
    VERIFICATION_COMPLETED = "VERIFICATION_COMPLETED"
    VERIFICATION_FAILED = "VERIFICATION_FAILED"
    CERTIFICATION_ISSUED = "CERTIFICATION_ISSUED"
    CERTIFICATION_RETRIEVED = "CERTIFICATION_RETRIEVED"
    CERTIFICATION_REVOKED = "CERTIFICATION_REVOKED"
    CERTIFICATION_EXPIRED = "CERTIFICATION_EXPIRED"
    AUTHENTICATION_SUCCESS = "AUTHENTICATION_SUCCESS"
    AUTHENTICATION_FAILED = "AUTHENTICATION_FAILED"
    AUTHORIZATION_DENIED = "AUTHORIZATION_DENIED"
    UNAUTHORIZED_ACCESS_ATTEMPT = "UNAUTHORIZED_ACCESS_ATTEMPT"
    SERVICE_STARTED = "SERVICE_STARTED"
    SERVICE_STOPPED = "SERVICE_STOPPED"
    FAILOVER_INITIATED = "FAILOVER_INITIATED"
    FAILOVER_COMPLETED = "FAILOVER_COMPLETED"
    BACKUP_COMPLETED = "BACKUP_COMPLETED"
    SCALING_EVENT = "SCALING_EVENT"


class Outcome(enum.Enum):
    """How the audited action ended."""

    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    DENIED = "DENIED"


@dataclass(frozen=True)
class Actor:
    """Who acted: a user from a token, or a service."""

    actor_id: str
    role: str

    @classmethod
    def of(cls, principal: Principal) -> Actor:
        """The actor for an authenticated caller."""
        role = principal.primary_role
        return cls(principal.subject, role.value if role else "UNSPECIFIED")

    @classmethod
    def system(cls, service: str) -> Actor:
        """The actor for a service acting on its own account."""
        return cls(f"service:{service}", "UNSPECIFIED")


@dataclass(frozen=True)
class AuditEntry:
    """One audit log entry as stored."""

    log_id: uuid.UUID
    timestamp: datetime
    event_type: EventType
    actor_id: str
    actor_role: str
    outcome: Outcome
    service: str
    container_id: str | None = None
    request_id: uuid.UUID | None = None
    certification_id: uuid.UUID | None = None
    details: Mapping[str, str] = field(default_factory=dict)
    sequence: int | None = None
    entry_hash: str | None = None

    def canonical_bytes(self, sequence: int) -> bytes:
        """RFC 8785 JSON of the entry's content, the input of its hash."""
        return rfc8785.dumps(
            {
                "log_id": str(self.log_id),
                "timestamp": self.timestamp.astimezone(UTC).isoformat(),
                "event_type": self.event_type.value,
                "actor_id": self.actor_id,
                "actor_role": self.actor_role,
                "outcome": self.outcome.value,
                "service": self.service,
                "container_id": self.container_id or "",
                "request_id": str(self.request_id or ""),
                "certification_id": str(self.certification_id or ""),
                "details": dict(self.details),
                "sequence": sequence,
            }
        )


def chain_hash(previous_hash: str, entry: AuditEntry, sequence: int) -> str:
    """The hash of ``entry`` at ``sequence`` following ``previous_hash``."""
    digest = hashlib.sha256(previous_hash.encode())
    digest.update(entry.canonical_bytes(sequence))
    return digest.hexdigest()


_INSERT = """
INSERT INTO audit_logs (log_id, "timestamp", event_type, actor_id, actor_role,
    container_id, request_id, certification_id, outcome, details, service)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
"""


class AuditLog:
    """Writes audit entries for one service."""

    def __init__(self, service: str) -> None:
        """Create a writer that stamps entries with ``service``."""
        self.service = service

    async def record(
        self,
        connection: asyncpg.Connection | asyncpg.Pool,
        event_type: EventType,
        actor: Actor,
        outcome: Outcome = Outcome.SUCCESS,
        *,
        container_id: str | None = None,
        request_id: uuid.UUID | None = None,
        certification_id: uuid.UUID | None = None,
        details: Mapping[str, str] | None = None,
    ) -> None:
        """Insert an entry, in the caller's transaction when given a connection."""
        await connection.execute(
            _INSERT,
            uuid.uuid4(),
            datetime.now(UTC),
            event_type.value,
            actor.actor_id,
            actor.role,
            container_id,
            request_id,
            certification_id,
            outcome.value,
            dict(details or {}),
            self.service,
        )


def entry_from_row(row: asyncpg.Record) -> AuditEntry:
    """The entry stored in an ``audit_logs`` row."""
    return AuditEntry(
        log_id=row["log_id"],
        timestamp=row["timestamp"],
        event_type=EventType(row["event_type"]),
        actor_id=row["actor_id"],
        actor_role=row["actor_role"],
        outcome=Outcome(row["outcome"]),
        service=row["service"],
        container_id=row["container_id"],
        request_id=row["request_id"],
        certification_id=row["certification_id"],
        details=row["details"],
        sequence=row["sequence"],
        entry_hash=row["entry_hash"],
    )


async def seal_pending(pool: asyncpg.Pool, batch_size: int = 500) -> int:
    """Number and chain committed unsealed entries; return how many.

    Only one process seals at a time; the others return 0 at once.
    """
    async with pool.acquire() as connection, connection.transaction():
        if not await connection.fetchval(
            "SELECT pg_try_advisory_xact_lock($1)", _SEALER_LOCK_ID
        ):
            return 0
        head = await connection.fetchrow(
            "SELECT sequence, entry_hash FROM audit_logs"
            " WHERE sequence IS NOT NULL ORDER BY sequence DESC LIMIT 1"
        )
        sequence, previous = (
            (head["sequence"], head["entry_hash"]) if head else (0, GENESIS_HASH)
        )
        rows = await connection.fetch(
            "SELECT * FROM audit_logs WHERE sequence IS NULL"
            " ORDER BY created_at, log_id LIMIT $1",
            batch_size,
        )
        updates = []
        for row in rows:
            sequence += 1
            previous = chain_hash(previous, entry_from_row(row), sequence)
            updates.append((row["log_id"], sequence, previous))
        await connection.executemany(
            "UPDATE audit_logs SET sequence = $2, entry_hash = $3 WHERE log_id = $1",
            updates,
        )
        return len(updates)


async def run_sealer(
    pool: asyncpg.Pool, stop: asyncio.Event, interval: float = 0.2
) -> None:
    """Seal entries every ``interval`` seconds until ``stop`` is set."""
    while not stop.is_set():
        try:
            while await seal_pending(pool) > 0:
                pass
        except (asyncpg.PostgresError, OSError):
            logger.warning("audit sealing failed; will retry", exc_info=True)
        await wait_for_event(stop, interval)


@dataclass(frozen=True)
class ChainReport:
    """Result of walking the chain."""

    entries_checked: int
    first_broken_sequence: int | None

    @property
    def intact(self) -> bool:
        """Whether every sealed entry's hash matched."""
        return self.first_broken_sequence is None


async def verify_chain(pool: asyncpg.Pool, batch_size: int = 5000) -> ChainReport:
    """Recompute every sealed entry's hash in order and report the first mismatch."""
    previous, checked, last_sequence = GENESIS_HASH, 0, 0
    async with pool.acquire() as connection:
        while True:
            rows = await connection.fetch(
                "SELECT * FROM audit_logs WHERE sequence > $1"
                " ORDER BY sequence LIMIT $2",
                last_sequence,
                batch_size,
            )
            if not rows:
                return ChainReport(checked, None)
            for row in rows:
                entry = entry_from_row(row)
                expected_sequence = last_sequence + 1
                expected_hash = chain_hash(previous, entry, expected_sequence)
                if (
                    entry.sequence != expected_sequence
                    or entry.entry_hash != expected_hash
                ):
                    return ChainReport(checked, expected_sequence)
                previous, last_sequence, checked = (
                    expected_hash,
                    expected_sequence,
                    checked + 1,
                )


@dataclass(frozen=True)
class AuditQuery:
    """Filters of an audit search; all optional."""

    start: datetime | None = None
    end: datetime | None = None
    container_id: str | None = None
    actor_id: str | None = None
    page_size: int = 100
    page_token: str = ""


async def search(
    pool: asyncpg.Pool, query: AuditQuery
) -> tuple[Sequence[AuditEntry], str]:
    """Entries matching ``query``, oldest first, and the next page's token."""
    after = decode_page_token(query.page_token)
    rows = await pool.fetch(
        """
        SELECT * FROM audit_logs
        WHERE ($1::timestamptz IS NULL OR "timestamp" >= $1)
          AND ($2::timestamptz IS NULL OR "timestamp" < $2)
          AND ($3::text IS NULL OR container_id = $3)
          AND ($4::text IS NULL OR actor_id = $4)
          AND ($5::timestamptz IS NULL OR ("timestamp", log_id) > ($5, $6::uuid))
        ORDER BY "timestamp", log_id
        LIMIT $7
        """,
        query.start,
        query.end,
        query.container_id,
        query.actor_id,
        after[0] if after else None,
        after[1] if after else None,
        query.page_size + 1,
    )
    entries = [entry_from_row(row) for row in rows[: query.page_size]]
    has_more = len(rows) > query.page_size
    return entries, encode_page_token(
        entries[-1].timestamp, entries[-1].log_id
    ) if has_more else ""
