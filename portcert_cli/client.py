"""Client commands: submit a request from a JSON file and follow it to the end."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import click
import grpc
from google.protobuf import json_format
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from portcert.certification.v1 import certification_service_pb2 as cert_pb
from portcert.certification.v1 import certification_service_pb2_grpc as cert_grpc
from portcert.verification.v1 import verification_pb2 as pb
from portcert.verification.v1 import verification_service_pb2 as service_pb
from portcert.verification.v1 import verification_service_pb2_grpc as service_grpc


class RequestFileError(click.ClickException):
    """The request file cannot be read or parsed."""


def load_request(path: Path) -> service_pb.SubmitVerificationRequest:
    """Parse a SubmitVerificationRequest from its JSON form (camelCase fields)."""
    try:
        return json_format.Parse(
            path.read_text(), service_pb.SubmitVerificationRequest()
        )
    except OSError as err:
        raise RequestFileError(f"cannot read {path}: {err.strerror}") from err
    except json_format.ParseError as err:
        raise RequestFileError(f"{path}: {err}") from err


def describe_rpc_error(error: grpc.aio.AioRpcError) -> str:
    """The status code, message and any field violations, one per line."""
    lines = [f"{error.code().name}: {error.details()}"]
    status = rpc_status.from_call(error)
    for detail in status.details if status else ():
        bad_request = error_details_pb2.BadRequest()
        if detail.Unpack(bad_request):
            lines.extend(
                f"  {violation.field}: {violation.description}"
                for violation in bad_request.field_violations
            )
    return "\n".join(lines)


def _status_name(status: int) -> str:
    return pb.VerificationStatus.Name(status).removeprefix("VERIFICATION_STATUS_")


def format_state(state: pb.VerificationState) -> str:
    """A readable summary of a request's state, with its checks when final."""
    lines = [f"{state.request_id} {state.container_id}: {_status_name(state.status)}"]
    for check in state.result.checks:
        mark = "pass" if check.passed else "FAIL"
        check_name = pb.CheckType.Name(check.check_type).removeprefix("CHECK_TYPE_")
        lines.append(f"  [{mark}] {check_name}: {check.details}")
        lines.extend(
            f"         {finding.field}: {finding.message}" for finding in check.findings
        )
    if state.HasField("result"):
        lines.append(f"  risk score {state.result.risk_score:.2f}")
    if state.error_message:
        lines.append(f"  error: {state.error_message}")
    return "\n".join(lines)


def format_certification(certification: cert_pb.Certification) -> str:
    """A readable summary of a certification."""
    return "\n".join(
        [
            f"certification {certification.certification_id}",
            f"  container   {certification.container_id}",
            f"  issued      {certification.issued_at.ToJsonString()}"
            f" by {certification.issued_by}",
            f"  expires     {certification.expires_at.ToJsonString()}",
            f"  signed by   key {certification.signing_key_id}"
            f" ({certification.signature_algorithm})",
            f"  PDF         {certification.certificate_pdf_uri}",
        ]
    )


@dataclass
class Followed:
    """The last state a followed request reached."""

    state: pb.VerificationState | None = None

    @property
    def passed(self) -> bool:
        """Whether the request ended certified."""
        return (
            self.state is not None
            and self.state.status == pb.VERIFICATION_STATUS_PASSED
        )


async def submit_and_follow(
    gateway_address: str,
    gateway_ca: bytes | None,
    token: str,
    request: service_pb.SubmitVerificationRequest,
    followed: Followed | None = None,
) -> AsyncIterator[str]:
    """Submit ``request`` through the gateway; yield lines describing its progress."""
    metadata = (("authorization", f"Bearer {token}"),)
    channel = (
        grpc.aio.secure_channel(
            gateway_address, grpc.ssl_channel_credentials(root_certificates=gateway_ca)
        )
        if gateway_ca
        else grpc.aio.insecure_channel(gateway_address)
    )
    async with channel:
        verifier = service_grpc.VerificationServiceStub(channel)
        accepted = await verifier.SubmitVerification(request, metadata=metadata)
        yield f"accepted request {accepted.request_id}"
        if followed is None:
            return
        final: pb.VerificationState | None = None
        async for update in verifier.WatchVerificationStatus(
            service_pb.WatchVerificationStatusRequest(request_id=accepted.request_id),
            metadata=metadata,
        ):
            final = followed.state = update.state
            yield format_state(update.state)
        if final is None or not final.certification_id:
            return
        certifier = cert_grpc.CertificationServiceStub(channel)
        response = await certifier.GetCertification(
            cert_pb.GetCertificationRequest(certification_id=final.certification_id),
            metadata=metadata,
        )
        yield format_certification(response.certification)
