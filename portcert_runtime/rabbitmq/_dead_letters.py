"""Reading the dead-letter queue and moving its messages back to work."""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

from aio_pika.abc import AbstractQueue, AbstractRobustConnection

from portcert_runtime.queue import VerificationJob
from portcert_runtime.rabbitmq._consumer import PUBLISH_TIMEOUT_SECONDS
from portcert_runtime.rabbitmq._messages import (
    REQUEUES_HEADER,
    RETRIES_HEADER,
    DeadLetter,
    copy_message,
    dead_letter_of,
)
from portcert_runtime.rabbitmq._topology import DEAD_LETTER_QUEUE, Topology

logger = logging.getLogger(__name__)

# A requeue scans at most this many dead messages, all held unacknowledged
# until it ends.
SCAN_LIMIT = 10_000


async def browse(connection: AbstractRobustConnection, limit: int) -> list[DeadLetter]:
    """Up to ``limit`` dead messages, left in the queue."""
    letters = []
    async with _dead_letter_queue(connection) as queue:
        for _ in range(limit):
            message = await queue.get(no_ack=False, fail=False)
            if message is None:
                break
            letters.append(dead_letter_of(message))
    return letters


async def requeue(
    connection: AbstractRobustConnection,
    publishing: Topology,
    request_id: uuid.UUID | None,
    reopen: Callable[[VerificationJob], Awaitable[None]],
) -> list[DeadLetter]:
    """Re-publish the dead messages of ``request_id`` (all when None) for work."""
    moved = []
    async with _dead_letter_queue(connection) as queue:
        for _ in range(SCAN_LIMIT):
            message = await queue.get(no_ack=False, fail=False)
            if message is None:
                break
            letter = dead_letter_of(message)
            job = letter.job
            if job is None or (request_id is not None and job.request_id != request_id):
                continue
            await reopen(job)
            await publishing.exchange.publish(
                copy_message(
                    message, {RETRIES_HEADER: 0, REQUEUES_HEADER: letter.requeues + 1}
                ),
                routing_key=job.priority,
                timeout=PUBLISH_TIMEOUT_SECONDS,
            )
            # Acknowledged only once the copy is confirmed: a failure in between
            # leaves the message in both queues, never in neither.
            await message.ack()
            moved.append(letter)
            logger.info(
                "dead letter requeued",
                extra={"request": str(job.request_id), "priority": job.priority},
            )
    return moved


@contextlib.asynccontextmanager
async def _dead_letter_queue(
    connection: AbstractRobustConnection,
) -> AsyncIterator[AbstractQueue]:
    # Messages taken are held unacknowledged on this channel; closing it
    # returns to the queue every one that was not acknowledged.
    async with await connection.channel(publisher_confirms=False) as channel:
        yield await channel.get_queue(DEAD_LETTER_QUEUE)
