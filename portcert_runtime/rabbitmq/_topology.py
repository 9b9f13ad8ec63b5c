"""Exchanges and queues of the verification queue, declared durable and idempotent."""

from __future__ import annotations

import dataclasses

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractQueue

from portcert_runtime.queue import RETRY_DELAYS

EXCHANGE = "portcert.verification"
STANDARD_QUEUE = "verification.requests"
EXPEDITED_QUEUE = "verification.requests.expedited"
DEAD_LETTER_EXCHANGE = "portcert.verification.dead-letter"
DEAD_LETTER_QUEUE = "DLQ.verification.requests"
PRIORITIES = ("EXPEDITED", "STANDARD")

MESSAGE_TTL_MS = 24 * 60 * 60 * 1000
# A message whose handler keeps killing its worker is not redelivered forever.
DELIVERY_LIMIT = 10

_QUORUM = {
    "x-queue-type": "quorum",
    # Without these a quorum queue drops a message it cannot dead-letter.
    "x-dead-letter-strategy": "at-least-once",
    "x-overflow": "reject-publish",
}


def retry_exchange_name(retry: int) -> str:
    """The exchange that delays a message before its ``retry``-th retry (from 1)."""
    return f"{EXCHANGE}.retry.{RETRY_DELAYS[retry - 1]}s"


def retry_queue_name(retry: int) -> str:
    """The queue where a message waits out the delay before retry ``retry``."""
    return f"{STANDARD_QUEUE}.retry.{RETRY_DELAYS[retry - 1]}s"


@dataclasses.dataclass(frozen=True)
class Topology:
    """The declared entities, bound to the channel that declared them."""

    exchange: AbstractExchange
    retry_exchanges: tuple[AbstractExchange, ...]
    dead_letter_exchange: AbstractExchange
    work_queues: dict[str, AbstractQueue]
    dead_letter_queue: AbstractQueue


async def declare_topology(channel: AbstractChannel) -> Topology:
    """Declare every exchange, queue and binding; safe to repeat.

    The main exchange routes by priority to one quorum queue each. A failed
    message is republished to the retry exchange for its attempt; the retry
    queue behind it holds the message for its delay (a per-queue TTL) and then
    dead-letters it back to the main exchange under its original routing key,
    the priority. Work queues dead-letter expired (24 h) or over-delivered
    messages to the dead-letter queue.
    """
    exchange = await channel.declare_exchange(
        EXCHANGE, aio_pika.ExchangeType.DIRECT, durable=True
    )
    dead_letter_exchange = await channel.declare_exchange(
        DEAD_LETTER_EXCHANGE, aio_pika.ExchangeType.FANOUT, durable=True
    )
    dead_letter_queue = await channel.declare_queue(
        DEAD_LETTER_QUEUE, durable=True, arguments={"x-queue-type": "quorum"}
    )
    await dead_letter_queue.bind(dead_letter_exchange)
    work_queues = {}
    for priority, name in (
        ("STANDARD", STANDARD_QUEUE),
        ("EXPEDITED", EXPEDITED_QUEUE),
    ):
        queue = await channel.declare_queue(
            name,
            durable=True,
            arguments={
                **_QUORUM,
                "x-message-ttl": MESSAGE_TTL_MS,
                "x-delivery-limit": DELIVERY_LIMIT,
                "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE,
            },
        )
        await queue.bind(exchange, routing_key=priority)
        work_queues[priority] = queue
    retry_exchanges = []
    for retry, delay in enumerate(RETRY_DELAYS, start=1):
        retry_exchange = await channel.declare_exchange(
            retry_exchange_name(retry), aio_pika.ExchangeType.FANOUT, durable=True
        )
        retry_queue = await channel.declare_queue(
            retry_queue_name(retry),
            durable=True,
            arguments={
                **_QUORUM,
                "x-message-ttl": delay * 1000,
                "x-dead-letter-exchange": EXCHANGE,
            },
        )
        await retry_queue.bind(retry_exchange)
        retry_exchanges.append(retry_exchange)
    return Topology(
        exchange,
        tuple(retry_exchanges),
        dead_letter_exchange,
        work_queues,
        dead_letter_queue,
    )
