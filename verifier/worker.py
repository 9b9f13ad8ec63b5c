"""The verification worker: runs the checks of queued requests.

Handling a job is idempotent, because the queue delivers at least once: a
request already final is left alone, the checks are pure functions of the
stored request, and the certifier returns the existing certification when
asked to issue for the same request again.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import grpc

from portcert.certification.v1 import certification_service_pb2 as cert_pb
from portcert.certification.v1 import certification_service_pb2_grpc as cert_grpc
from portcert_runtime import metrics
from portcert_runtime.audit import Actor, AuditLog, EventType, Outcome
from portcert_runtime.database import Database
from portcert_runtime.queue import VerificationJob
from verifier import store
from verifier.checks import run_checks
from verifier.conversion import outcome_to_json, outcome_to_proto, submission_from_json
from verifier.model import Status, VerificationOutcome
from verifier.reference import ReferenceData

logger = logging.getLogger(__name__)

SERVICE_NAME = "verification-worker"
_ISSUE_TIMEOUT_SECONDS = 10.0


class PoisonMessage(Exception):
    """A job that can never succeed, such as one naming an unknown request."""


class VerificationWorker:
    """Turns a queued job into a final status, and a certification on success."""

    def __init__(
        self,
        database: Database,
        reference: ReferenceData,
        certifier: cert_grpc.CertificationServiceStub,
        audit: AuditLog,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """Create over the database, reference data and a certifier client.

        The certifier knows the worker by its mTLS certificate, which grants
        it the certification-authority role; no token is sent.
        """
        self._database = database
        self._reference = reference
        self._certifier = certifier
        self._audit = audit
        self._clock = clock
        self._actor = Actor.system(SERVICE_NAME)

    async def handle(self, job: VerificationJob) -> None:
        """Process one job; raises to have the queue retry it."""
        started = time.perf_counter()
        stored = await self._start(job.request_id)
        if stored is None:
            return
        outcome = run_checks(
            submission_from_json(stored.submission), self._reference, self._clock()
        )
        certification_id = None
        if outcome.passed:
            # The certifier issues only for a request whose recorded checks all
            # passed, so they are on record before it is asked.
            async with self._database.transaction() as connection:
                await store.record_checks(
                    connection, stored.request_id, outcome_to_json(outcome)["checks"]
                )
            certification_id = await self._issue(stored, outcome)
        await self._finish(stored, outcome, certification_id)
        metrics.VERIFICATION_DURATION.observe(time.perf_counter() - started)

    async def _start(self, request_id: uuid.UUID) -> store.StoredRequest | None:
        async with self._database.transaction() as connection:
            stored = await store.load_request(connection, request_id, for_update=True)
            if stored is None:
                raise PoisonMessage(f"no verification request {request_id}")
            if stored.status.is_final:
                logger.info(
                    "job for a final request skipped",
                    extra={"request": str(request_id)},
                )
                return None
            if stored.status is Status.PENDING:
                await store.set_in_progress(connection, request_id)
                await self._audit.record(
                    connection,
                    EventType.VERIFICATION_IN_PROGRESS,
                    self._actor,
                    container_id=stored.container_id,
                    request_id=request_id,
                )
            return stored

    async def _issue(
        self, stored: store.StoredRequest, outcome: VerificationOutcome
    ) -> uuid.UUID:
        response = await self._certifier.IssueCertification(
            cert_pb.IssueCertificationRequest(
                request_id=str(stored.request_id),
                container_id=stored.container_id,
                verification_result=outcome_to_proto(str(stored.request_id), outcome),
            ),
            timeout=_ISSUE_TIMEOUT_SECONDS,
        )
        return uuid.UUID(response.certification.certification_id)

    async def _finish(
        self,
        stored: store.StoredRequest,
        outcome: VerificationOutcome,
        certification_id: uuid.UUID | None,
    ) -> None:
        status = Status.PASSED if outcome.passed else Status.FAILED
        result = outcome_to_json(outcome)
        async with self._database.transaction() as connection:
            if not await store.finish(
                connection, stored.request_id, status, result, certification_id
            ):
                return
            await store.record_checks(connection, stored.request_id, result["checks"])
            await self._audit.record(
                connection,
                EventType.VERIFICATION_COMPLETED
                if outcome.passed
                else EventType.VERIFICATION_FAILED,
                self._actor,
                Outcome.SUCCESS if outcome.passed else Outcome.FAILURE,
                container_id=stored.container_id,
                request_id=stored.request_id,
                certification_id=certification_id,
                details={
                    "risk_score": f"{outcome.risk_score:.2f}",
                    "failure_reasons": "; ".join(outcome.failure_reasons)[:2000],
                },
            )
        metrics.VERIFICATIONS_COMPLETED.labels(status=status.value).inc()

    async def give_up(self, job: VerificationJob, error: BaseException) -> None:
        """Record that a job exhausted its retries, so the request shows why."""
        message = _describe(error)
        async with self._database.transaction() as connection:
            if not await store.set_error(connection, job.request_id, message):
                return
            stored = await store.load_request(connection, job.request_id)
            await self._audit.record(
                connection,
                EventType.VERIFICATION_FAILED,
                self._actor,
                Outcome.FAILURE,
                container_id=stored.container_id if stored else None,
                request_id=job.request_id,
                details={"error": message},
            )
        metrics.VERIFICATIONS_COMPLETED.labels(status=Status.ERROR.value).inc()
        logger.error(
            "verification gave up",
            extra={"request": str(job.request_id), "error": message},
        )


def _describe(error: BaseException) -> str:
    if isinstance(error, grpc.aio.AioRpcError):
        return f"certifier answered {error.code().name}: {error.details()}"
    return f"{type(error).__name__}: {error}"[:1000]
