"""The verification job queue: a port with a PostgreSQL implementation.

Jobs are enqueued inside the transaction that stores the request, so a
request is queued exactly when it is committed. A job whose handler raises is
retried after 1, 2 and 4 seconds; after the third retry fails the job is held
as failed (the dead-letter state) and ``on_exhausted`` records why.
Delivery is at least once: a worker that dies mid-job leaves the job to be
picked again after the heartbeat timeout, so handlers must be idempotent.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Protocol

import asyncpg
from pgqueuer import AsyncpgDriver, Job, Queries, QueueManager
from pgqueuer.executors import (
    DatabaseRetryEntrypointExecutor,
    EntrypointExecutorParameters,
)
from pgqueuer.models import Context

logger = logging.getLogger(__name__)

ENTRYPOINT = "verification.requests"
RETRY_DELAYS = (1, 2, 4)
_PRIORITY_VALUES = {"STANDARD": 0, "EXPEDITED": 10}


@dataclasses.dataclass(frozen=True)
class VerificationJob:
    """A request waiting for its checks."""

    request_id: uuid.UUID
    priority: str


JobHandler = Callable[[VerificationJob], Awaitable[None]]
ExhaustedHandler = Callable[[VerificationJob, BaseException], Awaitable[None]]


class JobQueue(Protocol):
    """Where accepted requests wait for a worker."""

    async def enqueue(
        self, connection: asyncpg.Connection, job: VerificationJob
    ) -> None:
        """Queue ``job`` in the transaction open on ``connection``."""

    async def consume(
        self,
        handle: JobHandler,
        on_exhausted: ExhaustedHandler,
        concurrency: int,
        stop: asyncio.Event,
    ) -> None:
        """Run ``handle`` for each job until ``stop`` is set."""


@dataclasses.dataclass
class _RetryThenHold(DatabaseRetryEntrypointExecutor):
    on_exhausted: ExhaustedHandler | None = None

    async def execute(self, job: Job, context: Context) -> None:
        try:
            await super().execute(job, context)
        except Exception as err:
            if job.attempts >= self.max_attempts and self.on_exhausted is not None:
                await self.on_exhausted(_job_from(job), err)
            raise


def _job_from(job: Job) -> VerificationJob:
    payload = (job.payload or b"").decode()
    request_id, _, priority = payload.partition(":")
    return VerificationJob(uuid.UUID(request_id), priority or "STANDARD")


class PostgresJobQueue:
    """The queue in PostgreSQL itself, via pgqueuer: the embedded default."""

    def __init__(self, url: str, heartbeat_timeout: timedelta = timedelta(seconds=10)):
        """Create for the database at ``url`` (consumers open their own connection)."""
        self._url = url
        self._heartbeat_timeout = heartbeat_timeout

    async def enqueue(
        self, connection: asyncpg.Connection, job: VerificationJob
    ) -> None:
        """Insert the job row on the caller's connection and transaction."""
        await Queries(AsyncpgDriver(connection)).enqueue(
            ENTRYPOINT,
            f"{job.request_id}:{job.priority}".encode(),
            priority=_PRIORITY_VALUES[job.priority],
        )

    async def consume(
        self,
        handle: JobHandler,
        on_exhausted: ExhaustedHandler,
        concurrency: int,
        stop: asyncio.Event,
    ) -> None:
        """Dispatch jobs to ``handle`` until ``stop`` is set, then drain."""
        connection = await asyncpg.connect(self._url)
        try:
            manager = QueueManager(Queries(AsyncpgDriver(connection)))

            def executor(parameters: EntrypointExecutorParameters) -> _RetryThenHold:
                return _RetryThenHold(
                    parameters,
                    max_attempts=len(RETRY_DELAYS),
                    initial_delay=timedelta(seconds=RETRY_DELAYS[0]),
                    backoff_multiplier=2.0,
                    on_exhausted=on_exhausted,
                )

            @manager.entrypoint(
                ENTRYPOINT, on_failure="hold", executor_factory=executor
            )
            async def run(job: Job) -> None:
                await handle(_job_from(job))

            stopper = asyncio.create_task(_set_when(stop, manager.shutdown))
            try:
                await manager.run(
                    # pgqueuer requires room for two batches in flight.
                    batch_size=max(1, concurrency // 2),
                    max_concurrent_tasks=concurrency,
                    heartbeat_timeout=self._heartbeat_timeout,
                    dequeue_timeout=timedelta(seconds=5),
                )
            finally:
                stopper.cancel()
        finally:
            await connection.close()


async def _set_when(source: asyncio.Event, target: asyncio.Event) -> None:
    await source.wait()
    target.set()
