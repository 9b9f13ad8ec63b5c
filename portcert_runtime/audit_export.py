"""Exporting a day of the audit log to the blob store.

Sealed entries of one UTC day become one JSON-lines object under
``audit-exports/{yyyy}/{mm}/{dd}/``, named by the sequence numbers it holds,
so an export can be repeated and checked against the chain later.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import asyncpg

from portcert_runtime.audit import AuditEntry, entry_from_row
from portcert_runtime.blobs import BlobStore


@dataclass(frozen=True)
class ExportResult:
    """Where an export went and what it holds."""

    key: str
    entries: int
    uri: str


def _line(entry: AuditEntry) -> str:
    return json.dumps(
        {
            "log_id": str(entry.log_id),
            "timestamp": entry.timestamp.astimezone(UTC).isoformat(),
            "event_type": entry.event_type.value,
            "actor_id": entry.actor_id,
            "actor_role": entry.actor_role,
            "outcome": entry.outcome.value,
            "service": entry.service,
            "container_id": entry.container_id,
            "request_id": str(entry.request_id) if entry.request_id else None,
            "certification_id": (
                str(entry.certification_id) if entry.certification_id else None
            ),
            "details": dict(entry.details),
            "sequence": entry.sequence,
            "entry_hash": entry.entry_hash,
        },
        sort_keys=True,
    )


async def export_day(pool: asyncpg.Pool, blobs: BlobStore, day: date) -> ExportResult:
    """Write the sealed entries of ``day`` (UTC) to the blob store.

    Returns:
        The object's key and URI, and how many entries it holds (0 writes
        nothing).
    """
    start = datetime.combine(day, time(), tzinfo=UTC)
    rows = await pool.fetch(
        'SELECT * FROM audit_logs WHERE "timestamp" >= $1 AND "timestamp" < $2'
        " AND sequence IS NOT NULL ORDER BY sequence",
        start,
        start + timedelta(days=1),
    )
    entries = [entry_from_row(row) for row in rows]
    folder = f"audit-exports/{day:%Y/%m/%d}"
    if not entries:
        return ExportResult(key=folder, entries=0, uri="")
    key = f"{folder}/audit-{entries[0].sequence}-{entries[-1].sequence}.jsonl"
    body = "".join(_line(entry) + "\n" for entry in entries).encode()
    uri = await blobs.put(key, body, "application/x-ndjson")
    return ExportResult(key=key, entries=len(entries), uri=uri)
