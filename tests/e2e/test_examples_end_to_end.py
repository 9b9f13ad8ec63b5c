"""The README's examples, and the errors a client meets, against `portcert up`."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid

import grpc
import jwt
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from portcert.audit.v1 import audit_service_pb2 as audit_pb
from portcert.certification.v1 import certification_service_pb2 as cert_pb
from portcert.verification.v1 import verification_pb2 as pb
from portcert.verification.v1 import verification_service_pb2 as service_pb
from portcert_runtime.auth import Role
from portcert_runtime.rabbitmq import EXPEDITED_QUEUE, STANDARD_QUEUE

from .clients import Clients, bearer, load_example
from .running_system import EXAMPLES_DIR, SystemLayout

pytestmark = pytest.mark.slow

PASSING_CONTAINER = "CSQU3054383"
# Each failing example breaks one rule: (check that fails, rule id it names).
FAILING_EXAMPLES = {
    "bad-check-digit.json": (pb.CHECK_TYPE_COMPLIANCE_CHECK, "iso6346.check_digit"),
    "unknown-hs-code.json": (pb.CHECK_TYPE_MANIFEST_VERIFICATION, "hs.code_unknown"),
    "expired-document.json": (pb.CHECK_TYPE_DOCUMENT_AUTHENTICITY, "documents.expired"),
    "totals-mismatch.json": (
        pb.CHECK_TYPE_MANIFEST_VERIFICATION,
        "manifest.total_weight_mismatch",
    ),
    "missing-document.json": (
        pb.CHECK_TYPE_DOCUMENT_COMPLETENESS,
        "documents.required",
    ),
}
BEFORE_FINAL = frozenset(
    {pb.VERIFICATION_STATUS_PENDING, pb.VERIFICATION_STATUS_IN_PROGRESS}
)
E = audit_pb.AuditEventType


def test_every_example_file_has_an_expected_outcome() -> None:
    shipped = {path.name for path in EXAMPLES_DIR.iterdir()}

    assert shipped == {"passing.json", *FAILING_EXAMPLES}


def _assert_progressed_to(states: list[pb.VerificationState], final: int) -> None:
    """The stream moved forward only, through non-final states, to ``final``."""
    statuses = [state.status for state in states]
    assert statuses[-1] == final, states[-1]
    assert set(statuses[:-1]) <= BEFORE_FINAL, statuses
    assert statuses[:-1] == sorted(statuses[:-1]), statuses


def _failed_checks(state: pb.VerificationState) -> dict[int, set[str]]:
    return {
        check.check_type: {finding.rule for finding in check.findings}
        for check in state.result.checks
        if not check.passed
    }


def _violations(error: grpc.aio.AioRpcError) -> dict[str, str]:
    status = rpc_status.from_call(error)
    assert status is not None, "the error carries no google.rpc.Status"
    violations: dict[str, str] = {}
    for detail in status.details:
        bad_request = error_details_pb2.BadRequest()
        if detail.Unpack(bad_request):
            violations.update(
                (v.field, v.description) for v in bad_request.field_violations
            )
    return violations


@pytest.mark.parametrize("example", sorted(FAILING_EXAMPLES))
async def test_failing_example_fails_on_its_check_and_rule(
    clients: Clients, system: SystemLayout, example: str
) -> None:
    token = system.mint_token(Role.OPERATOR)
    expected_check, expected_rule = FAILING_EXAMPLES[example]

    request_id = await clients.submit(load_example(example), token)
    states = await clients.watch_to_end(request_id, token)

    _assert_progressed_to(states, pb.VERIFICATION_STATUS_FAILED)
    final = states[-1]
    assert _failed_checks(final) == {expected_check: {expected_rule}}
    assert not final.certification_id


async def test_passing_example_passes_every_check_and_is_certified(
    clients: Clients, system: SystemLayout
) -> None:
    token = system.mint_token(Role.OPERATOR)

    request_id = await clients.submit(load_example("passing.json"), token)
    states = await clients.watch_to_end(request_id, token)

    _assert_progressed_to(states, pb.VERIFICATION_STATUS_PASSED)
    final = states[-1]
    assert len(final.result.checks) == 4
    assert all(check.passed for check in final.result.checks)
    assert uuid.UUID(final.certification_id)
    assert (await clients.get_status(request_id, token)) == final


def _jwk_thumbprint(jwk: dict[str, str]) -> str:
    members = json.dumps(
        {name: jwk[name] for name in ("crv", "kty", "x")},
        separators=(",", ":"),
        sort_keys=True,
    )
    digest = hashlib.sha256(members.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


async def _certified_passing_request(
    clients: Clients, system: SystemLayout
) -> tuple[str, cert_pb.Certification]:
    token = system.mint_token(Role.OPERATOR)
    request_id = await clients.submit(load_example("passing.json"), token)
    final = (await clients.watch_to_end(request_id, token))[-1]
    assert final.status == pb.VERIFICATION_STATUS_PASSED, final
    certification = await clients.get_certification(final.certification_id, token)
    return request_id, certification


async def test_certification_signature_verifies_with_the_published_key(
    clients: Clients, system: SystemLayout
) -> None:
    request_id, certification = await _certified_passing_request(clients, system)

    keys = await clients.certification.ListSigningKeys(cert_pb.ListSigningKeysRequest())

    published = {key.key_id: key for key in keys.signing_keys}
    assert certification.signing_key_id in published
    jwk = json.loads(published[certification.signing_key_id].jwk)
    assert _jwk_thumbprint(jwk) == certification.signing_key_id
    decoded = jwt.PyJWS().decode_complete(
        certification.digital_signature,
        key=jwt.PyJWK(jwk).key,
        algorithms=["EdDSA"],
    )
    assert decoded["header"]["kid"] == certification.signing_key_id
    claims = json.loads(decoded["payload"])
    assert claims["certification_id"] == certification.certification_id
    assert claims["request_id"] == request_id
    assert claims["container_id"] == PASSING_CONTAINER
    assert certification.status == cert_pb.CERTIFICATION_STATUS_ACTIVE


async def test_certification_pdf_is_served_and_is_the_blob_its_uri_names(
    clients: Clients, system: SystemLayout
) -> None:
    _, certification = await _certified_passing_request(clients, system)
    key = f"certifications/{certification.certification_id}.pdf"

    pdf = await clients.certification.GetCertificationPdf(
        cert_pb.GetCertificationPdfRequest(
            certification_id=certification.certification_id
        ),
        metadata=bearer(system.mint_token(Role.VIEWER)),
    )

    assert pdf.content_type == "application/pdf"
    assert pdf.data.startswith(b"%PDF")
    uri, stored = system.stored_blob(key)
    assert stored == pdf.data
    assert certification.certificate_pdf_uri == uri


async def test_external_system_queues_in_its_vhost_and_counts_in_its_redis(
    clients: Clients, system: SystemLayout
) -> None:
    if system.external is None:
        pytest.skip(
            "the embedded default queues jobs in PostgreSQL and counts "
            "submissions in the verifier process"
        )
    token = system.mint_token(Role.OPERATOR, subject="e2e-counted")

    request_id = await clients.submit(load_example("passing.json"), token)
    states = await clients.watch_to_end(request_id, token)

    assert states[-1].status == pb.VERIFICATION_STATUS_PASSED
    assert {STANDARD_QUEUE, EXPEDITED_QUEUE} <= system.external.queue_names()
    assert system.external.rate_limit_keys("e2e-counted")


async def test_revoked_certification_no_longer_verifies_and_is_audited_in_order(
    clients: Clients, system: SystemLayout
) -> None:
    request_id, certification = await _certified_passing_request(clients, system)
    presented = cert_pb.VerifyCertificationRequest(
        digital_signature=certification.digital_signature
    )
    before = await clients.certification.VerifyCertification(presented)

    await clients.certification.RevokeCertification(
        cert_pb.RevokeCertificationRequest(
            certification_id=certification.certification_id,
            reason="seal found broken at the gate",
        ),
        metadata=bearer(system.mint_token(Role.CERTIFICATION_AUTHORITY)),
    )

    assert before.valid, before
    assert before.signature_valid, before
    after = await clients.certification.VerifyCertification(presented)
    assert not after.valid
    assert after.signature_valid
    assert any("revoked" in problem.lower() for problem in after.problems), after
    reread = await clients.get_certification(
        certification.certification_id, system.mint_token(Role.VIEWER)
    )
    assert reread.status == cert_pb.CERTIFICATION_STATUS_REVOKED
    assert reread.revocation.reason == "seal found broken at the gate"
    events = await clients.audit_events(
        system.mint_token(Role.ADMINISTRATOR), container_id=PASSING_CONTAINER
    )
    assert [e.event_type for e in events if e.request_id == request_id] == [
        E.AUDIT_EVENT_TYPE_VERIFICATION_REQUEST_SUBMITTED,
        E.AUDIT_EVENT_TYPE_VERIFICATION_IN_PROGRESS,
        E.AUDIT_EVENT_TYPE_CERTIFICATION_ISSUED,
        E.AUDIT_EVENT_TYPE_VERIFICATION_COMPLETED,
        E.AUDIT_EVENT_TYPE_CERTIFICATION_REVOKED,
    ]
    of_certification = [
        e.event_type
        for e in events
        if e.certification_id == certification.certification_id
    ]
    assert of_certification == [
        E.AUDIT_EVENT_TYPE_CERTIFICATION_ISSUED,
        E.AUDIT_EVENT_TYPE_VERIFICATION_COMPLETED,
        E.AUDIT_EVENT_TYPE_CERTIFICATION_RETRIEVED,
        E.AUDIT_EVENT_TYPE_CERTIFICATION_REVOKED,
        E.AUDIT_EVENT_TYPE_CERTIFICATION_RETRIEVED,
    ]


async def test_viewer_is_denied_audit_log_and_submission_and_denials_are_audited(
    clients: Clients, system: SystemLayout
) -> None:
    viewer = system.mint_token(Role.VIEWER, subject="e2e-viewer")

    with pytest.raises(grpc.aio.AioRpcError) as audit_denied:
        await clients.audit_events(viewer)
    with pytest.raises(grpc.aio.AioRpcError) as submit_denied:
        await clients.submit(load_example("passing.json"), viewer)

    assert audit_denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert submit_denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    events = await clients.audit_events(
        system.mint_token(Role.ADMINISTRATOR), user_id="e2e-viewer"
    )
    denied_methods = {
        event.details["method"].rsplit("/", 1)[-1]
        for event in events
        if event.event_type == E.AUDIT_EVENT_TYPE_AUTHORIZATION_DENIED
    }
    assert denied_methods == {"ListAuditEvents", "SubmitVerification"}
    assert all(e.outcome == audit_pb.AUDIT_OUTCOME_DENIED for e in events)


async def test_call_without_token_is_unauthenticated(clients: Clients) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as submit_error:
        await clients.verification.SubmitVerification(load_example("passing.json"))
    with pytest.raises(grpc.aio.AioRpcError) as audit_error:
        await clients.audit.ListAuditEvents(audit_pb.ListAuditEventsRequest())

    assert submit_error.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert audit_error.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_unknown_request_id_is_not_found(
    clients: Clients, system: SystemLayout
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await clients.get_status(str(uuid.uuid4()), system.mint_token(Role.OPERATOR))

    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


async def test_request_id_that_is_not_a_uuid_is_invalid_naming_the_field(
    clients: Clients, system: SystemLayout
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await clients.get_status("not-a-uuid", system.mint_token(Role.OPERATOR))

    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(_violations(caught.value)) == {"request_id"}


async def test_malformed_submission_is_rejected_naming_each_bad_field(
    clients: Clients, system: SystemLayout
) -> None:
    request = load_example("passing.json")
    request.container_id = "CSQ-3054383"
    request.manifest.items[0].weight.value = "-500.5"

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await clients.submit(request, system.mint_token(Role.OPERATOR))

    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    violations = _violations(caught.value)
    assert set(violations) == {"container_id", "manifest.items[0].weight.value"}
    assert "negative" in violations["manifest.items[0].weight.value"]


async def test_same_idempotency_key_gives_same_request_and_other_body_is_refused(
    clients: Clients, system: SystemLayout
) -> None:
    token = system.mint_token(Role.OPERATOR, subject="e2e-terminal")
    request = load_example("passing.json")
    request.idempotency_key = f"tos-{uuid.uuid4()}"
    changed = service_pb.SubmitVerificationRequest()
    changed.CopyFrom(request)
    changed.manifest.items[0].description = "Processors, reel packed"

    first = await clients.submit(request, token)
    second = await clients.submit(request, token)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await clients.submit(changed, token)

    assert second == first
    assert caught.value.code() == grpc.StatusCode.ALREADY_EXISTS
    states = await clients.watch_to_end(first, token)
    assert states[-1].status == pb.VERIFICATION_STATUS_PASSED


async def test_audit_verify_command_reports_the_chain_intact(
    clients: Clients, system: SystemLayout
) -> None:
    token = system.mint_token(Role.OPERATOR)
    request_id = await clients.submit(load_example("bad-check-digit.json"), token)
    await clients.watch_to_end(request_id, token)

    result = system.run_cli(
        ["audit", "verify"], {"PORTCERT_DATABASE_URL": system.database_url}
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("audit chain intact:"), result.stdout
    checked = int(result.stdout.split(":")[1].split()[0])
    assert checked >= 3
