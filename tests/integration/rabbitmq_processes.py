"""Processes that the RabbitMQ queue tests start and then kill with SIGKILL.

Run as ``python -m tests.integration.rabbitmq_processes MODE DATABASE_URL
AMQP_URL [REQUEST_ID]``. Each mode writes one line to stdout once it reached
the point where the test kills it, then waits to be killed:

- ``commit``: commits a job to the outbox, as the verifier does on submit,
  and never relays it.
- ``relay``: relays the outbox, but stops for good right after the broker
  confirmed the first job, before the relay could mark it published.
- ``worker``: consumes, and stops for good inside the handler, after recording
  the delivery but before the job's effect.
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid

import asyncpg

from portcert_runtime.outbox import OutboxRelay
from portcert_runtime.queue import VerificationJob
from portcert_runtime.rabbitmq import RabbitJobQueue

RECORD_DELIVERY = "INSERT INTO test_deliveries (request_id, pid) VALUES ($1, $2)"


def _announce(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def _hang() -> None:
    await asyncio.Event().wait()


async def commit(queue: RabbitJobQueue, database_url: str, request_id: str) -> None:
    connection = await asyncpg.connect(database_url)
    async with connection.transaction():
        await queue.enqueue(
            connection, VerificationJob(uuid.UUID(request_id), "STANDARD")
        )
    _announce("committed")
    await _hang()


async def relay(queue: RabbitJobQueue, database_url: str) -> None:
    async with queue.publisher() as publish:

        async def publish_then_hang(job: VerificationJob) -> None:
            await publish(job)
            _announce("confirmed")
            await _hang()

        await OutboxRelay(database_url, publish_then_hang).run(asyncio.Event())


async def worker(queue: RabbitJobQueue, database_url: str) -> None:
    connection = await asyncpg.connect(database_url)

    async def handle(job: VerificationJob) -> None:
        await connection.execute(RECORD_DELIVERY, job.request_id, os.getpid())
        _announce("handling")
        await _hang()

    async def give_up(job: VerificationJob, error: BaseException) -> None:
        raise AssertionError("the handler never returns, so it cannot give up")

    await queue.consume(handle, give_up, 1, asyncio.Event())


async def main(mode: str, database_url: str, amqp_url: str, *rest: str) -> None:
    queue = RabbitJobQueue(amqp_url, database_url)
    if mode == "commit":
        await commit(queue, database_url, rest[0])
    elif mode == "relay":
        await relay(queue, database_url)
    elif mode == "worker":
        await worker(queue, database_url)
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:]))
