"""Per-user submission rate limits, shared by every replica through Redis.

A moving one-minute window (the ``limits`` library) counts each user's
accepted submissions. With a Redis URL the count is shared by all verifier
replicas; without one each process keeps its own, which is exact only for a
single verifier, as in the embedded setup. If Redis cannot be reached the
limiter lets requests through and logs a warning: a broken counter must not
stop a port's clearance.
"""

from __future__ import annotations

import logging
import math
import time

import redis.asyncio
from limits import RateLimitItemPerMinute
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError

from portcert_runtime.errors import ResourceExhausted

logger = logging.getLogger(__name__)

_NAMESPACE = "submissions"


class SubmissionRateLimiter:
    """Allows each user a number of submissions per minute."""

    def __init__(self, per_minute: int, redis_url: str | None = None) -> None:
        """Count in Redis at ``redis_url``, or in this process when None."""
        storage: Storage
        # Our own pool, so that close() can release its connections.
        self._redis_pool: redis.asyncio.ConnectionPool | None = None
        if redis_url:
            self._redis_pool = redis.asyncio.ConnectionPool.from_url(redis_url)
            storage = RedisStorage(
                "async+redis://",
                wrap_exceptions=True,
                implementation="redispy",
                key_prefix="portcert-limits",
                # limits types its options as scalars, but passes this one on to
                # redis-py, which takes a pool.
                connection_pool=self._redis_pool,  # type: ignore[arg-type]
            )
        else:
            storage = MemoryStorage()
        self._limiter = MovingWindowRateLimiter(storage)
        self._item = RateLimitItemPerMinute(per_minute)
        self._per_minute = per_minute

    async def close(self) -> None:
        """Release the Redis connections."""
        if self._redis_pool is not None:
            await self._redis_pool.disconnect()

    async def acquire(self, user: str) -> None:
        """Count one submission by ``user``.

        Raises:
            ResourceExhausted: the user reached the limit; carries the seconds
                until a submission is allowed again.
        """
        try:
            if await self._limiter.hit(self._item, _NAMESPACE, user):
                return
            stats = await self._limiter.get_window_stats(self._item, _NAMESPACE, user)
        except StorageError as err:
            logger.warning(
                "rate limit store unreachable; not limiting", extra={"error": str(err)}
            )
            return
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        raise ResourceExhausted(
            f"at most {self._per_minute} submissions a minute per user; "
            f"retry in {retry_after} s",
            retry_after_seconds=retry_after,
        )
