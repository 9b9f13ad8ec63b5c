"""``portcert up``: the whole system on one machine.

Starts the embedded PostgreSQL (unless a database URL is configured), applies
migrations, then runs each service as a child process (``portcert serve
NAME``) and restarts any that dies. Ctrl-C or SIGTERM stops the children
gracefully, then the database.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import signal
import sys
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus

import click
import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from certifier.signing import SigningKey
from portcert_runtime.bootstrap import development_issuer, tls_material
from portcert_runtime.database import (
    migrate,
    start_embedded_postgres,
    stop_embedded_postgres,
)
from portcert_runtime.pki import grpc_channel_credentials
from portcert_runtime.settings import Settings
from portcert_runtime.waiting import wait_for_event

logger = logging.getLogger(__name__)

SERVICES = ("certifier", "verifier", "worker", "gateway")
_STOP_GRACE_SECONDS = 15.0
_READY_TIMEOUT_SECONDS = 30.0
_RESTART_DELAY_SECONDS = 1.0
# The children that serve Prometheus metrics, each on its own port counted
# from PORTCERT_METRICS_PORT, in the order of their gRPC ports.
METRICS_PORT_OFFSETS = {"verifier": 0, "certifier": 1, "worker": 2}
_MAX_PORT = 65535

ReadinessCheck = Callable[[], Awaitable[bool]]


@dataclass(frozen=True)
class ServicePlan:
    """How to start one child, how to tell it is ready, what to tell the user."""

    name: str
    description: str
    ready: ReadinessCheck | None
    metrics_port: int = 0


def _grpc_readiness(
    target: str, credentials: grpc.ChannelCredentials
) -> ReadinessCheck:
    async def check() -> bool:
        async with grpc.aio.secure_channel(target, credentials) as channel:
            try:
                response = await health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(service="readiness"), timeout=1
                )
            except grpc.aio.AioRpcError:
                return False
        return bool(response.status == health_pb2.HealthCheckResponse.SERVING)

    return check


def _http_readiness(url: str) -> ReadinessCheck:
    def status() -> int:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                return int(response.status)
        except (OSError, urllib.error.HTTPError):
            return 0

    async def check() -> bool:
        return await asyncio.to_thread(status) == HTTPStatus.OK

    return check


def plan(settings: Settings, names: Sequence[str]) -> list[ServicePlan]:
    """The children to start, in an order where each finds what it needs."""
    operations = grpc_channel_credentials(tls_material(settings, "operations"))
    scheme = "https" if settings.gateway_tls_cert_file else "http"
    public = f"{scheme}://{settings.gateway_host}:{settings.gateway_port}"
    # Envoy's admin /ready is on loopback in plaintext whatever the public
    # port serves; the services behind it were already waited for.
    gateway_ready = f"http://127.0.0.1:{settings.gateway_admin_port}/ready"
    worker_health = f"{settings.host}:{settings.worker_health_port}"
    plans = {
        "certifier": ServicePlan(
            "certifier",
            f"gRPC with mTLS on {settings.certifier_target}",
            _grpc_readiness(settings.certifier_target, operations),
        ),
        "verifier": ServicePlan(
            "verifier",
            f"gRPC with mTLS on {settings.verifier_target}",
            _grpc_readiness(settings.verifier_target, operations),
        ),
        "worker": ServicePlan(
            "worker",
            f"consuming jobs; gRPC health with mTLS on {worker_health}",
            _grpc_readiness(worker_health, operations),
        ),
        "gateway": ServicePlan(
            "gateway", f"REST and gRPC on {public}", _http_readiness(gateway_ready)
        ),
    }
    return [
        dataclasses.replace(plans[name], metrics_port=metrics_port(settings, name))
        for name in SERVICES
        if name in names
    ]


def metrics_port(settings: Settings, name: str) -> int:
    """The metrics port of child ``name``; 0 when metrics are off or it has none.

    Raises:
        click.ClickException: the children's ports would pass 65535.
    """
    if settings.metrics_port == 0 or name not in METRICS_PORT_OFFSETS:
        return 0
    highest = _MAX_PORT - max(METRICS_PORT_OFFSETS.values())
    if settings.metrics_port > highest:
        raise click.ClickException(
            f"PORTCERT_METRICS_PORT: must be at most {highest}, since `portcert "
            f"up` serves metrics on it and the {len(METRICS_PORT_OFFSETS) - 1} "
            "ports after it"
        )
    return settings.metrics_port + METRICS_PORT_OFFSETS[name]


async def wait_until_ready(
    check: ReadinessCheck, name: str, deadline_seconds: float = _READY_TIMEOUT_SECONDS
) -> None:
    """Poll ``check`` until it passes or the deadline passes."""
    deadline = asyncio.get_running_loop().time() + deadline_seconds
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"{name} not ready after {deadline_seconds:.0f} s")
        await asyncio.sleep(0.1)


class _Child:
    def __init__(self, service: ServicePlan, environment: Mapping[str, str]) -> None:
        self.service = service
        self._environment = dict(environment)
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "portcert_cli.main",
            "serve",
            self.service.name,
            env=self._environment,
        )

    async def stop(self) -> None:
        if self.process is None or self.process.returncode is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), _STOP_GRACE_SECONDS)
        except TimeoutError:
            logger.warning(
                "service did not stop in time; killing",
                extra={"service": self.service.name},
            )
            self.process.kill()
            await self.process.wait()


async def run_system(
    settings: Settings, names: Sequence[str], environ: Mapping[str, str]
) -> None:
    """Run the chosen services until SIGINT or SIGTERM."""
    plans = plan(settings, names)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    environment = dict(environ)
    environment.setdefault("PYTHONUNBUFFERED", "1")
    if settings.uses_embedded_database:
        url = await asyncio.to_thread(
            start_embedded_postgres, settings.embedded_database_dir
        )
        environment["PORTCERT_DATABASE_URL"] = url
        await migrate(url)
    # Keys and certificates are created here, once, before any child needs them.
    development_issuer(settings)
    SigningKey.load_or_create(settings.resolved_signing_key_file)
    children = [
        _Child(
            service,
            {**environment, "PORTCERT_METRICS_PORT": str(service.metrics_port)},
        )
        for service in plans
    ]
    try:
        for child in children:
            await child.start()
            if child.service.ready is not None:
                await wait_until_ready(child.service.ready, child.service.name)
        _announce(settings, children)
        await _supervise(children, stop)
    finally:
        await asyncio.gather(*(child.stop() for child in reversed(children)))
        if settings.uses_embedded_database:
            await asyncio.to_thread(
                stop_embedded_postgres, settings.embedded_database_dir
            )
        click.echo("portcert stopped")


async def _supervise(children: list[_Child], stop: asyncio.Event) -> None:
    while not stop.is_set():
        for child in children:
            assert child.process is not None
            if child.process.returncode is not None:
                logger.error(
                    "service exited; restarting",
                    extra={
                        "service": child.service.name,
                        "code": child.process.returncode,
                    },
                )
                await child.start()
        await wait_for_event(stop, _RESTART_DELAY_SECONDS)


def _announce(settings: Settings, children: list[_Child]) -> None:
    lines = ["portcert is running (Ctrl-C stops it):"]
    for child in children:
        lines.append(f"  {child.service.name:<10} {child.service.description}")
        if child.service.metrics_port:
            address = f"{settings.host}:{child.service.metrics_port}"
            lines.append(f"  {'':<10} Prometheus metrics on http://{address}/metrics")
    database = (
        "embedded PostgreSQL"
        if settings.uses_embedded_database
        else "external PostgreSQL"
    )
    lines.append(f"  database   {database}, data in {settings.data_dir.resolve()}")
    if settings.gateway_host in ("127.0.0.1", "localhost", "::1"):
        lines.append("  the gateway serves plaintext, on loopback only")
    click.echo("\n".join(lines))
