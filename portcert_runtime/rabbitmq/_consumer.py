"""Dispatching deliveries to the job handler: expedited first, retries, dead letters."""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Awaitable, Callable

from aio_pika.abc import AbstractIncomingMessage, AbstractQueue
from aio_pika.exceptions import AMQPError, ChannelInvalidStateError

from portcert_runtime.queue import (
    RETRY_DELAYS,
    ExhaustedHandler,
    JobHandler,
    VerificationJob,
)
from portcert_runtime.rabbitmq._messages import (
    RETRIES_HEADER,
    copy_message,
    failure_headers,
    job_of,
    retries_of,
)
from portcert_runtime.rabbitmq._topology import Topology

logger = logging.getLogger(__name__)

BROKER_ERRORS = (AMQPError, ChannelInvalidStateError, OSError, TimeoutError)
PUBLISH_TIMEOUT_SECONDS = 10.0
# How long a worker waits for a basic.get before taking a standard job anyway.
_FETCH_TIMEOUT_SECONDS = 2.0
_DELIVERY_HOPS = 3

Receiver = Callable[[AbstractIncomingMessage], Awaitable[None]]


class Dispatcher:
    """Runs up to ``concurrency`` handlers over the deliveries of both work queues.

    Deliveries land in one buffer per priority, and a free slot takes an
    expedited delivery when one is buffered. Before it takes a standard one, it
    asks the broker for an expedited message with ``basic.get`` whenever the
    broker may hold one back from us: after an expedited delivery was settled
    (the broker then pushes the next one, which may still be on its way) and
    while our expedited prefetch window is full. So a standard job does not
    start while an expedited one waits in the queue, and the extra round trip
    is only paid while expedited jobs flow.
    """

    def __init__(
        self,
        consuming: Topology,
        publishing: Topology,
        handle: JobHandler,
        on_exhausted: ExhaustedHandler,
        concurrency: int,
        prefetch: int,
    ) -> None:
        """Create over the queues consumed and the exchanges that re-publish."""
        self._expedited_queue: AbstractQueue = consuming.work_queues["EXPEDITED"]
        self._publishing = publishing
        self._handle = handle
        self._on_exhausted = on_exhausted
        self._prefetch = prefetch
        self._slots = asyncio.Semaphore(concurrency)
        # Expedited deliveries pushed to us and not yet settled, and whether
        # the broker was asked since one was settled.
        self._expedited_held = 0
        self._expedited_synced = False
        self._buffers: dict[str, collections.deque[AbstractIncomingMessage]] = {
            "EXPEDITED": collections.deque(),
            "STANDARD": collections.deque(),
        }
        self._arrived = asyncio.Event()
        self._running: set[asyncio.Task[None]] = set()

    def receiver(self, priority: str) -> Receiver:
        """The consumer callback for the work queue of ``priority``."""

        async def receive(message: AbstractIncomingMessage) -> None:
            if priority == "EXPEDITED":
                self._expedited_held += 1
            self._buffers[priority].append(message)
            self._arrived.set()

        return receive

    async def run(self, stop: asyncio.Event) -> None:
        """Dispatch until ``stop`` is set, then wait for running handlers."""
        waker = asyncio.create_task(_set_when(stop, self._arrived))
        try:
            while True:
                await self._slots.acquire()
                taken = await self._next(stop)
                if taken is None:
                    self._slots.release()
                    break
                task = asyncio.create_task(self._process(*taken))
                self._running.add(task)
                task.add_done_callback(self._finished)
        finally:
            waker.cancel()
            if self._running:
                await asyncio.wait(self._running)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._slots.release()

    async def _next(
        self, stop: asyncio.Event
    ) -> tuple[AbstractIncomingMessage, bool] | None:
        """The next delivery, and whether it was a pushed expedited one."""
        while not stop.is_set():
            self._arrived.clear()
            expedited = self._take("EXPEDITED")
            if expedited is not None:
                return expedited, True
            standard = self._take("STANDARD")
            if standard is not None:
                return await self._before(standard)
            await self._arrived.wait()
        return None

    async def _before(
        self, standard: AbstractIncomingMessage
    ) -> tuple[AbstractIncomingMessage, bool]:
        if self._expedited_synced and self._expedited_held < self._prefetch:
            return standard, False
        # Set before asking, so that a settlement while we wait unsets it.
        self._expedited_synced = True
        fetched = await self._fetch_expedited()
        if fetched is not None:
            self._buffers["STANDARD"].appendleft(standard)
            return fetched, False
        # The broker answers "empty" when its last ready message is already on
        # the way to our own consumer: that delivery arrived before the answer,
        # but aio-pika hands it to the receiver a few task steps later.
        for _ in range(_DELIVERY_HOPS):
            await asyncio.sleep(0)
        pushed = self._take("EXPEDITED")
        if pushed is not None:
            self._buffers["STANDARD"].appendleft(standard)
            return pushed, True
        return standard, False

    def _take(self, priority: str) -> AbstractIncomingMessage | None:
        buffer = self._buffers[priority]
        while buffer:
            message = buffer.popleft()
            if _channel_open(message):
                return message
            # After a reconnect the broker redelivers what the old channel held;
            # those copies cannot be acknowledged any more.
            if priority == "EXPEDITED":
                self._expedited_settled()
        return None

    async def _fetch_expedited(self) -> AbstractIncomingMessage | None:
        try:
            async with asyncio.timeout(_FETCH_TIMEOUT_SECONDS):
                return await self._expedited_queue.get(no_ack=False, fail=False)
        except BROKER_ERRORS:
            self._expedited_synced = False
            return None

    def _expedited_settled(self) -> None:
        self._expedited_held -= 1
        self._expedited_synced = False

    async def _process(self, message: AbstractIncomingMessage, pushed: bool) -> None:
        try:
            job = job_of(message)
        except ValueError as err:
            await self._settle(message, self._dead_letter(message, err))
            return
        try:
            await self._handle(job)
        except Exception as err:  # noqa: BLE001 - any handler failure is retried
            await self._settle(message, self._after_failure(message, job, err))
        else:
            await self._settle(message, None)
        finally:
            if pushed:
                self._expedited_settled()

    async def _after_failure(
        self, message: AbstractIncomingMessage, job: VerificationJob, error: Exception
    ) -> None:
        retries = retries_of(message)
        if retries < len(RETRY_DELAYS):
            logger.warning(
                "verification job failed; retrying",
                extra={
                    "request": str(job.request_id),
                    "retry": retries + 1,
                    "delay_seconds": RETRY_DELAYS[retries],
                    "error": f"{type(error).__name__}: {error}",
                },
            )
            await self._publishing.retry_exchanges[retries].publish(
                copy_message(message, {RETRIES_HEADER: retries + 1}),
                routing_key=job.priority,
                timeout=PUBLISH_TIMEOUT_SECONDS,
            )
            return
        await self._dead_letter(message, error)
        try:
            await self._on_exhausted(job, error)
        except Exception:
            # The message is safe in the dead-letter queue, where an operator
            # can requeue it; redelivering it would only dead-letter it twice.
            logger.exception(
                "recording an exhausted job failed",
                extra={"request": str(job.request_id)},
            )

    async def _dead_letter(
        self, message: AbstractIncomingMessage, error: BaseException
    ) -> None:
        await self._publishing.dead_letter_exchange.publish(
            copy_message(message, failure_headers(error)),
            routing_key="",
            timeout=PUBLISH_TIMEOUT_SECONDS,
        )

    async def _settle(
        self,
        message: AbstractIncomingMessage,
        republish: Awaitable[None] | None,
    ) -> None:
        # Re-publication comes first and is confirmed before the ack, so a
        # failure between the two duplicates a message rather than losing it.
        try:
            if republish is not None:
                await republish
            await message.ack()
        except BROKER_ERRORS as err:
            logger.warning(
                "delivery left unacknowledged; the broker will redeliver it",
                extra={"message_id": message.message_id, "error": repr(err)},
            )


def _channel_open(message: AbstractIncomingMessage) -> bool:
    try:
        message.channel  # noqa: B018 - the property raises once the channel closed
    except ChannelInvalidStateError:
        return False
    return True


async def _set_when(source: asyncio.Event, target: asyncio.Event) -> None:
    await source.wait()
    target.set()
