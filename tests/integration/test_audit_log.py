"""The audit log is append-only, chained in commit order, and exportable."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest

from portcert_runtime.audit import (
    Actor,
    AuditLog,
    AuditQuery,
    EventType,
    Outcome,
    seal_pending,
    search,
    verify_chain,
)
from portcert_runtime.audit_export import export_day
from portcert_runtime.blobs import LocalBlobStore
from portcert_runtime.database import Database, migrate

SERVER = "postgresql://postgres@127.0.0.1:5432"


@pytest.fixture
async def database() -> AsyncIterator[Database]:
    name = f"portcert_audit_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(f"{SERVER}/postgres")
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        await migrate(f"{SERVER}/{name}")
        database = await Database.connect(f"{SERVER}/{name}", size=4)
        yield database
        await database.close()
    finally:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


async def _record_events(database: Database, count: int) -> None:
    audit = AuditLog("test")
    for index in range(count):
        await audit.record(
            database.writer,
            EventType.CERTIFICATION_RETRIEVED,
            Actor(f"user-{index % 2}", "VIEWER"),
            Outcome.SUCCESS,
            container_id="CSQU3054383",
            details={"index": str(index)},
        )


async def test_sealed_entries_form_an_intact_chain(database: Database) -> None:
    await _record_events(database, 5)

    sealed = await seal_pending(database.writer)
    report = await verify_chain(database.writer)

    assert sealed == 5
    assert report.intact
    assert report.entries_checked == 5


async def test_changing_or_deleting_an_entry_is_refused(database: Database) -> None:
    await _record_events(database, 2)
    await seal_pending(database.writer)

    with pytest.raises(asyncpg.RaiseError, match="cannot be changed"):
        await database.writer.execute(
            "UPDATE audit_logs SET actor_id = 'someone-else' WHERE sequence = 1"
        )
    with pytest.raises(asyncpg.RaiseError, match="append-only"):
        await database.writer.execute("DELETE FROM audit_logs WHERE sequence = 1")


async def test_tampering_behind_the_trigger_breaks_the_chain_at_that_entry(
    database: Database,
) -> None:
    await _record_events(database, 4)
    await seal_pending(database.writer)

    async with database.transaction() as connection:
        await connection.execute(
            "ALTER TABLE audit_logs DISABLE TRIGGER audit_logs_append_only"
        )
        await connection.execute(
            "UPDATE audit_logs SET actor_id = 'forged' WHERE sequence = 3"
        )
        await connection.execute(
            "ALTER TABLE audit_logs ENABLE TRIGGER audit_logs_append_only"
        )
    report = await verify_chain(database.writer)

    assert not report.intact
    assert report.first_broken_sequence == 3
    assert report.entries_checked == 2


async def test_search_pages_through_entries_filtered_by_user(
    database: Database,
) -> None:
    await _record_events(database, 7)

    first, token = await search(
        database.reader, AuditQuery(actor_id="user-0", page_size=3)
    )
    second, last_token = await search(
        database.reader, AuditQuery(actor_id="user-0", page_size=3, page_token=token)
    )

    assert [e.details["index"] for e in first] == ["0", "2", "4"]
    assert [e.details["index"] for e in second] == ["6"]
    assert token != ""
    assert last_token == ""


async def test_export_writes_the_days_sealed_entries_as_json_lines(
    database: Database, tmp_path: Path
) -> None:
    await _record_events(database, 3)
    await seal_pending(database.writer)
    blobs = LocalBlobStore(tmp_path)
    today = datetime.now(UTC).date()

    result = await export_day(database.writer, blobs, today)

    lines = (tmp_path / result.key).read_text().splitlines()
    assert result.key == f"audit-exports/{today:%Y/%m/%d}/audit-1-3.jsonl"
    assert [json.loads(line)["sequence"] for line in lines] == [1, 2, 3]
    assert all(len(json.loads(line)["entry_hash"]) == 64 for line in lines)
