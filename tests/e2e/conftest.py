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
def system() -> Iterator[SystemLayout]:
    """The whole system on a fresh data directory, shared by one test module."""
    with fresh_layout() as layout:
        process = PortcertProcess(layout)
        process.start()
        try:
            yield layout
        finally:
            assert process.returncode is None, (
                f"portcert up died during the tests; its output:\n{process.output}"
            )
            stop_cleanly(process)


@pytest.fixture
async def clients(system: SystemLayout) -> AsyncIterator[Clients]:
    """Stubs for the module's system, on channels of this test's event loop."""
    async with connect(system) as opened:
        yield opened


@pytest.fixture
def layout() -> Iterator[SystemLayout]:
    """A fresh data directory and ports for a test that runs systems itself."""
    with fresh_layout() as fresh:
        yield fresh


@pytest.fixture
def launch(layout: SystemLayout) -> Iterator[Launcher]:
    """Start ``portcert up`` on ``layout``; whatever still runs is killed after."""
    started: list[PortcertProcess] = []

    def start(services: Iterable[str] = ()) -> PortcertProcess:
        process = PortcertProcess(layout, services)
        started.append(process)
        process.start()
        return process

    yield start
    for process in started:
        if process.returncode is None:
            process.kill()
