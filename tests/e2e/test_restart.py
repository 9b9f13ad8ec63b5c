"""What survives a crash and a clean restart of `portcert up`."""

from __future__ import annotations

import pytest

from portcert.certification.v1 import certification_service_pb2 as cert_pb
from portcert.verification.v1 import verification_pb2 as pb
from portcert_runtime.auth import Role

from .clients import bearer, connect, load_example
from .running_system import (
    Launcher,
    SystemLayout,
    database_is_running,
    stop_cleanly,
)

pytestmark = pytest.mark.slow

PASSING_CONTAINER = "CSQU3054383"


async def test_requests_queued_before_a_crash_are_finished_after_restart(
    layout: SystemLayout, launch: Launcher
) -> None:
    # Clients reach the services through the gateway; only the worker is left out.
    without_worker = launch(services=("certifier", "verifier", "gateway"))
    token = layout.mint_token(Role.OPERATOR)
    async with connect(layout) as clients:
        passing = await clients.submit(load_example("passing.json"), token)
        failing = await clients.submit(load_example("bad-check-digit.json"), token)
        queued = [await clients.get_status(rid, token) for rid in (passing, failing)]
    without_worker.kill()

    restarted = launch()
    async with connect(layout) as clients:
        passing_states = await clients.watch_to_end(passing, token)
        failing_states = await clients.watch_to_end(failing, token)
        certifications = await clients.certifications_of(PASSING_CONTAINER, token)

    assert [state.status for state in queued] == [pb.VERIFICATION_STATUS_PENDING] * 2
    assert passing_states[-1].status == pb.VERIFICATION_STATUS_PASSED
    assert failing_states[-1].status == pb.VERIFICATION_STATUS_FAILED
    assert [c.request_id for c in certifications] == [passing]
    assert certifications[0].certification_id == passing_states[-1].certification_id
    assert restarted.interrupt() == 0, restarted.output


async def test_certification_is_still_served_after_a_clean_restart(
    layout: SystemLayout, launch: Launcher
) -> None:
    first = launch()
    token = layout.mint_token(Role.OPERATOR)
    async with connect(layout) as clients:
        request_id = await clients.submit(load_example("passing.json"), token)
        final = (await clients.watch_to_end(request_id, token))[-1]
        issued = await clients.get_certification(final.certification_id, token)
    stop_cleanly(first)

    second = launch()
    async with connect(layout) as clients:
        reread = await clients.get_certification(issued.certification_id, token)
        pdf = await clients.certification.GetCertificationPdf(
            cert_pb.GetCertificationPdfRequest(
                certification_id=issued.certification_id
            ),
            metadata=bearer(token),
        )
        verdict = await clients.certification.VerifyCertification(
            cert_pb.VerifyCertificationRequest(
                digital_signature=issued.digital_signature
            )
        )
        state = await clients.get_status(request_id, token)

    assert reread.digital_signature == issued.digital_signature
    assert reread.status == cert_pb.CERTIFICATION_STATUS_ACTIVE
    assert pdf.data.startswith(b"%PDF")
    assert verdict.valid, verdict.problems
    assert state.status == pb.VERIFICATION_STATUS_PASSED
    assert state.certification_id == issued.certification_id
    stop_cleanly(second)


def test_clean_stop_after_a_crash_also_stops_the_database(
    layout: SystemLayout, launch: Launcher
) -> None:
    if layout.external is not None:
        pytest.skip("portcert up neither starts nor stops an external PostgreSQL")
    launch(services=("certifier",)).kill()
    restarted = launch(services=("certifier",))

    code = restarted.interrupt()

    assert code == 0, restarted.output
    assert not database_is_running(layout)
