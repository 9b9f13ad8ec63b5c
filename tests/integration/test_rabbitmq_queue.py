"""The RabbitMQ job queue and its outbox, against the real broker and PostgreSQL.

Each test gets a vhost of its own (made with ``rabbitmqctl``) and a database of
its own, migrated as in production, with two extra tables in which handlers
record what they did: ``test_deliveries`` (every call) and ``test_effects``
(the idempotent effect, once per request).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import os
import random
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

import aio_pika
import asyncpg
import pytest

from portcert_runtime.database import Database, migrate
from portcert_runtime.queue import PostgresJobQueue, VerificationJob
from portcert_runtime.rabbitmq import (
    DEAD_LETTER_QUEUE,
    EXPEDITED_QUEUE,
    STANDARD_QUEUE,
    RabbitJobQueue,
)
from verifier import store

from .tcp_proxy import TcpProxy

ROOT = Path(__file__).resolve().parents[2]
ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
BROKER_HOST, BROKER_PORT = "127.0.0.1", 5672
TEST_TABLES = """
    CREATE TABLE test_deliveries (
        request_id uuid NOT NULL,
        pid integer NOT NULL,
        delivered_at timestamptz NOT NULL DEFAULT clock_timestamp()
    );
    CREATE TABLE test_effects (request_id uuid PRIMARY KEY);
