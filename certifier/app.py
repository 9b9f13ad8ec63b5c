"""Assembling the certifier process."""

from __future__ import annotations

import asyncio
import logging

from certifier.audit_service import METHOD_POLICIES as AUDIT_POLICIES
from certifier.audit_service import AuditService
from certifier.service import METHOD_POLICIES, CertificationService
from certifier.signing import SigningKey
from portcert.audit.v1 import audit_service_pb2, audit_service_pb2_grpc
from portcert.certification.v1 import certification_service_pb2
from portcert.certification.v1 import certification_service_pb2_grpc as pb_grpc
from portcert_runtime.audit import Actor, AuditLog, EventType, run_sealer
from portcert_runtime.auth import Role
from portcert_runtime.bootstrap import (
    open_blob_store,
    open_database,
    tls_material,
    token_verifier,
)
from portcert_runtime.hosting import ServiceHost, database_probe
from portcert_runtime.pki import grpc_server_credentials, spiffe_id
from portcert_runtime.rpc import ServiceInterceptor
from portcert_runtime.settings import Settings

logger = logging.getLogger(__name__)

SERVICE_NAME = "certifier"
WORKER_IDENTITY = "verification-worker"
_WORKER_ROLES = frozenset({Role.CERTIFICATION_AUTHORITY})
_DRAIN_SECONDS = 10.0


async def run_certifier(settings: Settings, stop: asyncio.Event) -> None:
    """Serve CertificationService and AuditService until ``stop`` is set."""
    database = await open_database(settings)
    audit = AuditLog(SERVICE_NAME)
    signer = SigningKey.load_or_create(settings.resolved_signing_key_file)
    blobs = await open_blob_store(settings)
    host = ServiceHost(
        SERVICE_NAME,
        interceptors=[
            ServiceInterceptor(
                {**METHOD_POLICIES, **AUDIT_POLICIES},
                token_verifier(settings),
                audit,
                database.writer,
                # The verification worker issues certifications as the
                # automated certification authority.
                peer_roles={
                    spiffe_id(WORKER_IDENTITY): frozenset(
                        {Role.CERTIFICATION_AUTHORITY}
                    )
                },
            )
        ],
        readiness_probes=[database_probe(database.writer)],
    )
    pb_grpc.add_CertificationServiceServicer_to_server(
        CertificationService(
            database, blobs, signer, audit, settings.issuing_authority
        ),
        host.server,
    )
    audit_service_pb2_grpc.add_AuditServiceServicer_to_server(
        AuditService(database), host.server
    )
    for module, name in (
        (certification_service_pb2, "CertificationService"),
        (audit_service_pb2, "AuditService"),
    ):
        host.expose(module.DESCRIPTOR.services_by_name[name].full_name)
    port = host.add_port(
        f"{settings.host}:{settings.certifier_port}",
        grpc_server_credentials(tls_material(settings, SERVICE_NAME)),
    )
    sealer = asyncio.create_task(run_sealer(database.writer, stop))
    await host.start()
    await audit.record(
        database.writer, EventType.SERVICE_STARTED, Actor.system(SERVICE_NAME)
    )
    logger.info(
        "certifier listening",
        extra={"address": f"{settings.host}:{port}", "signing_key_id": signer.key_id},
    )
    await stop.wait()
    await host.drain_and_stop(_DRAIN_SECONDS)
    await audit.record(
        database.writer, EventType.SERVICE_STOPPED, Actor.system(SERVICE_NAME)
    )
    await sealer
    await blobs.close()
    await database.close()
