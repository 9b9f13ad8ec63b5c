"""Each process serves its Prometheus metrics over HTTP when given a port.

The processes run as `portcert serve NAME` would in a pod, against a database
of this test run's own on the machine's PostgreSQL. Scrapes are parsed with
prometheus_client's own parser.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from portcert.verification.v1 import verification_service_pb2 as service_pb
from portcert.verification.v1 import verification_service_pb2_grpc as service_grpc
from portcert_runtime.auth import Role
from portcert_runtime.bootstrap import development_issuer, tls_material
from portcert_runtime.database import migrate
from portcert_runtime.pki import grpc_channel_credentials
from portcert_runtime.settings import Settings, load_settings

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
PORTCERT_METRICS = {
    "portcert_rpc_duration_seconds",
    "portcert_verifications_completed",
    "portcert_verification_duration_seconds",
    "portcert_certifications_issued",
    "portcert_status_watchers",
}
GET_STATUS = "/portcert.verification.v1.VerificationService/GetVerificationStatus"
START_SECONDS = 30


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    name = f"portcert_test_{uuid.uuid4().hex[:12]}"

    async def create() -> None:
        admin = await asyncpg.connect(ADMIN_DSN)
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        await migrate(f"postgresql://postgres@127.0.0.1:5432/{name}")

    async def drop() -> None:
        admin = await asyncpg.connect(ADMIN_DSN)
        try:
            await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        finally:
            await admin.close()

    asyncio.run(create())
    yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    asyncio.run(drop())


@pytest.fixture
def environment(tmp_path: Path, database_url: str) -> dict[str, str]:
    """A pod-like environment: nothing inherited from PORTCERT_, free ports."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("PORTCERT_")}
    return {
        **inherited,
        "PORTCERT_DATA_DIR": str(tmp_path),
        "PORTCERT_DATABASE_URL": database_url,
        "PORTCERT_VERIFIER_PORT": str(_free_port()),
        "PORTCERT_CERTIFIER_PORT": str(_free_port()),
        "PORTCERT_WORKER_HEALTH_PORT": str(_free_port()),
        "PORTCERT_METRICS_PORT": str(_free_port()),
        "XDG_RUNTIME_DIR": str(tmp_path),
    }


@contextlib.asynccontextmanager
async def _serving(service: str, environment: dict[str, str]) -> AsyncIterator[str]:
    """Run `portcert serve SERVICE`; yields its metrics URL once it answers."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "portcert_cli.main",
        "serve",
        service,
        cwd=ROOT,
        env=environment,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{environment['PORTCERT_METRICS_PORT']}/metrics"
    try:
        async with asyncio.timeout(START_SECONDS):
            while (  # noqa: ASYNC110 - polls another process
                await asyncio.to_thread(_fetch, url) is None
                and process.returncode is None
            ):
                await asyncio.sleep(0.1)
        assert process.returncode is None, await _stderr(process)
        yield url
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), START_SECONDS)


async def _stderr(process: asyncio.subprocess.Process) -> str:
    assert process.stderr is not None
    return (await process.stderr.read()).decode(errors="replace")


def _fetch(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return str(response.read().decode())
    except (urllib.error.URLError, ConnectionError):
        return None


async def _scrape(url: str) -> dict[str, list[Sample]]:
    """Every sample of the scrape, by metric family."""
    text = await asyncio.to_thread(_fetch, url)
    assert text is not None
    return {
        family.name: family.samples for family in text_string_to_metric_families(text)
    }


def _requests_counted(scrape: dict[str, list[Sample]], method: str, code: str) -> float:
    return sum(
        sample.value
        for sample in scrape.get("portcert_rpc_duration_seconds", [])
        if sample.name == "portcert_rpc_duration_seconds_count"
        and sample.labels == {"method": method, "code": code}
    )


@pytest.mark.parametrize("service", ["verifier", "certifier", "worker"])
async def test_each_process_serves_the_portcert_metrics_over_http(
    environment: dict[str, str], service: str
) -> None:
    async with _serving(service, environment) as url:
        scrape = await _scrape(url)

    assert PORTCERT_METRICS - set(scrape) == set()
    assert "process_cpu_seconds" in scrape


async def test_an_rpc_adds_one_to_the_duration_histogram_of_its_method_and_code(
    environment: dict[str, str],
) -> None:
    settings = load_settings(environment)
    # Made before the process starts, as `portcert up` does, so both sides
    # read the same key and certificates.
    token = development_issuer(settings).mint("metrics-test", [Role.OPERATOR])
    credentials = grpc_channel_credentials(tls_material(settings, "operations"))
    async with _serving("verifier", environment) as url:
        before = await _scrape(url)

        await _ask_for_unknown_status(settings, token, credentials)

        after = await _scrape(url)

    assert _requests_counted(before, GET_STATUS, "NOT_FOUND") == 0
    assert _requests_counted(after, GET_STATUS, "NOT_FOUND") == 1


async def _ask_for_unknown_status(
    settings: Settings, token: str, credentials: grpc.ChannelCredentials
) -> None:
    target = f"127.0.0.1:{settings.verifier_port}"
    async with grpc.aio.secure_channel(target, credentials) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await service_grpc.VerificationServiceStub(channel).GetVerificationStatus(
                service_pb.GetVerificationStatusRequest(request_id=str(uuid.uuid4())),
                metadata=[("authorization", f"Bearer {token}")],
                timeout=10,
                wait_for_ready=True,
            )
    assert refused.value.code() == grpc.StatusCode.NOT_FOUND
