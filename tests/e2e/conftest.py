"""Fixtures that run the real system with `portcert up`, as its README does."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator

import pytest

from .clients import Clients, connect
from .running_system import (
    Launcher,
    PortcertProcess,
    SystemLayout,
    fresh_layout,
    stop_cleanly,
)


@pytest.fixture(scope="module")
def portcert_up() -> Iterator[PortcertProcess]:
    """The whole system on a fresh data directory, shared by one test module."""
    with fresh_layout() as layout:
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
def layout() -> Iterator[SystemLayout]:
    """A fresh data directory and ports for a test that runs systems itself."""
    with fresh_layout() as fresh:
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