"""
RECORD_DELIVERY = "INSERT INTO test_deliveries (request_id, pid) VALUES ($1, $2)"
RECORD_EFFECT = "INSERT INTO test_effects VALUES ($1) ON CONFLICT DO NOTHING"
Service = Callable[[asyncio.Event], Coroutine[Any, Any, None]]


@pytest.fixture
def amqp_url(vhost: str) -> str:
    return f"amqp://guest:guest@{BROKER_HOST}:{BROKER_PORT}/{vhost}"


@pytest.fixture
async def database_url() -> AsyncIterator[str]:
    name = f"portcert_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = f"postgresql://postgres@127.0.0.1:5432/{name}"
    await migrate(url)
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(TEST_TABLES)
    finally:
        await connection.close()
    yield url
    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    opened = await Database.connect(database_url, size=20)
    yield opened
    await opened.close()


@pytest.fixture
def queue(amqp_url: str, database_url: str) -> RabbitJobQueue:
    return RabbitJobQueue(amqp_url, database_url)


class Jobs:
    """A job handler that records each call and its effect, and can be made to fail."""

    def __init__(self, database: Database, *, fail: bool = False) -> None:
        self.database = database
        self.fail = fail
        self.calls: list[tuple[float, VerificationJob]] = []
        self.exhausted: list[tuple[VerificationJob, BaseException]] = []
        self._changed = asyncio.Event()

    async def handle(self, job: VerificationJob) -> None:
        self.calls.append((time.monotonic(), job))
        self._changed.set()
        if self.fail:
            raise RuntimeError(f"checks unavailable for {job.request_id}")
        async with self.database.transaction() as connection:
            await connection.execute(RECORD_DELIVERY, job.request_id, os.getpid())
            await connection.execute(RECORD_EFFECT, job.request_id)

    async def give_up(self, job: VerificationJob, error: BaseException) -> None:
        self.exhausted.append((job, error))
        self._changed.set()
        await store.set_error(self.database.writer, job.request_id, f"gave up: {error}")

    async def wait_until(self, condition: Callable[[], bool], seconds: float) -> None:
        async with asyncio.timeout(seconds):
            while not condition():
                self._changed.clear()
                await self._changed.wait()


def consumer(queue: RabbitJobQueue | PostgresJobQueue, jobs: Jobs, n: int) -> Service:
    return functools.partial(queue.consume, jobs.handle, jobs.give_up, n)


@contextlib.asynccontextmanager
async def running(*services: Service) -> AsyncIterator[None]:
    stop = asyncio.Event()
    tasks = [asyncio.create_task(service(stop)) for service in services]
    try:
        yield
    finally:
        stop.set()
        await asyncio.gather(*tasks)


async def enqueue(
    queue: RabbitJobQueue | PostgresJobQueue, database: Database, *jobs: VerificationJob
) -> None:
    async with database.transaction() as connection:
        for job in jobs:
            await queue.enqueue(connection, job)


async def eventually(check: Callable[[], Awaitable[bool]], seconds: float) -> None:
    async with asyncio.timeout(seconds):
        while True:
            if await check():
                return
            await asyncio.sleep(0.05)


async def published(database: Database, count: int) -> None:
    async def check() -> bool:
        done = await database.writer.fetchval(
            "SELECT count(*) FROM outbox WHERE published_at IS NOT NULL"
        )
        return bool(done >= count)

    await eventually(check, 30)


async def depths(amqp_url: str) -> dict[str, int]:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        counts = {}
        for name in (STANDARD_QUEUE, EXPEDITED_QUEUE, DEAD_LETTER_QUEUE):
            declared = await channel.declare_queue(name, passive=True)
            assert declared.declaration_result.message_count is not None
            counts[name] = declared.declaration_result.message_count
        return counts


EMPTY = {STANDARD_QUEUE: 0, EXPEDITED_QUEUE: 0, DEAD_LETTER_QUEUE: 0}


async def consumer_counts(amqp_url: str) -> dict[str, int]:
    """How many consumers the broker sees on each work queue."""
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        counts = {}
        for name in (STANDARD_QUEUE, EXPEDITED_QUEUE):
            declared = await channel.declare_queue(name, passive=True)
            assert declared.declaration_result.consumer_count is not None
            counts[name] = declared.declaration_result.consumer_count
        return counts


async def seconds_until_consumers_return(amqp_url: str, deadline: float) -> float:
    """Seconds until every work queue has a consumer again, at most ``deadline``."""
    started = time.monotonic()
    while min((await consumer_counts(amqp_url)).values()) == 0:
        assert time.monotonic() - started < deadline, "consumers did not come back"
        await asyncio.sleep(0.2)
    return time.monotonic() - started


@contextlib.asynccontextmanager
async def process(
    mode: str, *arguments: str
) -> AsyncIterator[asyncio.subprocess.Process]:
    started = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.integration.rabbitmq_processes",
        mode,
        *arguments,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": f"{ROOT / 'gen'}:{ROOT}"},
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        yield started
    finally:
        if started.returncode is None:
            started.kill()
            await started.wait()


async def kill_when(started: asyncio.subprocess.Process, announcement: str) -> None:
    assert started.stdout is not None
    async with asyncio.timeout(30):
        line = await started.stdout.readline()
    assert line.decode().strip() == announcement
    started.send_signal(signal.SIGKILL)
    assert await started.wait() == -signal.SIGKILL


async def portcert(database_url: str, amqp_url: str | None, *args: str) -> str:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PORTCERT_")}
    environment |= {
        "PYTHONPATH": f"{ROOT / 'gen'}:{ROOT}",
        "PORTCERT_DATABASE_URL": database_url,
        "XDG_RUNTIME_DIR": str(ROOT / "var" / "run"),
    }
    if amqp_url is not None:
        environment |= {
            "PORTCERT_QUEUE_BACKEND": "rabbitmq",
            "PORTCERT_RABBITMQ_URL": amqp_url,
        }
    command = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "portcert_cli.main",
        *args,
        cwd=ROOT,
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await command.communicate()
    assert command.returncode == 0, output.decode()
    return output.decode()


async def stored_request(database: Database, priority: str) -> uuid.UUID:
    request_id = uuid.uuid4()
    await database.writer.execute(
        """
        INSERT INTO verification_requests (request_id, container_id, submitted_by,
            submitted_at, status, priority, documentation, manifest, payload_digest)
        VALUES ($1, 'MSCU1234566', 'operator-1', now(), 'PENDING', $2,
            '{}'::jsonb, '{}'::jsonb, repeat('0', 64))
        """,
        request_id,
        priority,
    )
    return request_id


class _RolledBack(Exception):
    pass


async def test_job_reaches_a_worker_only_when_its_transaction_commits(
    queue: RabbitJobQueue, database: Database, amqp_url: str
) -> None:
    rolled_back = VerificationJob(uuid.uuid4(), "STANDARD")
    committed = VerificationJob(uuid.uuid4(), "STANDARD")
    jobs = Jobs(database)

    async with running(queue.run_relay, consumer(queue, jobs, 4)):
        with contextlib.suppress(_RolledBack):
            async with database.transaction() as connection:
                await queue.enqueue(connection, rolled_back)
                raise _RolledBack
        await enqueue(queue, database, committed)
        await jobs.wait_until(lambda: bool(jobs.calls), 30)
        await published(database, 1)

    assert [job for _, job in jobs.calls] == [committed]
    assert await database.writer.fetchval("SELECT count(*) FROM outbox") == 1
    assert await depths(amqp_url) == EMPTY


@pytest.mark.slow
async def test_job_committed_by_a_process_killed_before_relaying_is_handled_once(
    queue: RabbitJobQueue, database: Database, database_url: str, amqp_url: str
) -> None:
    request_id = uuid.uuid4()
    async with process("commit", database_url, amqp_url, str(request_id)) as child:
        await kill_when(child, "committed")
    jobs = Jobs(database)

    async with running(queue.run_relay, consumer(queue, jobs, 4)):
        await jobs.wait_until(lambda: bool(jobs.calls), 30)
        await published(database, 1)

    assert [job.request_id for _, job in jobs.calls] == [request_id]
    assert await database.writer.fetchval("SELECT count(*) FROM test_effects") == 1
    assert await depths(amqp_url) == EMPTY


@pytest.mark.slow
async def test_relay_killed_after_the_broker_confirmed_publishes_again(
    queue: RabbitJobQueue, database: Database, database_url: str, amqp_url: str
) -> None:
    job = VerificationJob(uuid.uuid4(), "STANDARD")
    await enqueue(queue, database, job)
    async with process("relay", database_url, amqp_url) as child:
        await kill_when(child, "confirmed")
    unpublished_after_kill = await database.writer.fetchval(
        "SELECT count(*) FROM outbox WHERE published_at IS NULL"
    )
    jobs = Jobs(database)

    async with running(queue.run_relay, consumer(queue, jobs, 1)):
        await jobs.wait_until(lambda: len(jobs.calls) >= 2, 30)
        await published(database, 1)

    assert unpublished_after_kill == 1
    assert [handled for _, handled in jobs.calls] == [job, job]
    assert await database.writer.fetchval("SELECT count(*) FROM test_effects") == 1
    assert await depths(amqp_url) == EMPTY


async def test_relay_reconnects_when_its_database_connections_are_killed(
    queue: RabbitJobQueue, database: Database
) -> None:
    first = VerificationJob(uuid.uuid4(), "STANDARD")
    second = VerificationJob(uuid.uuid4(), "STANDARD")
    jobs = Jobs(database)

    async with running(queue.run_relay, consumer(queue, jobs, 2)):
        await enqueue(queue, database, first)
        await jobs.wait_until(lambda: len(jobs.calls) == 1, 30)
        await published(database, 1)
        killed = await database.writer.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE application_name = 'portcert-outbox-relay'"
            # Only this test's relay: other runs may share the server.
            " AND datname = current_database()"
        )
        await enqueue(queue, database, second)
        await jobs.wait_until(lambda: len(jobs.calls) >= 2, 30)

    assert killed == 2
    assert [job for _, job in jobs.calls] == [first, second]


async def test_failing_job_is_retried_after_1_2_4_seconds_then_dead_lettered(
    queue: RabbitJobQueue, database: Database, amqp_url: str
) -> None:
    request_id = await stored_request(database, "STANDARD")
    job = VerificationJob(request_id, "STANDARD")
    jobs = Jobs(database, fail=True)
    await enqueue(queue, database, job)

    async with running(queue.run_relay, consumer(queue, jobs, 2)):
        await jobs.wait_until(lambda: bool(jobs.exhausted), 30)
    letters = await queue.dead_letters()

    moments = [moment for moment, _ in jobs.calls]
    delays = [later - earlier for earlier, later in itertools.pairwise(moments)]
    assert len(jobs.calls) == 4
    assert delays == sorted(delays)
    assert all(
        delay >= bound for delay, bound in zip(delays, (0.9, 1.8, 3.6), strict=True)
    )
    assert [(exhausted, str(error)) for exhausted, error in jobs.exhausted] == [
        (job, f"checks unavailable for {request_id}")
    ]
    assert [(letter.job, letter.retries) for letter in letters] == [(job, 3)]
    assert letters[0].reason == f"RuntimeError: checks unavailable for {request_id}"
    assert await depths(amqp_url) == {**EMPTY, DEAD_LETTER_QUEUE: 1}
    assert (
        await database.writer.fetchval(
            "SELECT status FROM verification_requests WHERE request_id = $1", request_id
        )
        == "ERROR"
    )


@pytest.mark.parametrize("concurrency", [1, 3])
async def test_waiting_expedited_jobs_are_handled_before_waiting_standard_ones(
    queue: RabbitJobQueue, database: Database, concurrency: int
) -> None:
    standard = [VerificationJob(uuid.uuid4(), "STANDARD") for _ in range(6)]
    expedited = [VerificationJob(uuid.uuid4(), "EXPEDITED") for _ in range(6)]
    await enqueue(queue, database, *standard, *expedited)
    async with running(queue.run_relay):
        await published(database, 12)
    jobs = Jobs(database)

    async with running(consumer(queue, jobs, concurrency)):
        await jobs.wait_until(lambda: len(jobs.calls) == 12, 30)

    assert [job.priority for _, job in jobs.calls] == ["EXPEDITED"] * 6 + [
        "STANDARD"
    ] * 6


@pytest.mark.slow
async def test_worker_killed_mid_job_leaves_it_to_be_redelivered_and_done_once(
    queue: RabbitJobQueue, database: Database, database_url: str, amqp_url: str
) -> None:
    job = VerificationJob(uuid.uuid4(), "EXPEDITED")
    await enqueue(queue, database, job)
    async with running(queue.run_relay):
        await published(database, 1)
    async with process("worker", database_url, amqp_url) as child:
        await kill_when(child, "handling")
        killed_pid = child.pid
    jobs = Jobs(database)

    async with running(consumer(queue, jobs, 2)):
        await jobs.wait_until(lambda: bool(jobs.calls), 30)

    deliveries = await database.writer.fetch(
        "SELECT pid FROM test_deliveries ORDER BY 1"
    )
    assert sorted(row["pid"] for row in deliveries) == sorted([killed_pid, os.getpid()])
    assert await database.writer.fetchval("SELECT count(*) FROM test_effects") == 1
    assert await depths(amqp_url) == EMPTY


@pytest.mark.slow
async def test_dlq_requeue_command_reopens_the_request_and_it_is_processed(
    queue: RabbitJobQueue, database: Database, database_url: str, amqp_url: str
) -> None:
    request_id = await stored_request(database, "EXPEDITED")
    job = VerificationJob(request_id, "EXPEDITED")
    await enqueue(queue, database, job)
    failing = Jobs(database, fail=True)
    async with running(queue.run_relay, consumer(queue, failing, 2)):
        await failing.wait_until(lambda: bool(failing.exhausted), 30)
    cli = functools.partial(portcert, database_url, amqp_url, "dlq")
    listed = await cli("list")
    shown = await cli("show", str(request_id))
    jobs = Jobs(database)

    requeued = await cli("requeue", str(request_id))
    status_after_requeue = await database.writer.fetchval(
        "SELECT status FROM verification_requests WHERE request_id = $1", request_id
    )
    async with running(consumer(queue, jobs, 2)):
        await jobs.wait_until(lambda: bool(jobs.calls), 30)

    assert str(request_id) in listed
    assert "RuntimeError: checks unavailable" in listed
    assert "retries:    3" in shown
    assert requeued.splitlines()[-1] == "1 dead letter(s) requeued"
    assert status_after_requeue == "PENDING"
    assert [handled for _, handled in jobs.calls] == [job]
    assert await depths(amqp_url) == EMPTY
    assert (
        await database.writer.fetchval(
            "SELECT details->>'resubmitted_from' FROM audit_logs WHERE request_id = $1",
            request_id,
        )
        == "dead-letter queue"
    )


@pytest.mark.slow
async def test_dlq_requeue_command_on_the_postgres_queue_requeues_the_held_job(
    database: Database, database_url: str
) -> None:
    queue = PostgresJobQueue(database_url)
    request_id = await stored_request(database, "STANDARD")
    job = VerificationJob(request_id, "STANDARD")
    await enqueue(queue, database, job)
    failing = Jobs(database, fail=True)
    async with running(consumer(queue, failing, 2)):
        await failing.wait_until(lambda: bool(failing.exhausted), 30)
    cli = functools.partial(portcert, database_url, None, "dlq")
    listed = await cli("list")
    jobs = Jobs(database)

    requeued = await cli("requeue", "--all")
    async with running(consumer(queue, jobs, 2)):
        await jobs.wait_until(lambda: bool(jobs.calls), 30)

    assert str(request_id) in listed
    assert "RuntimeError" in listed
    assert requeued.splitlines()[-1] == "1 dead letter(s) requeued"
    assert [handled for _, handled in jobs.calls] == [job]
    assert "no dead letters" in await cli("list")


@pytest.mark.slow
@pytest.mark.timeout(240)
async def test_jobs_submitted_while_the_broker_is_away_are_all_handled_once(
    database: Database, database_url: str, vhost: str, amqp_url: str
) -> None:
    proxy = TcpProxy(BROKER_HOST, BROKER_PORT)
    await proxy.start()
    queue = RabbitJobQueue(
        f"amqp://guest:guest@127.0.0.1:{proxy.port}/{vhost}", database_url
    )
    submitted = [
        VerificationJob(uuid.uuid4(), random.choice(["STANDARD", "EXPEDITED"]))
        for _ in range(500)
    ]
    jobs = Jobs(database)
    not_connected_while_away = None

    async with running(queue.run_relay, consumer(queue, jobs, 16)):
        for job in submitted[:250]:
            await enqueue(queue, database, job)
        await proxy.cut()
        for job in submitted[250:]:
            await enqueue(queue, database, job)
        await asyncio.sleep(2)
        not_connected_while_away = not await queue.is_connected()
        consumers_while_away = await consumer_counts(amqp_url)
        proxy.restore()
        consumers_back_after = await seconds_until_consumers_return(amqp_url, 30)
        await jobs.wait_until(
            lambda: len({job for _, job in jobs.calls}) == len(submitted), 30
        )
        await published(database, len(submitted))
    await proxy.close()

    effects = await database.writer.fetch("SELECT request_id FROM test_effects")
    assert not_connected_while_away
    assert consumers_while_away == {STANDARD_QUEUE: 0, EXPEDITED_QUEUE: 0}
    assert consumers_back_after < 30
    assert {row["request_id"] for row in effects} == {
        job.request_id for job in submitted
    }
    assert jobs.exhausted == []
    assert await depths(amqp_url) == EMPTY
