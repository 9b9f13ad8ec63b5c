"""The AuditService: administrators search the audit log."""

from __future__ import annotations

import re
from datetime import UTC

import grpc

from portcert.audit.v1 import audit_service_pb2 as pb
from portcert.audit.v1 import audit_service_pb2_grpc as pb_grpc
from portcert_runtime import audit
from portcert_runtime.auth import Role
from portcert_runtime.database import Database
from portcert_runtime.errors import FieldViolation, InvalidArgument
from portcert_runtime.fields import is_plain_text, timestamp
from portcert_runtime.paging import decode_page_token
from portcert_runtime.rpc import MethodPolicy

METHOD_POLICIES = {
    "/portcert.audit.v1.AuditService/ListAuditEvents": MethodPolicy(
        frozenset({Role.ADMINISTRATOR})
    ),
}
_DEFAULT_PAGE_SIZE = 100
_ROLES = {name.removeprefix("ROLE_"): name for name in pb.Role.keys()}  # noqa: SIM118
_MAX_PAGE_SIZE = 500
_MAX_USER_ID_LENGTH = 255
_CONTAINER_NUMBER = re.compile(r"[A-Z]{4}[0-9]{7}")


def _to_proto(entry: audit.AuditEntry) -> pb.AuditEvent:
    return pb.AuditEvent(
        log_id=str(entry.log_id),
        timestamp=timestamp(entry.timestamp),
        event_type=f"AUDIT_EVENT_TYPE_{entry.event_type.value}",
        actor_id=entry.actor_id,
        actor_role=_ROLES.get(entry.actor_role, "ROLE_UNSPECIFIED"),
        container_id=entry.container_id or "",
        request_id=str(entry.request_id or ""),
        certification_id=str(entry.certification_id or ""),
        outcome=f"AUDIT_OUTCOME_{entry.outcome.value}",
        details=dict(entry.details),
        service=entry.service,
        sequence=entry.sequence or 0,
        entry_hash=entry.entry_hash or "",
    )


def _query(request: pb.ListAuditEventsRequest) -> audit.AuditQuery:
    violations = []
    if not 0 <= request.page_size <= _MAX_PAGE_SIZE:
        violations.append(FieldViolation("page_size", f"must be 0 to {_MAX_PAGE_SIZE}"))
    start = (
        request.start_date.ToDatetime(UTC) if request.HasField("start_date") else None
    )
    end = request.end_date.ToDatetime(UTC) if request.HasField("end_date") else None
    if start and end and end <= start:
        violations.append(FieldViolation("end_date", "must be after start_date"))
    try:
        decode_page_token(request.page_token)
    except ValueError as err:
        violations.append(FieldViolation("page_token", str(err)))
    container_id = request.container_id.replace(" ", "").upper()
    if container_id and not _CONTAINER_NUMBER.fullmatch(container_id):
        violations.append(
            FieldViolation("container_id", "must be 4 letters and 7 digits (ISO 6346)")
        )
    if len(request.user_id) > _MAX_USER_ID_LENGTH or not is_plain_text(request.user_id):
        violations.append(
            FieldViolation(
                "user_id",
                f"must be at most {_MAX_USER_ID_LENGTH} printable characters",
            )
        )
    if violations:
        raise InvalidArgument(violations)
    return audit.AuditQuery(
        start=start,
        end=end,
        container_id=container_id or None,
        actor_id=request.user_id or None,
        page_size=request.page_size or _DEFAULT_PAGE_SIZE,
        page_token=request.page_token,
    )


class AuditService(pb_grpc.AuditServiceServicer):
    """Serves audit searches from the reader."""

    def __init__(self, database: Database) -> None:
        """Create over the database; searches may read a replica."""
        self._database = database

    async def ListAuditEvents(
        self, request: pb.ListAuditEventsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListAuditEventsResponse:
        """A page of matching events, oldest first."""
        entries, next_token = await audit.search(self._database.reader, _query(request))
        return pb.ListAuditEventsResponse(
            audit_events=[_to_proto(entry) for entry in entries],
            next_page_token=next_token,
        )
