"""Upstream stand-ins for the gateway tests: real mTLS gRPC servers on port 0.

The verifier stand-in knows one request (status, watch stream) and accepts
submissions that name a container; the certifier stand-in serves gRPC health
only, so a call that reaches it answers UNIMPLEMENTED.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from portcert.verification.v1 import (
    verification_pb2,
    verification_service_pb2,
    verification_service_pb2_grpc,
)
from portcert_runtime.pki import DevelopmentPki, TlsMaterial, grpc_server_credentials

KNOWN_REQUEST_ID = "0b9d6a4e-3c1f-4d7e-9a51-2f8c7e6d5b40"
CONTAINER_ID = "MSCU1234565"
READINESS = "readiness"
Status = verification_pb2.VerificationStatus


class VerificationStandIn(verification_service_pb2_grpc.VerificationServiceServicer):
    """Knows one request; records what each call carried."""

    def __init__(self) -> None:
        self.metadata: list[dict[str, str | bytes]] = []
        self.peer_names: list[list[bytes]] = []
        self.submissions: list[verification_service_pb2.SubmitVerificationRequest] = []

    def _state(
        self, status: verification_pb2.VerificationStatus
    ) -> verification_pb2.VerificationState:
        return verification_pb2.VerificationState(
            request_id=KNOWN_REQUEST_ID, container_id=CONTAINER_ID, status=status
        )

    async def SubmitVerification(  # noqa: N802
        self,
        request: verification_service_pb2.SubmitVerificationRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> verification_service_pb2.SubmitVerificationResponse:
        self.submissions.append(request)
        if not request.container_id:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, "container_id: required"
            )
        return verification_service_pb2.SubmitVerificationResponse(
            request_id=KNOWN_REQUEST_ID, status=Status.VERIFICATION_STATUS_PENDING
        )

    async def GetVerificationStatus(  # noqa: N802
        self,
        request: verification_service_pb2.GetVerificationStatusRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> verification_service_pb2.GetVerificationStatusResponse:
        self.metadata.append(dict(context.invocation_metadata() or ()))
        self.peer_names.append(context.auth_context().get("x509_common_name", []))
        if request.request_id != KNOWN_REQUEST_ID:
            await context.abort(
                grpc.StatusCode.NOT_FOUND,
                f"verification request {request.request_id} does not exist",
            )
        return verification_service_pb2.GetVerificationStatusResponse(
            state=self._state(Status.VERIFICATION_STATUS_IN_PROGRESS)
        )

    async def WatchVerificationStatus(  # noqa: N802
        self,
        request: verification_service_pb2.WatchVerificationStatusRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> AsyncIterator[verification_service_pb2.WatchVerificationStatusResponse]:
        for status in (
            Status.VERIFICATION_STATUS_PENDING,
            Status.VERIFICATION_STATUS_IN_PROGRESS,
            Status.VERIFICATION_STATUS_PASSED,
        ):
            yield verification_service_pb2.WatchVerificationStatusResponse(
                state=self._state(status)
            )


@dataclass
class StandIn:
    port: int
    server: grpc.aio.Server
    health: health.aio.HealthServicer


@dataclass
class Upstreams:
    verifier: StandIn
    certifier: StandIn
    verification: VerificationStandIn = field(default_factory=VerificationStandIn)

    async def stop(self) -> None:
        await self.verifier.server.stop(grace=None)
        await self.certifier.server.stop(grace=None)


async def start_stand_in(
    material: TlsMaterial, verification: VerificationStandIn | None
) -> StandIn:
    """Start an mTLS gRPC server on 127.0.0.1:0 that reports itself ready."""
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    if verification is not None:
        verification_service_pb2_grpc.add_VerificationServiceServicer_to_server(
            verification, server
        )
    port = server.add_secure_port("127.0.0.1:0", grpc_server_credentials(material))
    await server.start()
    await health_servicer.set(READINESS, health_pb2.HealthCheckResponse.SERVING)
    return StandIn(port=port, server=server, health=health_servicer)


async def start_upstreams(pki: DevelopmentPki) -> Upstreams:
    """Start the verifier and certifier stand-ins with their certificates."""
    verification = VerificationStandIn()
    verifier = await start_stand_in(pki.for_service("verifier"), verification)
    certifier = await start_stand_in(pki.for_service("certifier"), None)
    return Upstreams(verifier=verifier, certifier=certifier, verification=verification)
