"""Cancelled and timed-out calls under load give every pooled connection back.

A verifier runs in-process on a plaintext port (the interceptor path is the
production one; only transport security differs) over a pool of five
connections to a database of this test's own. Hundreds of submissions, status
lookups and status streams are fired at it, many with deadlines shorter than
the call takes and many cancelled by the client part-way, so handlers are
interrupted while they wait for, hold, or commit on a pooled connection.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import random
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import grpc
import pytest

from portcert.verification.v1 import verification_service_pb2 as service_pb
from portcert.verification.v1 import verification_service_pb2_grpc as service_grpc
from portcert_runtime.audit import AuditLog
from portcert_runtime.auth import Role
from portcert_runtime.bootstrap import development_issuer, token_verifier
from portcert_runtime.database import Database
from portcert_runtime.hosting import ServiceHost
from portcert_runtime.queue import ENTRYPOINT, PostgresJobQueue
from portcert_runtime.rate_limits import SubmissionRateLimiter
from portcert_runtime.rpc import ServiceInterceptor
from portcert_runtime.settings import load_settings
from verifier.service import METHOD_POLICIES, VerificationService
from verifier.status_feed import StatusFeed

from .inprocess_system import Metadata, load_example
from .postgres_processes import MACHINE_POSTGRES, scratch_database

POOL_SIZE = 5
SUBMISSIONS = 300
STATUS_LOOKUPS = 300
STATUS_STREAMS = 60
IN_FLIGHT = 40
SEED = 20261203
# Shares of calls: cut by the client part-way, or given a deadline that the
# call often cannot meet; the rest get a generous deadline. Under this load a
# submission takes about 0.2 s, so cuts land anywhere from waiting for a
# connection to committing.
CANCELLED_SHARE = 0.3
SHORT_DEADLINE_SHARE = 0.3
CUT_WITHIN_SECONDS = 0.3
RECOVERY_SECONDS = 10.0


@dataclass
class Verifier:
    url: str
    database: Database
    stub: service_grpc.VerificationServiceStub
    metadata: Metadata


@pytest.fixture
async def verifier(tmp_path: Path) -> AsyncIterator[Verifier]:
    async with scratch_database() as name:
        url = f"{MACHINE_POSTGRES}/{name}"
        settings = load_settings({"PORTCERT_DATA_DIR": str(tmp_path)})
        database = await Database.connect(url, size=POOL_SIZE)
        audit = AuditLog("verifier")
        stop = asyncio.Event()
        feed = StatusFeed(url)
        feed_task = asyncio.create_task(feed.run(stop))
        host = ServiceHost(
            "verifier",
            interceptors=[
                ServiceInterceptor(
                    METHOD_POLICIES, token_verifier(settings), audit, database.writer
                )
            ],
        )
        service = VerificationService(
            database,
            PostgresJobQueue(url),
            feed,
            audit,
            SubmissionRateLimiter(SUBMISSIONS * 10),
            stopping=stop,
        )
        service_grpc.add_VerificationServiceServicer_to_server(service, host.server)
        port = host.add_port("127.0.0.1:0", None)
        await host.start()
        token = development_issuer(settings).mint("load-test", [Role.OPERATOR])
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                yield Verifier(
                    url,
                    database,
                    service_grpc.VerificationServiceStub(channel),
                    (("authorization", f"Bearer {token}"),),
                )
        finally:
            stop.set()
            await host.drain_and_stop(5)
            await feed_task
            try:
                async with asyncio.timeout(RECOVERY_SECONDS):
                    await database.close()
            except TimeoutError:
                # A leaked connection never returns, and closing waits for it;
                # the test has reported the leak already.
                database.writer.terminate()


@dataclass
class Load:
    """Fires calls at the verifier and keeps what each one ended with."""

    verifier: Verifier
    rng: random.Random = field(default_factory=lambda: random.Random(SEED))
    accepted: dict[str, str] = field(default_factory=dict)
    endings: collections.Counter[str] = field(default_factory=collections.Counter)

    def _deadline(self) -> float:
        if self.rng.random() < SHORT_DEADLINE_SHARE:
            return self.rng.uniform(0.001, CUT_WITHIN_SECONDS)
        return 30.0

    async def _cut_early(self, call: grpc.aio.Call) -> bool:
        if self.rng.random() >= CANCELLED_SHARE:
            return False
        await asyncio.sleep(self.rng.uniform(0, CUT_WITHIN_SECONDS))
        return bool(call.cancel())

    async def submit(self, key: str) -> None:
        request = load_example("passing.json")
        request.idempotency_key = key
        call = self.verifier.stub.SubmitVerification(
            request, metadata=self.verifier.metadata, timeout=self._deadline()
        )
        if await self._cut_early(call):
            self.endings["CANCELLED"] += 1
            return
        try:
            response = await call
        except grpc.aio.AioRpcError as err:
            self.endings[err.code().name] += 1
            return
        self.accepted[key] = response.request_id
        self.endings["OK"] += 1

    async def look_up(self) -> None:
        known = list(self.accepted.values())
        request_id = self.rng.choice(known) if known else str(uuid.uuid4())
        call = self.verifier.stub.GetVerificationStatus(
            service_pb.GetVerificationStatusRequest(request_id=request_id),
            metadata=self.verifier.metadata,
            timeout=self._deadline(),
        )
        if await self._cut_early(call):
            self.endings["CANCELLED"] += 1
            return
        try:
            await call
        except grpc.aio.AioRpcError as err:
            self.endings[err.code().name] += 1
            return
        self.endings["OK"] += 1

    async def watch_briefly(self) -> None:
        known = list(self.accepted.values())
        request_id = self.rng.choice(known) if known else str(uuid.uuid4())
        call = self.verifier.stub.WatchVerificationStatus(
            service_pb.WatchVerificationStatusRequest(request_id=request_id),
            metadata=self.verifier.metadata,
            timeout=self.rng.uniform(0.01, 0.5),
        )
        try:
            async for _ in call:
                pass
        except grpc.aio.AioRpcError as err:
            self.endings[f"stream {err.code().name}"] += 1

    async def run(self) -> None:
        calls = [self.submit(f"load-{number}") for number in range(SUBMISSIONS)]
        calls += [self.look_up() for _ in range(STATUS_LOOKUPS)]
        calls += [self.watch_briefly() for _ in range(STATUS_STREAMS)]
        self.rng.shuffle(calls)
        slots = asyncio.Semaphore(IN_FLIGHT)

        async def limited(call: collections.abc.Awaitable[None]) -> None:
            async with slots:
                await call

        await asyncio.gather(*(limited(call) for call in calls))


async def _pool_settled(pool: asyncpg.Pool) -> None:
    async with asyncio.timeout(RECOVERY_SECONDS):
        while pool.get_idle_size() != pool.get_size():  # noqa: ASYNC110 - polls
            await asyncio.sleep(0.05)


async def _all_connections_usable(pool: asyncpg.Pool) -> list[int]:
    async with contextlib.AsyncExitStack() as held:
        connections = [
            await held.enter_async_context(pool.acquire(timeout=RECOVERY_SECONDS))
            for _ in range(POOL_SIZE)
        ]
        return [await connection.fetchval("SELECT 1") for connection in connections]


async def _stored(url: str) -> tuple[dict[str, str], list[str], list[str]]:
    """Stored requests by idempotency key, queued jobs, submission audit entries."""
    connection = await asyncpg.connect(url)
    try:
        requests = await connection.fetch(
            "SELECT idempotency_key, request_id FROM verification_requests"
        )
        jobs = await connection.fetch(
            "SELECT convert_from(payload, 'UTF8') AS payload FROM pgqueuer"
            " WHERE entrypoint = $1",
            ENTRYPOINT,
        )
        audited = await connection.fetch(
            "SELECT request_id FROM audit_logs"
            " WHERE event_type = 'VERIFICATION_REQUEST_SUBMITTED'"
        )
    finally:
        await connection.close()
    return (
        {row["idempotency_key"]: str(row["request_id"]) for row in requests},
        [row["payload"].partition(":")[0] for row in jobs],
        [str(row["request_id"]) for row in audited],
    )


async def _server_sessions(url: str) -> list[str]:
    """States of the pool's server sessions in the test database."""
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch(
            "SELECT state FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name = 'portcert'"
        )
    finally:
        await connection.close()
    return [row["state"] for row in rows]


