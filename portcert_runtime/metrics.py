"""Prometheus metrics shared by every process, and the HTTP server that shows them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from prometheus_client import Counter, Gauge, Histogram, start_http_server

logger = logging.getLogger(__name__)

RPC_DURATION = Histogram(
    "portcert_rpc_duration_seconds",
    "Time spent handling an RPC, by method and status code.",
    ["method", "code"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
VERIFICATIONS_COMPLETED = Counter(
    "portcert_verifications_completed_total",
    "Verification requests that reached a final status, by status.",
    ["status"],
)
VERIFICATION_DURATION = Histogram(
    "portcert_verification_duration_seconds",
    "Time from dequeue to final status of a verification request.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 15),
)
CERTIFICATIONS_ISSUED = Counter(
    "portcert_certifications_issued_total", "Certifications issued."
)
STATUS_WATCHERS = Gauge(
    "portcert_status_watchers", "Open WatchVerificationStatus streams."
)


@contextlib.asynccontextmanager
async def serving_metrics(host: str, port: int) -> AsyncIterator[None]:
    """Serve every metric of this process at ``http://host:port/metrics``.

    prometheus_client's own server answers from a thread of its own, so a
    scrape costs the event loop nothing. Port 0 serves nothing: metrics are
    off unless a port is configured.

    Raises:
        OSError: the port cannot be bound.
    """
    if port == 0:
        yield
        return
    server, thread = start_http_server(port, addr=host)
    logger.info("metrics listening", extra={"address": f"{host}:{port}"})
    try:
        yield
    finally:
        await asyncio.to_thread(server.shutdown)
        server.server_close()
        thread.join()
