"""``portcert up``: the whole system on one machine.

Starts the embedded PostgreSQL (unless a database URL is configured), applies
migrations, then runs each service as a child process (``portcert serve
NAME``) and restarts any that dies. Ctrl-C or SIGTERM stops the children
gracefully, then the database.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import click
import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from portcert_runtime.bootstrap import development_issuer
from portcert_runtime.database import (
    migrate,
    start_embedded_postgres,
    stop_embedded_postgres,
)
from portcert_runtime.settings import Settings
from portcert_runtime.waiting import wait_for_event

logger = logging.getLogger(__name__)

SERVICES = ("certifier", "verifier", "worker")
_STOP_GRACE_SECONDS = 15.0
_READY_TIMEOUT_SECONDS = 30.0
_RESTART_DELAY_SECONDS = 1.0


@dataclass(frozen=True)
class ServicePlan:
    """How to start one child and where it listens."""

    name: str
    address: str | None


def plan(settings: Settings, names: Sequence[str]) -> list[ServicePlan]:
    """The children to start, certifier first so the worker finds it."""
    addresses = {
        "verifier": f"{settings.host}:{settings.verifier_port}",
        "certifier": f"{settings.host}:{settings.certifier_port}",
        "worker": None,
    }
    return [ServicePlan(name, addresses[name]) for name in SERVICES if name in names]


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


async def wait_until_serving(
    address: str, deadline_seconds: float = _READY_TIMEOUT_SECONDS
) -> None:
    """Poll the readiness health of the server at ``address``."""
    deadline = asyncio.get_running_loop().time() + deadline_seconds
    async with grpc.aio.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while True:
            try:
                response = await stub.Check(
                    health_pb2.HealthCheckRequest(service="readiness"), timeout=1
                )
                if response.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.aio.AioRpcError:
                pass
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(
                    f"{address} not ready after {deadline_seconds:.0f} s"
                )
            await asyncio.sleep(0.1)


async def run_system(
    settings: Settings, names: Sequence[str], environ: Mapping[str, str]
) -> None:
    """Run the chosen services until SIGINT or SIGTERM."""
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
    # Keys are created here, once, so that children never race to create them.
    development_issuer(settings)
    children = [_Child(service, environment) for service in plan(settings, names)]
    try:
        for child in children:
            await child.start()
            if child.service.address:
                await wait_until_serving(child.service.address)
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
        where = (
            f"gRPC on {child.service.address}" if child.service.address else "running"
        )
        lines.append(f"  {child.service.name:<10} {where}")
    database = (
        "embedded PostgreSQL"
        if settings.uses_embedded_database
        else "external PostgreSQL"
    )
    lines.append(f"  database   {database}, data in {settings.data_dir.resolve()}")
    if settings.host in ("127.0.0.1", "localhost", "::1"):
        lines.append("  services accept plaintext on loopback only")
    click.echo("\n".join(lines))
