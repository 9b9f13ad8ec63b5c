"""The verification job queue on RabbitMQ (aio-pika), fed by a transactional outbox.

Producers never talk to the broker: ``enqueue`` writes an outbox row in the
transaction that stores the request, and a relay in the verifier process
publishes committed rows with publisher confirms (see
:mod:`portcert_runtime.outbox`). Messages are persistent, JSON, and carry the
request id as their ``message_id``.

Topology, all durable and declared on every start:

- exchange ``portcert.verification`` (direct, routing key = priority) →
  quorum queues ``verification.requests`` (STANDARD) and
  ``verification.requests.expedited`` (EXPEDITED); each has a 24-hour message
  TTL, a delivery limit, and dead-letters to ``portcert.verification.dead-letter``
  (fanout) → quorum queue ``DLQ.verification.requests``.
- retry exchanges ``portcert.verification.retry.{1,2,4}s`` (fanout) → quorum
  queues ``verification.requests.retry.{1,2,4}s`` whose per-queue TTL holds a
  message for its delay before it dead-letters back to the main exchange
  under its original routing key, so a retried job keeps its priority.
- quorum queues dead-letter at least once (``x-dead-letter-strategy``), which
  RabbitMQ 3.10 and later support.

Priorities: the broker on the target machines is RabbitMQ 3.10, whose quorum
queues have no message priorities (they arrive in 4.0, and then only two
levels), and classic priority queues would give up replication. EXPEDITED jobs
therefore get a quorum queue of their own, and the consumer drains it first:
deliveries of both queues are buffered per priority, and a free worker slot
takes an expedited one when it has one. Before it starts a standard job, it asks
the broker for an expedited message with ``basic.get`` whenever the broker may
be holding one back from it (after an expedited delivery was settled, or while
its expedited prefetch window is full). A standard job thus does not start while
an expedited one is ready in the broker; one already in flight to another
consumer is not seen. Each queue has its own prefetch window, so one consumer
may hold up to twice the prefetch unacknowledged.

Retries: a handler that raises has its message re-published to the retry
exchange for its attempt, with the attempt counted in the ``portcert-retries``
header; after the third retry fails the message goes to the dead-letter queue
with ``portcert-error`` and ``portcert-failed-at`` headers and ``on_exhausted``
is called. Every re-publication is confirmed before the original delivery is
acknowledged, so a crash in between duplicates a message and never loses one;
handlers are idempotent.
"""

from portcert_runtime.rabbitmq._messages import DeadLetter
from portcert_runtime.rabbitmq._queue import RabbitJobQueue, Reopen
from portcert_runtime.rabbitmq._topology import (
    DEAD_LETTER_QUEUE,
    EXPEDITED_QUEUE,
    STANDARD_QUEUE,
)

__all__ = [
    "DEAD_LETTER_QUEUE",
    "EXPEDITED_QUEUE",
    "STANDARD_QUEUE",
    "DeadLetter",
    "RabbitJobQueue",
    "Reopen",
]
