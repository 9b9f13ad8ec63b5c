"""Only a request whose recorded checks all passed can be certified.

A caller with a certification-authority token and a certificate of portcert's
CA reaches IssueCertification directly; what it claims about the verification
must not be enough.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import grpc
import pytest

from portcert.certification.v1 import certification_service_pb2 as cert_pb
from portcert.verification.v1 import verification_pb2 as pb
from portcert_runtime.auth import Role

from .inprocess_system import InProcessSystem, load_example, running_system
from .postgres_processes import MACHINE_POSTGRES, scratch_database

pytestmark = pytest.mark.slow


@pytest.fixture
async def system(tmp_path: Path) -> AsyncIterator[InProcessSystem]:
    async with scratch_database() as name:
        variables = {"PORTCERT_DATABASE_URL": f"{MACHINE_POSTGRES}/{name}"}
        async with running_system(tmp_path, variables, with_worker=True) as running:
            yield running


def _claimed_pass(request_id: str) -> pb.VerificationResult:
    return pb.VerificationResult(
        request_id=request_id,
        status=pb.VERIFICATION_STATUS_PASSED,
        checks=[
            pb.CheckResult(check_type=check, passed=True, details="claimed")
            for check in (
                pb.CHECK_TYPE_DOCUMENT_COMPLETENESS,
                pb.CHECK_TYPE_DOCUMENT_AUTHENTICITY,
                pb.CHECK_TYPE_MANIFEST_VERIFICATION,
                pb.CHECK_TYPE_COMPLIANCE_CHECK,
            )
        ],
        risk_score=0.05,
    )


async def _issue(
    system: InProcessSystem, request_id: str, container_id: str
) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await system.certification.IssueCertification(
            cert_pb.IssueCertificationRequest(
                request_id=request_id,
                container_id=container_id,
                verification_result=_claimed_pass(request_id),
            ),
            metadata=system.bearer(Role.CERTIFICATION_AUTHORITY),
        )
    return refused.value


async def test_a_failed_request_cannot_be_certified_by_claiming_it_passed(
    system: InProcessSystem,
) -> None:
    accepted = await system.verification.SubmitVerification(
        load_example("totals-mismatch.json"), metadata=system.bearer(Role.OPERATOR)
    )
    states = await system.watch_to_end(accepted.request_id)

    refused = await _issue(system, accepted.request_id, "CSQU3054383")

    assert states[-1].status == pb.VERIFICATION_STATUS_FAILED
    assert refused.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_an_unknown_request_cannot_be_certified(system: InProcessSystem) -> None:
    refused = await _issue(system, str(uuid.uuid4()), "CSQU3054383")

    assert refused.code() == grpc.StatusCode.NOT_FOUND


async def test_a_request_cannot_be_certified_for_another_container(
    system: InProcessSystem,
) -> None:
    accepted = await system.verification.SubmitVerification(
        load_example("bad-check-digit.json"), metadata=system.bearer(Role.OPERATOR)
    )
    await system.watch_to_end(accepted.request_id)

    refused = await _issue(system, accepted.request_id, "CSQU3054383")

    assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_a_genuine_signature_over_an_altered_record_does_not_verify(
    system: InProcessSystem,
) -> None:
    accepted = await system.verification.SubmitVerification(
        load_example("passing.json"), metadata=system.bearer(Role.OPERATOR)
    )
    final = (await system.watch_to_end(accepted.request_id))[-1]
    issued = await system.certification.GetCertification(
        cert_pb.GetCertificationRequest(certification_id=final.certification_id),
        metadata=system.bearer(Role.VIEWER),
    )
    assert system.settings.database_url is not None
    connection = await asyncpg.connect(system.settings.database_url.get_secret_value())
    try:
        await connection.execute(
            "UPDATE certifications SET container_id = 'MSCU1234566'"
            " WHERE certification_id = $1",
            uuid.UUID(final.certification_id),
        )
    finally:
        await connection.close()

    verdict = await system.certification.VerifyCertification(
        cert_pb.VerifyCertificationRequest(
            digital_signature=issued.certification.digital_signature
        )
    )

    assert verdict.signature_valid
    assert not verdict.valid
    assert "differ from the certification on record" in " ".join(verdict.problems)