async def test_cancelled_and_timed_out_calls_leave_the_pool_whole(
    verifier: Verifier,
) -> None:
    load = Load(verifier)
    pool = verifier.database.writer

    await load.run()
    await _pool_settled(pool)
    sessions = await _server_sessions(verifier.url)
    answers = await _all_connections_usable(pool)

    assert load.endings["OK"] > 0, load.endings
    assert load.endings["CANCELLED"] > 0, load.endings
    assert load.endings["DEADLINE_EXCEEDED"] > 0, load.endings
    assert pool.get_idle_size() == pool.get_size() <= POOL_SIZE
    assert answers == [1] * POOL_SIZE
    assert len(sessions) <= POOL_SIZE
    assert set(sessions) <= {"idle"}, sessions


async def test_every_accepted_submission_is_stored_and_queued_exactly_once(
    verifier: Verifier,
) -> None:
    load = Load(verifier)

    await load.run()
    await _pool_settled(verifier.database.writer)
    stored, jobs, audited = await _stored(verifier.url)

    assert load.accepted, load.endings
    assert {key: stored.get(key) for key in load.accepted} == load.accepted
    assert set(stored) <= {f"load-{number}" for number in range(SUBMISSIONS)}
    assert sorted(jobs) == sorted(stored.values())
    assert sorted(audited) == sorted(stored.values())
