"""The certifier, the verifier and (optionally) the worker, run in this process.

Each runs from its real entry point (``run_certifier``, ``run_verifier``,
``run_worker``) with settings built from the given variables, so the database
wiring under test is the one production uses; clients reach the services over
mTLS with the development PKI of the test's data directory.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import json_format

from certifier.app import run_certifier
from portcert.audit.v1 import audit_service_pb2_grpc as audit_grpc
from portcert.certification.v1 import certification_service_pb2_grpc as cert_grpc
from portcert.verification.v1 import verification_pb2 as pb
from portcert.verification.v1 import verification_service_pb2 as service_pb
from portcert.verification.v1 import verification_service_pb2_grpc as service_grpc
from portcert_runtime.auth import Role
from portcert_runtime.bootstrap import development_issuer, tls_material
from portcert_runtime.pki import grpc_channel_credentials
from portcert_runtime.settings import Settings, load_settings
from verifier.app import run_verifier, run_worker

from .postgres_processes import free_port

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "examples"
_READY_TIMEOUT_SECONDS = 30.0
Metadata = tuple[tuple[str, str], ...]


def load_example(name: str) -> service_pb.SubmitVerificationRequest:
    """An example request from ``examples/``, parsed from its JSON form."""
    return json_format.Parse(
        (EXAMPLES_DIR / name).read_text(), service_pb.SubmitVerificationRequest()
    )


@dataclass(frozen=True)
class InProcessSystem:
    """Stubs of the running services and a way to authenticate to them."""

    settings: Settings
    verification: service_grpc.VerificationServiceStub
    certification: cert_grpc.CertificationServiceStub
    audit: audit_grpc.AuditServiceStub

    def bearer(self, role: Role, subject: str = "integration-user") -> Metadata:
        """Call metadata with a development token holding ``role``."""
        token = development_issuer(self.settings).mint(subject, [role])
        return (("authorization", f"Bearer {token}"),)

    async def watch_to_end(self, request_id: str) -> list[pb.VerificationState]:
        """Every state the status stream sends until it closes."""
        states = []
        async with asyncio.timeout(_READY_TIMEOUT_SECONDS):
            async for update in self.verification.WatchVerificationStatus(
                service_pb.WatchVerificationStatusRequest(request_id=request_id),
                metadata=self.bearer(Role.OPERATOR),
            ):
                states.append(update.state)
        return states


@contextlib.asynccontextmanager
async def running_system(
    data_dir: Path, variables: Mapping[str, str], *, with_worker: bool
) -> AsyncIterator[InProcessSystem]:
    """Run the services on free ports until the block ends, then stop them."""
    settings = load_settings(
        {
            "PORTCERT_DATA_DIR": str(data_dir),
            "PORTCERT_VERIFIER_PORT": str(free_port()),
            "PORTCERT_CERTIFIER_PORT": str(free_port()),
            # Any free port: only the worker's health answers there.
            "PORTCERT_WORKER_HEALTH_PORT": "0",
            **variables,
        }
    )
    stop = asyncio.Event()
    runs: list[Coroutine[Any, Any, None]] = [
        run_certifier(settings, stop),
        run_verifier(settings, stop),
    ]
    if with_worker:
        runs.append(run_worker(settings, stop))
    tasks = [asyncio.create_task(run) for run in runs]
    credentials = grpc_channel_credentials(tls_material(settings, "operations"))
    try:
        async with (
            grpc.aio.secure_channel(settings.verifier_target, credentials) as verifier,
            grpc.aio.secure_channel(
                settings.certifier_target, credentials
            ) as certifier,
        ):
            await _ready([verifier, certifier], tasks)
            yield InProcessSystem(
                settings,
                service_grpc.VerificationServiceStub(verifier),
                cert_grpc.CertificationServiceStub(certifier),
                audit_grpc.AuditServiceStub(certifier),
            )
    finally:
        stop.set()
        await asyncio.gather(*tasks)


async def _ready(
    channels: list[grpc.aio.Channel], services: list[asyncio.Task[None]]
) -> None:
    # A service that fails to start ends its task; report that instead of
    # waiting for a channel that will never connect.
    connecting = asyncio.ensure_future(
        asyncio.gather(*(channel.channel_ready() for channel in channels))
    )
    done, _ = await asyncio.wait(
        [connecting, *services],
        timeout=_READY_TIMEOUT_SECONDS,
        return_when=asyncio.FIRST_COMPLETED,
    )
    if connecting not in done:
        connecting.cancel()
        for task in done:
            task.result()
        raise TimeoutError("the services did not start listening")
