"""Running a grpc.aio server with health, reflection and a graceful drain.

Health answers two service names: ``liveness`` is SERVING while the process
runs and never depends on a downstream system, so a database outage does not
restart pods; ``readiness`` (and the empty overall name) is SERVING only while
every readiness probe passes and the server is not draining.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

import asyncpg
import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection

logger = logging.getLogger(__name__)

ReadinessProbe = Callable[[], Awaitable[bool]]

LIVENESS = "liveness"
READINESS = "readiness"
_SERVING = health_pb2.HealthCheckResponse.SERVING
_NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def database_probe(pool: asyncpg.Pool, timeout: float = 2.0) -> ReadinessProbe:
    """A probe that passes while ``pool`` can run a trivial query."""

    async def probe() -> bool:
        try:
            await asyncio.wait_for(pool.fetchval("SELECT 1"), timeout)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
            return False
        return True

    return probe


class ServiceHost:
    """A gRPC server plus the health state that Kubernetes probes read."""

    def __init__(
        self,
        name: str,
        interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
        readiness_probes: Sequence[ReadinessProbe] = (),
        probe_interval: float = 2.0,
    ) -> None:
        """Create an unstarted server; register servicers on ``server``."""
        self.name = name
        # Without this, two servers could bind one port and split traffic.
        self.server = grpc.aio.server(
            interceptors=list(interceptors), options=[("grpc.so_reuseport", 0)]
        )
        self.health = HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        self._probes = list(readiness_probes)
        self._probe_interval = probe_interval
        self._draining = False
        self._probe_task: asyncio.Task[None] | None = None
        self._service_names: list[str] = [
            reflection.SERVICE_NAME,
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
        ]

    def expose(self, full_service_name: str) -> None:
        """List a registered service for server reflection."""
        self._service_names.append(full_service_name)

    def add_port(self, address: str, credentials: grpc.ServerCredentials | None) -> int:
        """Listen on ``address``; returns the bound port (useful with port 0)."""
        if credentials is None:
            return int(self.server.add_insecure_port(address))
        return int(self.server.add_secure_port(address, credentials))

    async def start(self) -> None:
        """Start serving and keep readiness current."""
        reflection.enable_server_reflection(self._service_names, self.server)
        await self.health.set(LIVENESS, _SERVING)
        await self._refresh_readiness()
        await self.server.start()
        self._probe_task = asyncio.create_task(self._watch_readiness())

    async def _refresh_readiness(self) -> None:
        passing = not self._draining and all(
            await asyncio.gather(*(probe() for probe in self._probes))
        )
        # A drain may have begun while the probes ran; it must win.
        ready = passing and not self._draining
        status = _SERVING if ready else _NOT_SERVING
        await self.health.set(READINESS, status)
        await self.health.set("", status)

    async def _watch_readiness(self) -> None:
        while True:
            await asyncio.sleep(self._probe_interval)
            await self._refresh_readiness()

    async def report_draining(self) -> None:
        """Report NOT_SERVING from now on; the server itself keeps answering."""
        self._draining = True
        await self._refresh_readiness()

    async def drain_and_stop(self, grace: float) -> None:
        """Report NOT_SERVING, let in-flight calls finish for ``grace`` s, stop."""
        await self.report_draining()
        if self._probe_task is not None:
            self._probe_task.cancel()
        await self.server.stop(grace)
        logger.info("server stopped", extra={"service": self.name})
