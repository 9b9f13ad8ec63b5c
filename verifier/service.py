"""The VerificationService: accepts requests and reports their progress."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import TypeVar

import grpc
import rfc8785

from portcert.verification.v1 import (
    verification_pb2 as pb,
)
from portcert.verification.v1 import (
    verification_service_pb2 as service_pb,
)
from portcert.verification.v1 import (
    verification_service_pb2_grpc as service_grpc,
)
from portcert_runtime import metrics
from portcert_runtime.audit import Actor, AuditLog, EventType
from portcert_runtime.auth import Role
from portcert_runtime.database import Database
from portcert_runtime.errors import (
    AlreadyExists,
    NotFound,
    Unavailable,
)
from portcert_runtime.fields import timestamp, uuid_field
from portcert_runtime.queue import JobQueue, VerificationJob
from portcert_runtime.rate_limits import SubmissionRateLimiter
from portcert_runtime.rpc import MethodPolicy, caller, error_status
from portcert_runtime.waiting import wait_for_any
from verifier import store
from verifier.conversion import (
    outcome_from_json,
    outcome_to_proto,
    status_to_proto,
    submission_from_json,
    submission_from_proto,
    submission_to_json,
    submission_to_proto,
)
from verifier.model import Status
from verifier.status_feed import StatusFeed

_SERVICE = "/portcert.verification.v1.VerificationService/"
_FOLLOWERS = frozenset(
    {Role.OPERATOR, Role.CERTIFICATION_AUTHORITY, Role.ADMINISTRATOR}
)

# Who may call what, from the seed's permission matrix: submitting and following
# requests is for operators and above; viewers only read certifications.
METHOD_POLICIES = {
    _SERVICE + "SubmitVerification": MethodPolicy(_FOLLOWERS),
    _SERVICE + "GetVerificationStatus": MethodPolicy(_FOLLOWERS),
    _SERVICE + "WatchVerificationStatus": MethodPolicy(_FOLLOWERS),
    _SERVICE + "GetVerificationRequest": MethodPolicy(_FOLLOWERS),
}

_Row = TypeVar("_Row", store.StoredRequest, store.RequestState)

# Watchers re-read at least this often, in case a notification was lost.
_WATCH_POLL_SECONDS = 5.0


def _state_to_proto(request: store.RequestState) -> pb.VerificationState:
    state = pb.VerificationState(
        request_id=str(request.request_id),
        container_id=request.container_id,
        status=status_to_proto(request.status),
        submitted_at=timestamp(request.submitted_at),
        updated_at=timestamp(request.updated_at),
        certification_id=str(request.certification_id or ""),
        error_message=request.error_message or "",
    )
    if request.result is not None:
        state.result.CopyFrom(
            outcome_to_proto(str(request.request_id), outcome_from_json(request.result))
        )
    return state


class VerificationService(service_grpc.VerificationServiceServicer):
    """Validates and queues requests; serves their status."""

    def __init__(
        self,
        database: Database,
        queue: JobQueue,
        feed: StatusFeed,
        audit: AuditLog,
        rate_limiter: SubmissionRateLimiter,
        stopping: asyncio.Event,
    ) -> None:
        """Create over the shared database, job queue and status feed.

        ``stopping`` is set when the server starts draining, so that open
        status streams end with an explicit error instead of being cut.
        """
        self._database = database
        self._queue = queue
        self._feed = feed
        self._audit = audit
        self._rate_limiter = rate_limiter
        self._stopping = stopping

    async def SubmitVerification(
        self,
        request: service_pb.SubmitVerificationRequest,
        context: grpc.aio.ServicerContext,
    ) -> service_pb.SubmitVerificationResponse:
        """Validate, store and queue a request in one transaction."""
        principal = caller()
        submission = submission_from_proto(request)
        submission_json = submission_to_json(submission)
        digest = hashlib.sha256(rfc8785.dumps(dict(submission_json))).hexdigest()
        key = request.idempotency_key or None
        if key is not None:
            existing = await store.find_by_idempotency_key(
                self._database.writer, principal.subject, key
            )
            if existing is not None:
                return _replay(key, digest, *existing)
        # Replays above are free; only new requests count against the limit.
        await self._rate_limiter.acquire(principal.subject)
        new = store.NewRequest(
            request_id=uuid.uuid4(),
            submitted_by=principal.subject,
            submitted_at=datetime.now(UTC),
            submission_json=submission_json,
            idempotency_key=key,
            payload_digest=digest,
        )
        async with self._database.transaction() as connection:
            clash = await store.insert_request(connection, new)
            if clash is None:
                await self._queue.enqueue(
                    connection,
                    VerificationJob(new.request_id, submission.priority.value),
                )
                await self._audit.record(
                    connection,
                    EventType.VERIFICATION_REQUEST_SUBMITTED,
                    Actor.of(principal),
                    container_id=submission.container_id,
                    request_id=new.request_id,
                    details={"priority": submission.priority.value},
                )
        if clash is not None:
            # Another call with the same key committed between our lookup and
            # insert; answer as its replay.
            row = await store.load_request(self._database.writer, clash[0])
            assert row is not None
            assert key is not None
            return _replay(
                key, digest, row.request_id, clash[1], row.submitted_at, row.status
            )
        return service_pb.SubmitVerificationResponse(
            request_id=str(new.request_id),
            status=pb.VERIFICATION_STATUS_PENDING,
            submitted_at=timestamp(new.submitted_at),
        )

    async def GetVerificationStatus(
        self,
        request: service_pb.GetVerificationStatusRequest,
        context: grpc.aio.ServicerContext,
    ) -> service_pb.GetVerificationStatusResponse:
        """The request's current state."""
        request_id = uuid_field("request_id", request.request_id)
        # A status lookup may be a moment stale, but a request the replica has
        # not got yet is read from the writer rather than reported missing.
        state = await self._database.find(
            lambda pool: store.load_state(pool, request_id)
        )
        return service_pb.GetVerificationStatusResponse(
            state=_state_to_proto(_found(state, request_id))
        )

    async def GetVerificationRequest(
        self,
        request: service_pb.GetVerificationRequestRequest,
        context: grpc.aio.ServicerContext,
    ) -> service_pb.GetVerificationRequestResponse:
        """The stored request with its documents and manifest."""
        stored = await self._load(uuid_field("request_id", request.request_id))
        message = submission_to_proto(submission_from_json(stored.submission))
        message.request_id = str(stored.request_id)
        message.submitted_by = stored.submitted_by
        message.submitted_at.CopyFrom(timestamp(stored.submitted_at))
        message.status = status_to_proto(stored.status)
        return service_pb.GetVerificationRequestResponse(verification_request=message)

    async def WatchVerificationStatus(
        self,
        request: service_pb.WatchVerificationStatusRequest,
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[service_pb.WatchVerificationStatusResponse]:
        """Stream the state on every change until it is final."""
        request_id = uuid_field("request_id", request.request_id)
        # Errors before the first message reach REST clients as a plain HTTP
        # error; later ones as a last event that carries the error.
        stored = await self._load_latest(request_id)
        metrics.STATUS_WATCHERS.inc()
        try:
            async for state in self._follow(request_id, stored):
                yield service_pb.WatchVerificationStatusResponse(state=state)
        except Exception as err:
            status = error_status(err, "WatchVerificationStatus")
            yield service_pb.WatchVerificationStatusResponse(error=status)
            raise
        finally:
            metrics.STATUS_WATCHERS.dec()

    async def _follow(
        self, request_id: uuid.UUID, stored: store.RequestState
    ) -> AsyncIterator[pb.VerificationState]:
        # Subscribe before re-reading so that no change slips in between.
        async with self._feed.subscribe(request_id) as changed:
            stored = await self._load_latest(request_id)
            last_sent = None
            while True:
                if (stored.status, stored.updated_at) != last_sent:
                    last_sent = (stored.status, stored.updated_at)
                    yield _state_to_proto(stored)
                if stored.status.is_final:
                    return
                await wait_for_any([changed, self._stopping], _WATCH_POLL_SECONDS)
                if self._stopping.is_set():
                    raise Unavailable("the server is shutting down; watch again")
                changed.clear()
                stored = await self._load_latest(request_id)

    async def _load(self, request_id: uuid.UUID) -> store.StoredRequest:
        # Like a status lookup: the reader, or the writer for a request the
        # replica has not got yet.
        stored = await self._database.find(
            lambda pool: store.load_request(pool, request_id)
        )
        return _found(stored, request_id)

    async def _load_latest(self, request_id: uuid.UUID) -> store.RequestState:
        # The stream is woken by the writer's notifications and must reach the
        # final state, which a lagging replica may not show yet.
        state = await store.load_state(self._database.writer, request_id)
        return _found(state, request_id)


def _found(row: _Row | None, request_id: uuid.UUID) -> _Row:
    if row is None:
        raise NotFound(f"no verification request {request_id}")
    return row


def _replay(
    key: str,
    digest: str,
    request_id: uuid.UUID,
    stored_digest: str,
    submitted_at: datetime,
    status: Status,
) -> service_pb.SubmitVerificationResponse:
    if stored_digest != digest:
        raise AlreadyExists(
            f"idempotency_key {key!r} was already used for a different request"
        )
    return service_pb.SubmitVerificationResponse(
        request_id=str(request_id),
        status=status_to_proto(status),
        submitted_at=timestamp(submitted_at),
    )
