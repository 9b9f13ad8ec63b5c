"""RabbitJobQueue: the JobQueue port on RabbitMQ, fed by the outbox."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import aio_pika
import asyncpg
from aio_pika.abc import AbstractRobustConnection
from aio_pika.connection import make_url

from portcert_runtime.outbox import OutboxRelay, PublishJob, add_to_outbox
from portcert_runtime.queue import ExhaustedHandler, JobHandler, VerificationJob
from portcert_runtime.rabbitmq._consumer import (
    BROKER_ERRORS,
    PUBLISH_TIMEOUT_SECONDS,
    Dispatcher,
)
from portcert_runtime.rabbitmq._dead_letters import browse, requeue
from portcert_runtime.rabbitmq._messages import DeadLetter, job_message
from portcert_runtime.rabbitmq._topology import PRIORITIES, Topology, declare_topology

logger = logging.getLogger(__name__)

Reopen = Callable[[VerificationJob], Awaitable[None]]


class RabbitJobQueue:
    """Jobs go to the outbox with their request; a relay moves them to RabbitMQ.

    Each of :meth:`run_relay`, :meth:`consume` and the dead-letter operations
    opens its own robust connection (publishers and consumers should not share
    one, or flow control on publishing would stall consumption). Robust
    connections reconnect every ``reconnect_seconds`` and restore channels,
    topology and consumers; aio-pika retries at a fixed interval, not an
    exponential one.
    """

    def __init__(
        self,
        amqp_url: str,
        database_url: str,
        *,
        prefetch: int | None = None,
        reconnect_seconds: float = 1.0,
        connect_timeout: float | None = None,
    ) -> None:
        """Create for the broker at ``amqp_url`` and the outbox at ``database_url``.

        Args:
            amqp_url: ``amqp://`` or ``amqps://`` URL, with the vhost.
            database_url: PostgreSQL URL of the database holding the outbox.
            prefetch: Unacknowledged deliveries per work queue and consumer;
                defaults to the consumer's concurrency.
            reconnect_seconds: Pause between reconnection attempts.
            connect_timeout: Longest wait for the broker before raising
                TimeoutError; None waits until it comes (services do).
        """
        self._url = amqp_url
        self._database_url = database_url
        self._prefetch = prefetch
        self._reconnect_seconds = reconnect_seconds
        self._connect_timeout = connect_timeout
        self._connections: set[AbstractRobustConnection] = set()

    async def enqueue(
        self, connection: asyncpg.Connection, job: VerificationJob
    ) -> None:
        """Write ``job`` to the outbox in the caller's transaction; publish nothing."""
        await add_to_outbox(connection, job)

    async def run_relay(self, stop: asyncio.Event) -> None:
        """Relay committed outbox rows to the broker until ``stop`` is set.

        Waits for the broker when it is away at start; the readiness probe
        (:meth:`is_connected`) reports it meanwhile.
        """
        async with self._connected(stop) as connection:
            if connection is None:
                return
            publish = await self._publish_function(connection)
            logger.info("outbox relay started")
            await OutboxRelay(self._database_url, publish).run(stop)

    @contextlib.asynccontextmanager
    async def publisher(self) -> AsyncIterator[PublishJob]:
        """A function that publishes one job with confirms, on its own connection.

        Services enqueue instead; this serves relays and operator tools.
        """
        async with self._connected(None) as connection:
            assert connection is not None
            yield await self._publish_function(connection)

    async def consume(
        self,
        handle: JobHandler,
        on_exhausted: ExhaustedHandler,
        concurrency: int,
        stop: asyncio.Event,
    ) -> None:
        """Run ``handle`` for each job until ``stop`` is set, then drain.

        A delivery is acknowledged only after ``handle`` returned. When it
        raises, the message is re-published to the retry queue for its attempt
        (1, 2, then 4 seconds); after the third retry fails it goes to the
        dead-letter queue with the error in its headers and ``on_exhausted`` is
        called. Either re-publication is confirmed before the original is
        acknowledged.
        """
        async with self._connected(stop) as connection:
            if connection is None:
                return
            publishing = await _declared(connection, publisher_confirms=True)
            prefetch = self._prefetch or concurrency
            channel = await connection.channel()
            await channel.set_qos(prefetch_count=prefetch)
            consuming = await declare_topology(channel)
            dispatcher = Dispatcher(
                consuming, publishing, handle, on_exhausted, concurrency, prefetch
            )
            for priority in PRIORITIES:
                await consuming.work_queues[priority].consume(
                    dispatcher.receiver(priority)
                )
            logger.info(
                "consuming verification jobs", extra={"concurrency": concurrency}
            )
            await dispatcher.run(stop)

    async def is_connected(self) -> bool:
        """Whether every connection this queue opened is currently up.

        False before the first connection, so a service is not ready until its
        relay reached the broker. Async to serve directly as a readiness probe.
        """
        return bool(self._connections) and all(
            connection.connected.is_set() and not connection.is_closed
            for connection in self._connections
        )

    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """Up to ``limit`` messages of the dead-letter queue, oldest first.

        Browsing takes the messages and returns them unacknowledged, so they stay
        in the queue (a quorum queue counts that as one more delivery attempt).
        """
        async with self._connected(None) as connection:
            assert connection is not None
            await _declared(connection, publisher_confirms=False)
            return await browse(connection, limit)

    async def requeue_dead_letters(
        self, request_id: uuid.UUID | None, reopen: Reopen
    ) -> list[DeadLetter]:
        """Move dead messages back to their work queue, with their retries reset.

        Args:
            request_id: The request whose messages to move; None moves all.
            reopen: Called for each job before it is re-published, so the
                request can be made processable again; when it raises, that
                message stays in the dead-letter queue.

        Returns:
            The messages moved. Messages whose body cannot be read stay.
        """
        async with self._connected(None) as connection:
            assert connection is not None
            publishing = await _declared(connection, publisher_confirms=True)
            return await requeue(connection, publishing, request_id, reopen)

    @contextlib.asynccontextmanager
    async def _connected(
        self, stop: asyncio.Event | None
    ) -> AsyncIterator[AbstractRobustConnection | None]:
        # Built here rather than by connect_robust so that a connection still
        # waiting for the broker can be closed when stop comes first.
        connection = aio_pika.RobustConnection(
            make_url(self._url),
            reconnect_interval=self._reconnect_seconds,
            fail_fast=False,
        )
        self._connections.add(connection)
        try:
            async with asyncio.timeout(self._connect_timeout):
                connected = await _first_of(connection.connect(), stop)
            yield connection if connected else None
        finally:
            self._connections.discard(connection)
            with contextlib.suppress(*BROKER_ERRORS):
                await connection.close()

    async def _publish_function(
        self, connection: AbstractRobustConnection
    ) -> PublishJob:
        topology = await _declared(connection, publisher_confirms=True)

        async def publish(job: VerificationJob) -> None:
            await topology.exchange.publish(
                job_message(job),
                routing_key=job.priority,
                timeout=PUBLISH_TIMEOUT_SECONDS,
            )

        return publish


async def _declared(
    connection: AbstractRobustConnection, *, publisher_confirms: bool
) -> Topology:
    channel = await connection.channel(
        publisher_confirms=publisher_confirms, on_return_raises=publisher_confirms
    )
    return await declare_topology(channel)


async def _first_of(connecting: Awaitable[None], stop: asyncio.Event | None) -> bool:
    """Await ``connecting`` unless ``stop`` is set first; returns whether it ended."""
    if stop is None:
        await connecting
        return True
    task = asyncio.ensure_future(connecting)
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
    stopped.cancel()
    if not task.done():
        task.cancel()
        return False
    task.result()
    return True
