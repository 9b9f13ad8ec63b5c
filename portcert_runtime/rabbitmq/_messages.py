"""How a verification job travels as an AMQP message, and how a dead one reads."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import UTC, datetime

import aio_pika
from aio_pika.abc import AbstractMessage, HeadersType

from portcert_runtime.outbox import job_from_payload, job_to_payload
from portcert_runtime.queue import VerificationJob

RETRIES_HEADER = "portcert-retries"
ERROR_HEADER = "portcert-error"
FAILED_AT_HEADER = "portcert-failed-at"
REQUEUES_HEADER = "portcert-requeues"
_CONTENT_TYPE = "application/json"
_ERROR_LIMIT = 1000


@dataclasses.dataclass(frozen=True)
class DeadLetter:
    """A message in the dead-letter queue, as an operator sees it.

    Attributes:
        message_id: The AMQP message id, the request id for our own messages.
        job: The job it carries; None when its body could not be read.
        reason: Why it died: the handler's last error, or the broker's reason
            (``expired`` after 24 hours, ``delivery_limit``, ``rejected``).
        retries: Retries made before it died.
        failed_at: When it died, when known.
        requeues: How often it was already taken back from the dead-letter queue.
    """

    message_id: str | None
    job: VerificationJob | None
    reason: str
    retries: int
    failed_at: datetime | None
    requeues: int


def job_message(
    job: VerificationJob, headers: HeadersType | None = None
) -> aio_pika.Message:
    """A persistent message for ``job``, identified by its request id."""
    return aio_pika.Message(
        job_to_payload(job).encode(),
        content_type=_CONTENT_TYPE,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id=str(job.request_id),
        timestamp=datetime.now(UTC),
        headers={RETRIES_HEADER: 0, **(headers or {})},
    )


def job_of(message: AbstractMessage) -> VerificationJob:
    """The job a message carries.

    Raises:
        ValueError: naming what is wrong with the body.
    """
    return job_from_payload(message.body)


def retries_of(message: AbstractMessage) -> int:
    """How many times the message was already retried."""
    return _int_header(message.headers, RETRIES_HEADER)


def own_headers(message: AbstractMessage) -> HeadersType:
    """The message's headers without those the broker added (``x-death`` …)."""
    return {
        key: value for key, value in message.headers.items() if not key.startswith("x-")
    }


def copy_message(message: AbstractMessage, headers: HeadersType) -> aio_pika.Message:
    """A persistent copy of ``message`` with ``headers`` over its own."""
    return aio_pika.Message(
        message.body,
        content_type=message.content_type,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id=message.message_id,
        timestamp=message.timestamp,
        headers={**own_headers(message), **headers},
    )


def failure_headers(error: BaseException) -> HeadersType:
    """Headers recording why a message is being dead-lettered."""
    return {
        ERROR_HEADER: f"{type(error).__name__}: {error}"[:_ERROR_LIMIT],
        FAILED_AT_HEADER: datetime.now(UTC).isoformat(),
    }


def dead_letter_of(message: AbstractMessage) -> DeadLetter:
    """Describe a message read from the dead-letter queue."""
    headers = message.headers
    try:
        job: VerificationJob | None = job_of(message)
    except ValueError:
        job = None
    reason = headers.get(ERROR_HEADER) or headers.get("x-first-death-reason")
    return DeadLetter(
        message_id=message.message_id,
        job=job,
        reason=str(reason or "unknown"),
        retries=retries_of(message),
        failed_at=_failed_at(headers),
        requeues=_int_header(headers, REQUEUES_HEADER),
    )


def _failed_at(headers: Mapping[str, object]) -> datetime | None:
    stamp = headers.get(FAILED_AT_HEADER)
    if isinstance(stamp, str):
        try:
            return datetime.fromisoformat(stamp)
        except ValueError:
            return None
    deaths = headers.get("x-death")
    if isinstance(deaths, list) and deaths and isinstance(deaths[0], Mapping):
        moment = deaths[0].get("time")
        return moment if isinstance(moment, datetime) else None
    return None


def _int_header(headers: Mapping[str, object], name: str) -> int:
    value = headers.get(name)
    return value if isinstance(value, int) and value >= 0 else 0
