"""Wakes status watchers when a request's status changes, in any process.

A trigger on verification_requests sends ``NOTIFY verification_status`` with
the request id; one listening connection per verifier fans the notices out to
the streams watching that id. Notices can be lost while the listening
connection is down, so after reconnecting every watcher is woken to re-read,
and watchers also re-read on a slow timer.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from portcert_runtime.waiting import wait_for_any, wait_for_event

logger = logging.getLogger(__name__)

CHANNEL = "verification_status"


class StatusFeed:
    """Per-request wake-up events fed by PostgreSQL notifications."""

    def __init__(self, url: str) -> None:
        """Create for the database at ``url``; call :meth:`run` to listen."""
        self._url = url
        self._waiters: defaultdict[uuid.UUID, set[asyncio.Event]] = defaultdict(set)

    @asynccontextmanager
    async def subscribe(self, request_id: uuid.UUID) -> AsyncIterator[asyncio.Event]:
        """An event set whenever ``request_id`` may have changed."""
        event = asyncio.Event()
        self._waiters[request_id].add(event)
        try:
            yield event
        finally:
            waiters = self._waiters[request_id]
            waiters.discard(event)
            if not waiters:
                del self._waiters[request_id]

    def _on_notice(
        self, _connection: object, _pid: int, _channel: str, payload: object
    ) -> None:
        try:
            request_id = uuid.UUID(str(payload))
        except ValueError:
            return
        for event in self._waiters.get(request_id, ()):
            event.set()

    def _wake_all(self) -> None:
        for waiters in self._waiters.values():
            for event in waiters:
                event.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Listen until ``stop`` is set, reconnecting with backoff."""
        delay = 0.5
        while not stop.is_set():
            try:
                connection = await asyncpg.connect(self._url)
            except (OSError, asyncpg.PostgresError):
                logger.warning(
                    "status feed cannot connect; retrying", extra={"delay": delay}
                )
                await wait_for_event(stop, delay)
                delay = min(delay * 2, 10.0)
                continue
            delay = 0.5
            lost = asyncio.Event()
            connection.add_termination_listener(lambda _c, lost=lost: lost.set())
            try:
                await connection.add_listener(CHANNEL, self._on_notice)
                self._wake_all()
                await wait_for_any([stop, lost], None)
            finally:
                if not connection.is_closed():
                    await connection.close()
            if lost.is_set() and not stop.is_set():
                logger.warning("status feed lost its connection; reconnecting")
