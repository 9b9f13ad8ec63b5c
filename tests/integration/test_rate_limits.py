"""Submission limits count per user, across replicas that share Redis."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack

import pytest

from portcert_runtime.errors import ResourceExhausted
from portcert_runtime.rate_limits import SubmissionRateLimiter

REDIS = "redis://127.0.0.1:6379/0"
Factory = Callable[..., SubmissionRateLimiter]


@pytest.fixture
async def limiter() -> AsyncIterator[Factory]:
    """Makes limiters and closes them after the test."""
    async with AsyncExitStack() as stack:

        def make(
            per_minute: int, redis_url: str | None = REDIS
        ) -> SubmissionRateLimiter:
            made = SubmissionRateLimiter(per_minute, redis_url)
            stack.push_async_callback(made.close)
            return made

        yield make


async def test_two_replicas_sharing_redis_share_one_count(limiter: Factory) -> None:
    first, second = limiter(4), limiter(4)
    user = f"user-{uuid.uuid4()}"

    for limiter in (first, second, first, second):
        await limiter.acquire(user)
    with pytest.raises(ResourceExhausted) as refused:
        await second.acquire(user)

    assert 1 <= refused.value.retry_after_seconds <= 60
    assert "4 submissions a minute" in str(refused.value)


async def test_each_user_has_a_count_of_their_own(limiter: Factory) -> None:
    shared = limiter(1)
    busy, other = f"user-{uuid.uuid4()}", f"user-{uuid.uuid4()}"

    await shared.acquire(busy)
    await shared.acquire(other)

    with pytest.raises(ResourceExhausted):
        await shared.acquire(busy)


async def test_an_unreachable_redis_lets_submissions_through(limiter: Factory) -> None:
    unreachable = limiter(1, "redis://127.0.0.1:1/0")
    user = f"user-{uuid.uuid4()}"

    await unreachable.acquire(user)
    await unreachable.acquire(user)


async def test_without_redis_the_process_keeps_the_count(limiter: Factory) -> None:
    local = limiter(2, None)
    user = f"user-{uuid.uuid4()}"

    await local.acquire(user)
    await local.acquire(user)

    with pytest.raises(ResourceExhausted):
        await local.acquire(user)
