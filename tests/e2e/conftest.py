"""Fixtures that run the real system with `portcert up`, as its README does.

Each system runs on the backends ``E2E_BACKENDS`` selects (see ``backends``).
"""

from __future__ import annotations

import functools
import os
from collections.abc import AsyncIterator, Iterable, Iterator

import pytest

from .backends import (
    BackendKind,
    BackendProvisioner,
    embedded_backends,
    external_backends,
    running_moto_server,
    selected_backends,
)
from .clients import Clients, connect
from .running_system import (
    Launcher,
    PortcertProcess,
    SystemLayout,
    fresh_layout,
    stop_cleanly,
)

BACKENDS = selected_backends(os.environ)


@pytest.fixture(scope="session")
def provision_backends() -> Iterator[BackendProvisioner]:
    """What sets up each system's backing servers; external ones share one moto."""
    if BACKENDS is BackendKind.EMBEDDED:
        yield embedded_backends
        return
    with running_moto_server() as s3_endpoint:
        yield functools.partial(external_backends, s3_endpoint)


@pytest.fixture(scope="module")
def portcert_up(provision_backends: BackendProvisioner) -> Iterator[PortcertProcess]:
    """The whole system on a fresh data directory, shared by one test module."""
    with fresh_layout(provision_backends) as layout:
        process = PortcertProcess(layout)
        process.start()
        try:
            yield process
        finally:
            assert process.returncode is None, (
                f"portcert up died during the tests; its output:\n{process.output}"
            )
            stop_cleanly(process)


@pytest.fixture(scope="module")
def system(portcert_up: PortcertProcess) -> SystemLayout:
    """Where the module's system keeps its data and listens."""
    return portcert_up.layout


@pytest.fixture
async def clients(
    request: pytest.FixtureRequest, portcert_up: PortcertProcess
) -> AsyncIterator[Clients]:
    """Stubs for the module's system, on a channel of this test's event loop.

    A failed test's report shows what the system logged while it ran.
    """
    first_line = portcert_up.line_count
    async with connect(portcert_up.layout) as opened:
        yield opened
    request.node.add_report_section(
        "call", "portcert up", portcert_up.diagnostics(first_line)
    )


@pytest.fixture
def layout(provision_backends: BackendProvisioner) -> Iterator[SystemLayout]:
    """A fresh data directory and ports for a test that runs systems itself."""
    with fresh_layout(provision_backends) as fresh:
        yield fresh


@pytest.fixture
def launch(request: pytest.FixtureRequest, layout: SystemLayout) -> Iterator[Launcher]:
    """Start ``portcert up`` on ``layout``; whatever still runs is killed after."""
    started: list[PortcertProcess] = []

    def start(services: Iterable[str] = ()) -> PortcertProcess:
        process = PortcertProcess(layout, services)
        started.append(process)
        process.start()
        return process

    yield start
    for number, process in enumerate(started, start=1):
        if process.returncode is None:
            process.kill()
        request.node.add_report_section(
            "call", f"portcert up #{number}", process.diagnostics()
        )
