"""The transactional outbox: jobs are committed with their request, then relayed.

:func:`add_to_outbox` writes a job on the caller's connection, inside the
transaction that stores the request, so a job exists exactly when its request
does and nothing reaches a broker before the commit. :class:`OutboxRelay` then
moves committed rows to the broker: it wakes on the notification a trigger
sends at commit (and polls slowly, in case a notification was missed), locks a
batch of unpublished rows with ``FOR UPDATE SKIP LOCKED`` so that the relays of
several replicas share the table, publishes each row, and marks as published
only the rows whose publication the broker confirmed.

A relay that dies after the broker confirmed but before its mark committed
leaves those rows unpublished, and they are published again: delivery is at
least once, and the job handler is idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta

import asyncpg

from portcert_runtime.queue import VerificationJob
from portcert_runtime.waiting import wait_for_event

logger = logging.getLogger(__name__)

NOTIFY_CHANNEL = "portcert_outbox"

PublishJob = Callable[[VerificationJob], Awaitable[None]]

_INSERT = "INSERT INTO outbox (payload, priority) VALUES ($1::jsonb, $2)"
_CLAIM = """
    SELECT id, payload::text AS payload FROM outbox
    WHERE published_at IS NULL
    ORDER BY id
    LIMIT $1
    FOR UPDATE SKIP LOCKED
"""
_MARK = "UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])"
_PRUNE = "DELETE FROM outbox WHERE published_at < now() - $1::interval"

_DATABASE_ERRORS = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError)
_FIRST_BACKOFF_SECONDS = 0.5
_PRUNE_EVERY_SECONDS = 60.0


def job_to_payload(job: VerificationJob) -> str:
    """The JSON document that carries ``job`` in the outbox and on the wire."""
    return json.dumps({"request_id": str(job.request_id), "priority": job.priority})


def job_from_payload(payload: str | bytes) -> VerificationJob:
    """Read a job back from :func:`job_to_payload`'s document.

    Raises:
        ValueError: naming the field that is missing or malformed.
    """
    try:
        document = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"payload: not a JSON document ({err})") from err
    if not isinstance(document, dict):
        raise ValueError("payload: must be a JSON object")
    try:
        request_id = uuid.UUID(str(document.get("request_id")))
    except ValueError:
        raise ValueError("payload.request_id: must be a UUID") from None
    priority = document.get("priority")
    if priority not in ("STANDARD", "EXPEDITED"):
        raise ValueError("payload.priority: must be STANDARD or EXPEDITED")
    return VerificationJob(request_id, priority)


async def add_to_outbox(connection: asyncpg.Connection, job: VerificationJob) -> None:
    """Write ``job`` to the outbox in the transaction open on ``connection``."""
    await connection.execute(_INSERT, job_to_payload(job), job.priority)


class OutboxRelay:
    """Publishes committed outbox rows, marking each once the broker confirmed it."""

    def __init__(
        self,
        database_url: str,
        publish: PublishJob,
        *,
        batch_size: int = 100,
        poll_seconds: float = 5.0,
        retention: timedelta = timedelta(days=1),
        max_backoff_seconds: float = 30.0,
    ) -> None:
        """Create a relay; nothing connects until :meth:`run`.

        Args:
            database_url: PostgreSQL URL of the database holding the outbox.
            publish: Publishes one job and returns once the broker confirmed
                it; raises when it could not.
            batch_size: Rows locked and published together.
            poll_seconds: Longest sleep between scans without a notification.
            retention: How long published rows are kept before being pruned.
            max_backoff_seconds: Upper bound of the wait after a failure.
        """
        self._database_url = database_url
        self._publish = publish
        self._batch_size = batch_size
        self._poll_seconds = poll_seconds
        self._retention = retention
        self._max_backoff = max_backoff_seconds
        self._failures = 0

    async def run(self, stop: asyncio.Event) -> None:
        """Relay until ``stop`` is set, waiting out database and broker outages."""
        wake = asyncio.Event()
        forwarder = asyncio.create_task(_set_when(stop, wake))
        try:
            while not stop.is_set():
                try:
                    async with self._connections(wake) as (listener, connection):
                        self._failures = 0
                        await self._relay_until(stop, wake, listener, connection)
                except _DATABASE_ERRORS as err:
                    delay = self._backoff()
                    logger.warning(
                        "outbox relay lost the database",
                        extra={"error": repr(err), "retry_in_seconds": delay},
                    )
                    await wait_for_event(stop, delay)
        finally:
            forwarder.cancel()

    async def _relay_batch(self, connection: asyncpg.Connection) -> tuple[int, int]:
        """Publish one batch of unpublished rows; returns (published, failed)."""
        async with connection.transaction():
            rows = await connection.fetch(_CLAIM, self._batch_size)
            if not rows:
                return 0, 0
            results = await asyncio.gather(
                *(self._publish_row(row["payload"]) for row in rows),
                return_exceptions=True,
            )
            confirmed = [
                row["id"]
                for row, result in zip(rows, results, strict=True)
                if not isinstance(result, BaseException)
            ]
            await connection.execute(_MARK, confirmed)
        errors = [result for result in results if isinstance(result, BaseException)]
        if errors:
            logger.warning(
                "outbox rows not confirmed by the broker",
                extra={"failed": len(errors), "error": repr(errors[0])},
            )
        return len(confirmed), len(errors)

    async def _publish_row(self, payload: str) -> None:
        await self._publish(job_from_payload(payload))

    async def _relay_until(
        self,
        stop: asyncio.Event,
        wake: asyncio.Event,
        listener: asyncpg.Connection,
        connection: asyncpg.Connection,
    ) -> None:
        pruned_at = time.monotonic()
        while not stop.is_set():
            if listener.is_closed():
                raise ConnectionResetError("the notification connection closed")
            wake.clear()
            published, failed = await self._relay_batch(connection)
            if failed:
                await wait_for_event(stop, self._backoff())
                continue
            self._failures = 0
            if published == self._batch_size:
                continue
            if time.monotonic() - pruned_at > _PRUNE_EVERY_SECONDS:
                await connection.execute(_PRUNE, self._retention)
                pruned_at = time.monotonic()
            await wait_for_event(wake, self._poll_seconds)

    @contextlib.asynccontextmanager
    async def _connections(
        self, wake: asyncio.Event
    ) -> AsyncIterator[tuple[asyncpg.Connection, asyncpg.Connection]]:
        settings = {"application_name": "portcert-outbox-relay"}
        listener = await asyncpg.connect(self._database_url, server_settings=settings)
        try:
            await listener.add_listener(NOTIFY_CHANNEL, lambda *_: wake.set())
            # A lost listener would silence notifications: wake up to reconnect.
            listener.add_termination_listener(lambda *_: wake.set())
            connection = await asyncpg.connect(
                self._database_url, server_settings=settings
            )
            try:
                yield listener, connection
            finally:
                await _close_quietly(connection)
        finally:
            await _close_quietly(listener)

    def _backoff(self) -> float:
        growth = 1 << min(self._failures, 16)
        delay = min(_FIRST_BACKOFF_SECONDS * growth, self._max_backoff)
        self._failures += 1
        return delay


async def _close_quietly(connection: asyncpg.Connection) -> None:
    # Closing a connection the server already dropped fails too; that second
    # failure says nothing the first one did not.
    with contextlib.suppress(*_DATABASE_ERRORS, TimeoutError):
        await connection.close(timeout=5)


async def _set_when(source: asyncio.Event, target: asyncio.Event) -> None:
    await source.wait()
    target.set()
