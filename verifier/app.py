"""Assembling the verifier's two processes: the API server and the worker."""

from __future__ import annotations

import asyncio
import logging

import grpc

from portcert.certification.v1 import certification_service_pb2_grpc as cert_grpc
from portcert.verification.v1 import verification_service_pb2 as service_pb
from portcert.verification.v1 import verification_service_pb2_grpc as service_grpc
from portcert_runtime.audit import Actor, AuditLog, EventType
from portcert_runtime.bootstrap import (
    direct_database_url,
    open_database,
    open_job_queue,
    tls_material,
    token_verifier,
)
from portcert_runtime.database import Database
from portcert_runtime.hosting import ReadinessProbe, ServiceHost, database_probe
from portcert_runtime.pki import (
    TlsMaterial,
    grpc_channel_credentials,
    grpc_server_credentials,
)
from portcert_runtime.queue import JobQueue
from portcert_runtime.rabbitmq import RabbitJobQueue
from portcert_runtime.rate_limits import SubmissionRateLimiter
from portcert_runtime.rpc import ServiceInterceptor
from portcert_runtime.settings import Settings
from verifier.reference import ReferenceData
from verifier.service import METHOD_POLICIES, VerificationService
from verifier.status_feed import StatusFeed
from verifier.worker import SERVICE_NAME as WORKER_NAME
from verifier.worker import VerificationWorker

logger = logging.getLogger(__name__)

SERVICE_NAME = "verifier"
_DRAIN_SECONDS = 10.0
# Only health answers on the worker's port; a probe in flight needs no more.
_WORKER_HEALTH_GRACE_SECONDS = 1.0


async def run_verifier(settings: Settings, stop: asyncio.Event) -> None:
    """Serve VerificationService until ``stop`` is set, then drain."""
    database = await open_database(settings)
    audit = AuditLog(SERVICE_NAME)
    feed = StatusFeed(direct_database_url(settings))
    feed_task = asyncio.create_task(feed.run(stop))
    queue = open_job_queue(settings, direct_database_url(settings))
    probes: list[ReadinessProbe] = [database_probe(database.writer)]
    # The relay outlives the drain, so that requests accepted while draining
    # still reach the broker.
    relay_stop = asyncio.Event()
    relay_task = None
    if isinstance(queue, RabbitJobQueue):
        relay_task = asyncio.create_task(queue.run_relay(relay_stop))
        probes.append(queue.is_connected)
    rate_limiter = SubmissionRateLimiter(
        settings.submissions_per_minute,
        settings.redis_url.get_secret_value() if settings.redis_url else None,
    )
    host = ServiceHost(
        SERVICE_NAME,
        interceptors=[
            ServiceInterceptor(
                METHOD_POLICIES, token_verifier(settings), audit, database.writer
            )
        ],
        readiness_probes=probes,
    )
    service_grpc.add_VerificationServiceServicer_to_server(
        VerificationService(
            database,
            queue,
            feed,
            audit,
            rate_limiter,
            stopping=stop,
        ),
        host.server,
    )
    host.expose(service_pb.DESCRIPTOR.services_by_name["VerificationService"].full_name)
    port = host.add_port(
        f"{settings.host}:{settings.verifier_port}",
        grpc_server_credentials(tls_material(settings, SERVICE_NAME)),
    )
    await host.start()
    await audit.record(
        database.writer, EventType.SERVICE_STARTED, Actor.system(SERVICE_NAME)
    )
    logger.info("verifier listening", extra={"address": f"{settings.host}:{port}"})
    await stop.wait()
    await host.drain_and_stop(_DRAIN_SECONDS)
    relay_stop.set()
    if relay_task is not None:
        await relay_task
    await audit.record(
        database.writer, EventType.SERVICE_STOPPED, Actor.system(SERVICE_NAME)
    )
    await feed_task
    await rate_limiter.close()
    await database.close()


async def run_worker(settings: Settings, stop: asyncio.Event) -> None:
    """Consume verification jobs until ``stop`` is set, serving gRPC health."""
    reference = await asyncio.to_thread(ReferenceData.load)
    database = await open_database(settings)
    audit = AuditLog(WORKER_NAME)
    tls = tls_material(settings, WORKER_NAME)
    channel = grpc.aio.secure_channel(
        settings.certifier_target, grpc_channel_credentials(tls)
    )
    worker = VerificationWorker(
        database,
        reference,
        cert_grpc.CertificationServiceStub(channel),
        audit,
    )
    queue = open_job_queue(settings, direct_database_url(settings))
    health = await _serve_worker_health(settings, tls, database, queue)
    await audit.record(
        database.writer, EventType.SERVICE_STARTED, Actor.system(WORKER_NAME)
    )
    logger.info("worker consuming", extra={"concurrency": settings.worker_concurrency})
    draining = asyncio.create_task(_report_draining_on(stop, health))
    try:
        await queue.consume(
            worker.handle, worker.give_up, settings.worker_concurrency, stop
        )
    finally:
        draining.cancel()
    await health.drain_and_stop(_WORKER_HEALTH_GRACE_SECONDS)
    await audit.record(
        database.writer, EventType.SERVICE_STOPPED, Actor.system(WORKER_NAME)
    )
    await channel.close()
    await database.close()


async def _serve_worker_health(
    settings: Settings, tls: TlsMaterial, database: Database, queue: JobQueue
) -> ServiceHost:
    """Start the worker's health server: it has no other gRPC service.

    Ready while the database answers and, on RabbitMQ, the consumer's broker
    connection is up; the PostgreSQL queue lives in that same database.
    """
    probes: list[ReadinessProbe] = [database_probe(database.writer)]
    if isinstance(queue, RabbitJobQueue):
        probes.append(queue.is_connected)
    host = ServiceHost(WORKER_NAME, readiness_probes=probes)
    port = host.add_port(
        f"{settings.host}:{settings.worker_health_port}",
        grpc_server_credentials(tls),
    )
    await host.start()
    logger.info("worker health listening", extra={"address": f"{settings.host}:{port}"})
    return host


async def _report_draining_on(stop: asyncio.Event, host: ServiceHost) -> None:
    # Jobs in flight still finish after stop; readiness drops at once.
    await stop.wait()
    await host.report_draining()
