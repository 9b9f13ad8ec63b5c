"""gRPC clients of a running system, and the calls the end-to-end tests repeat."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
from google.protobuf import json_format

from portcert.audit.v1 import audit_service_pb2 as audit_pb
from portcert.audit.v1 import audit_service_pb2_grpc as audit_grpc
from portcert.certification.v1 import certification_service_pb2 as cert_pb
from portcert.certification.v1 import certification_service_pb2_grpc as cert_grpc
from portcert.verification.v1 import verification_pb2 as pb
from portcert.verification.v1 import verification_service_pb2 as service_pb
from portcert.verification.v1 import verification_service_pb2_grpc as service_grpc

from .running_system import EXAMPLES_DIR, SystemLayout

# Far longer than a verification takes on this machine; only a hang reaches it.
WATCH_TIMEOUT_SECONDS = 30.0
Metadata = tuple[tuple[str, str], ...]


def bearer(token: str) -> Metadata:
    """Call metadata carrying ``token``."""
    return (("authorization", f"Bearer {token}"),)


def load_example(name: str) -> service_pb.SubmitVerificationRequest:
    """An example request from ``examples/``, parsed from its JSON form."""
    return json_format.Parse(
        (EXAMPLES_DIR / name).read_text(), service_pb.SubmitVerificationRequest()
    )


@dataclass(frozen=True)
class Clients:
    """Stubs of the three services, over channels to one system."""

    verification: service_grpc.VerificationServiceStub
    certification: cert_grpc.CertificationServiceStub
    audit: audit_grpc.AuditServiceStub

    async def submit(
        self, request: service_pb.SubmitVerificationRequest, token: str
    ) -> str:
        """Submit ``request`` and return its request id."""
        response = await self.verification.SubmitVerification(
            request, metadata=bearer(token)
        )
        return str(response.request_id)

    async def watch_to_end(
        self, request_id: str, token: str
    ) -> list[pb.VerificationState]:
        """Every state the status stream sends until it closes."""
        states = []
        async with asyncio.timeout(WATCH_TIMEOUT_SECONDS):
            async for update in self.verification.WatchVerificationStatus(
                service_pb.WatchVerificationStatusRequest(request_id=request_id),
                metadata=bearer(token),
            ):
                states.append(update.state)
        return states

    async def get_status(self, request_id: str, token: str) -> pb.VerificationState:
        """The request's current state."""
        response = await self.verification.GetVerificationStatus(
            service_pb.GetVerificationStatusRequest(request_id=request_id),
            metadata=bearer(token),
        )
        state: pb.VerificationState = response.state
        return state

    async def get_certification(
        self, certification_id: str, token: str
    ) -> cert_pb.Certification:
        """GetCertification's answer."""
        response = await self.certification.GetCertification(
            cert_pb.GetCertificationRequest(certification_id=certification_id),
            metadata=bearer(token),
        )
        certification: cert_pb.Certification = response.certification
        return certification

    async def certifications_of(
        self, container_id: str, token: str
    ) -> list[cert_pb.Certification]:
        """Every certification of a container, across all pages."""
        found: list[cert_pb.Certification] = []
        page_token = ""
        while True:
            response = await self.certification.ListCertifications(
                cert_pb.ListCertificationsRequest(
                    container_id=container_id, page_token=page_token
                ),
                metadata=bearer(token),
            )
            found.extend(response.certifications)
            page_token = response.next_page_token
            if not page_token:
                return found

    async def audit_events(
        self, token: str, container_id: str = "", user_id: str = ""
    ) -> list[audit_pb.AuditEvent]:
        """Every audit event matching the filters, oldest first, across pages."""
        found: list[audit_pb.AuditEvent] = []
        page_token = ""
        while True:
            response = await self.audit.ListAuditEvents(
                audit_pb.ListAuditEventsRequest(
                    container_id=container_id, user_id=user_id, page_token=page_token
                ),
                metadata=bearer(token),
            )
            found.extend(response.audit_events)
            page_token = response.next_page_token
            if not page_token:
                return found


@contextlib.asynccontextmanager
async def connect(layout: SystemLayout) -> AsyncIterator[Clients]:
    """Open a channel to the gateway of ``layout``, as any client does."""
    async with grpc.aio.insecure_channel(layout.gateway_address) as channel:
        yield Clients(
            verification=service_grpc.VerificationServiceStub(channel),
            certification=cert_grpc.CertificationServiceStub(channel),
            audit=audit_grpc.AuditServiceStub(channel),
        )
