"""Values a database cannot store are refused at the edge, naming the field."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from portcert.audit.v1 import audit_service_pb2 as audit_pb
from portcert.certification.v1 import certification_service_pb2 as cert_pb
from portcert_runtime.auth import Role

from .inprocess_system import InProcessSystem, load_example, running_system
from .postgres_processes import MACHINE_POSTGRES, scratch_database

pytestmark = pytest.mark.slow


@pytest.fixture
async def system(tmp_path: Path) -> AsyncIterator[InProcessSystem]:
    async with scratch_database() as name:
        variables = {"PORTCERT_DATABASE_URL": f"{MACHINE_POSTGRES}/{name}"}
        async with running_system(tmp_path, variables, with_worker=False) as running:
            yield running


async def _refusal(call: object) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await call  # type: ignore[misc]
    return refused.value


async def test_revocation_reason_with_a_nul_is_invalid_naming_reason(
    system: InProcessSystem,
) -> None:
    refused = await _refusal(
        system.certification.RevokeCertification(
            cert_pb.RevokeCertificationRequest(
                certification_id=str(uuid.uuid4()), reason="seal\x00broken"
            ),
            metadata=system.bearer(Role.ADMINISTRATOR),
        )
    )

    assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "reason" in (refused.details() or "")


async def test_audit_filters_that_cannot_match_are_invalid_naming_them(
    system: InProcessSystem,
) -> None:
    refused = await _refusal(
        system.audit.ListAuditEvents(
            audit_pb.ListAuditEventsRequest(container_id="\x00", user_id="a\x00b"),
            metadata=system.bearer(Role.ADMINISTRATOR),
        )
    )

    assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "container_id" in (refused.details() or "")
    assert "user_id" in (refused.details() or "")


@pytest.mark.parametrize("subject", ["x" * 256, "line\nbreak"])
async def test_token_subject_that_cannot_be_an_actor_is_unauthenticated(
    system: InProcessSystem, subject: str
) -> None:
    refused = await _refusal(
        system.verification.SubmitVerification(
            load_example("passing.json"),
            metadata=system.bearer(Role.OPERATOR, subject=subject),
        )
    )

    assert refused.code() == grpc.StatusCode.UNAUTHENTICATED
