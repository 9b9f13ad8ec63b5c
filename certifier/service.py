"""The CertificationService: issues, serves, verifies and revokes certifications."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import grpc
from google.api import httpbody_pb2
from google.protobuf import json_format
from stdnum import iso6346

from certifier import store
from certifier.model import (
    CertificationAlreadyRevoked,
    CertificationClaims,
    CertificationRuleError,
    CertificationStatus,
    CheckSummary,
    new_certification,
    new_certification_claims,
    revoke_certification,
)
from certifier.pdf import render_certificate_pdf
from certifier.signing import (
    SignatureInvalid,
    SigningKey,
    public_jwk,
    public_key_pem,
    sign_claims,
    verify_signature,
)
from portcert.certification.v1 import certification_service_pb2 as pb
from portcert.certification.v1 import certification_service_pb2_grpc as pb_grpc
from portcert.verification.v1 import verification_pb2
from portcert_runtime import metrics
from portcert_runtime.audit import Actor, AuditLog, EventType
from portcert_runtime.auth import Role
from portcert_runtime.blobs import (
    BlobNotFound,
    BlobStore,
    PresignedDownloads,
    certification_pdf_key,
)
from portcert_runtime.database import Database
from portcert_runtime.errors import (
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
)
from portcert_runtime.fields import is_plain_text, timestamp, uuid_field
from portcert_runtime.rpc import ALL_ROLES, MethodPolicy, caller

_SERVICE = "/portcert.certification.v1.CertificationService/"
_AUTHORITIES = frozenset({Role.CERTIFICATION_AUTHORITY, Role.ADMINISTRATOR})

# The seed's permission matrix: every authenticated user reads certifications,
# authorities issue and revoke; keys and offline verification are public.
METHOD_POLICIES = {
    _SERVICE + "IssueCertification": MethodPolicy(_AUTHORITIES),
    _SERVICE + "GetCertification": MethodPolicy(ALL_ROLES),
    _SERVICE + "RevokeCertification": MethodPolicy(_AUTHORITIES),
    _SERVICE + "ListCertifications": MethodPolicy(ALL_ROLES),
    _SERVICE + "GetCertificationPdf": MethodPolicy(ALL_ROLES),
    _SERVICE + "ListSigningKeys": MethodPolicy(None),
    _SERVICE + "VerifyCertification": MethodPolicy(None),
}

_STATUS_TO_PROTO = {
    CertificationStatus.ACTIVE: pb.CERTIFICATION_STATUS_ACTIVE,
    CertificationStatus.REVOKED: pb.CERTIFICATION_STATUS_REVOKED,
    CertificationStatus.EXPIRED: pb.CERTIFICATION_STATUS_EXPIRED,
}
_METADATA = {"standard": "ISO 28000", "version": "1.0"}
_MAX_REASON_LENGTH = 1000
_DEFAULT_PAGE_SIZE = 20
_MAX_PAGE_SIZE = 100


def _to_proto(stored: store.StoredCertification, now: datetime) -> pb.Certification:
    certification = stored.certification
    message = pb.Certification(
        certification_id=str(certification.certification_id),
        container_id=certification.container_id,
        request_id=str(certification.request_id),
        issued_at=timestamp(certification.issued_at),
        expires_at=timestamp(certification.expires_at),
        issued_by=certification.issued_by,
        issuing_officer=certification.issuing_officer,
        issuing_officer_id=certification.issuing_officer_id,
        digital_signature=certification.digital_signature,
        signature_algorithm=certification.signature_algorithm,
        signing_key_id=certification.signing_key_id,
        certificate_pdf_uri=certification.pdf_uri,
        status=_STATUS_TO_PROTO[certification.status_at(now)],
        metadata=certification.metadata,
    )
    json_format.ParseDict(dict(stored.verification_result), message.verification_result)
    if certification.revocation is not None:
        message.revocation.CopyFrom(
            pb.Revocation(
                reason=certification.revocation.reason,
                revoked_by=certification.revocation.revoked_by,
                revoked_at=timestamp(certification.revocation.revoked_at),
            )
        )
    return message


class CertificationService(pb_grpc.CertificationServiceServicer):
    """Issues certifications for passed requests and manages them afterwards."""

    def __init__(
        self,
        database: Database,
        blobs: BlobStore,
        signer: SigningKey,
        audit: AuditLog,
        issuing_authority: str,
    ) -> None:
        """Create over the database, blob store and signing key."""
        self._database = database
        self._blobs = blobs
        self._signer = signer
        self._audit = audit
        self._issuing_authority = issuing_authority

    async def IssueCertification(
        self, request: pb.IssueCertificationRequest, context: grpc.aio.ServicerContext
    ) -> pb.IssueCertificationResponse:
        """Sign, render and store a certification, once per request."""
        principal = caller()
        request_id = uuid_field("request_id", request.request_id)
        result = request.verification_result
        if result.status != verification_pb2.VERIFICATION_STATUS_PASSED:
            raise FailedPrecondition("only a PASSED verification can be certified")
        existing = await store.get_by_request(self._database.writer, request_id)
        if existing is not None:
            return pb.IssueCertificationResponse(
                certification=_to_proto(existing, datetime.now(UTC))
            )
        await self._require_certifiable(request_id, request.container_id)
        checks = [
            CheckSummary(
                verification_pb2.CheckType.Name(check.check_type).removeprefix(
                    "CHECK_TYPE_"
                ),
                check.passed,
                check.details,
            )
            for check in result.checks
        ]
        try:
            claims = new_certification_claims(
                certification_id=uuid.uuid4(),
                container_id=request.container_id,
                request_id=request_id,
                issued_at=datetime.now(UTC),
                issued_by=self._issuing_authority,
                issuing_officer_id=principal.subject,
                checks=checks,
                risk_score=result.risk_score,
                kid=self._signer.key_id,
            )
        except CertificationRuleError as err:
            raise InvalidArgument([FieldViolation(err.field, err.rule)]) from err
        certification = new_certification(
            claims,
            checks=checks,
            issuing_officer=principal.name,
            signature_algorithm=self._signer.algorithm,
            digital_signature=sign_claims(claims.to_json_object(), self._signer),
            pdf_uri="pending",
            metadata=_METADATA,
        )
        pdf = await asyncio.to_thread(render_certificate_pdf, certification)
        pdf_uri = await self._blobs.put(
            certification_pdf_key(str(claims.certification_id)), pdf, "application/pdf"
        )
        certification = dataclasses.replace(certification, pdf_uri=pdf_uri)
        result_json = json_format.MessageToDict(result)
        async with self._database.transaction() as connection:
            inserted = await store.insert(connection, certification, result_json)
            if inserted:
                await self._audit.record(
                    connection,
                    EventType.CERTIFICATION_ISSUED,
                    Actor.of(principal),
                    container_id=certification.container_id,
                    request_id=request_id,
                    certification_id=certification.certification_id,
                )
        if inserted:
            metrics.CERTIFICATIONS_ISSUED.inc()
            stored = store.StoredCertification(certification, result_json)
        else:
            # A concurrent issue for the same request won; answer with its
            # certification, as a repeated issue would get.
            winner = await store.get_by_request(self._database.writer, request_id)
            assert winner is not None
            stored = winner
        return pb.IssueCertificationResponse(
            certification=_to_proto(stored, datetime.now(UTC))
        )

    async def _require_certifiable(
        self, request_id: uuid.UUID, container_id: str
    ) -> None:
        # The caller's word is not enough: only a request whose own recorded
        # checks all passed can be certified, and only for its own container.
        verified = await store.verified_request(self._database.writer, request_id)
        if verified is None:
            raise NotFound(f"no verification request {request_id}")
        if verified.container_id != container_id:
            raise InvalidArgument(
                [
                    FieldViolation(
                        "container_id",
                        "must be the container of the verification request",
                    )
                ]
            )
        if not verified.certifiable:
            raise FailedPrecondition(
                f"verification request {request_id} has not passed all four checks"
            )

    async def GetCertification(
        self, request: pb.GetCertificationRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetCertificationResponse:
        """A certification by id, with its current status."""
        stored = await self._load(request.certification_id)
        await self._audit.record(
            self._database.writer,
            EventType.CERTIFICATION_RETRIEVED,
            Actor.of(caller()),
            container_id=stored.certification.container_id,
            certification_id=stored.certification.certification_id,
        )
        certification = _to_proto(stored, datetime.now(UTC))
        if isinstance(self._blobs, PresignedDownloads):
            certification.pdf_download_url = await self._blobs.presigned_url(
                certification_pdf_key(certification.certification_id)
            )
        return pb.GetCertificationResponse(certification=certification)

    async def RevokeCertification(
        self, request: pb.RevokeCertificationRequest, context: grpc.aio.ServicerContext
    ) -> pb.RevokeCertificationResponse:
        """Revoke an active certification, recording the reason."""
        principal = caller()
        certification_id = uuid_field("certification_id", request.certification_id)
        reason = request.reason.strip()
        if not is_plain_text(reason, allow_line_breaks=True):
            raise InvalidArgument(
                [FieldViolation("reason", "must not contain control characters")]
            )
        if not reason or len(reason) > _MAX_REASON_LENGTH:
            raise InvalidArgument(
                [
                    FieldViolation(
                        "reason", f"must be 1 to {_MAX_REASON_LENGTH} characters"
                    )
                ]
            )
        async with self._database.transaction() as connection:
            stored = await store.get(connection, certification_id, for_update=True)
            if stored is None:
                raise NotFound(f"no certification {certification_id}")
            try:
                revoked = revoke_certification(
                    stored.certification,
                    reason=reason,
                    revoked_by=principal.subject,
                    revoked_at=datetime.now(UTC),
                )
            except CertificationAlreadyRevoked as err:
                raise FailedPrecondition(str(err)) from err
            await store.save_revocation(connection, revoked)
            await self._audit.record(
                connection,
                EventType.CERTIFICATION_REVOKED,
                Actor.of(principal),
                container_id=revoked.container_id,
                request_id=revoked.request_id,
                certification_id=certification_id,
                details={"reason": reason},
            )
        updated = dataclasses.replace(stored, certification=revoked)
        return pb.RevokeCertificationResponse(
            certification=_to_proto(updated, datetime.now(UTC))
        )

    async def ListCertifications(
        self, request: pb.ListCertificationsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListCertificationsResponse:
        """A container's certifications, newest first."""
        container_id = request.container_id.replace(" ", "").upper()
        violations = []
        if not iso6346.is_valid(container_id):
            violations.append(
                FieldViolation("container_id", "must be an ISO 6346 container number")
            )
        if not 0 <= request.page_size <= _MAX_PAGE_SIZE:
            violations.append(
                FieldViolation("page_size", f"must be 0 to {_MAX_PAGE_SIZE}")
            )
        if violations:
            raise InvalidArgument(violations)
        try:
            page, next_token = await store.list_for_container(
                self._database.reader,
                container_id,
                request.page_size or _DEFAULT_PAGE_SIZE,
                request.page_token,
            )
        except ValueError as err:
            raise InvalidArgument([FieldViolation("page_token", str(err))]) from err
        now = datetime.now(UTC)
        return pb.ListCertificationsResponse(
            certifications=[_to_proto(stored, now) for stored in page],
            next_page_token=next_token,
        )

    async def GetCertificationPdf(
        self, request: pb.GetCertificationPdfRequest, context: grpc.aio.ServicerContext
    ) -> httpbody_pb2.HttpBody:
        """The certification's PDF bytes."""
        stored = await self._load(request.certification_id)
        key = certification_pdf_key(str(stored.certification.certification_id))
        try:
            data = await self._blobs.get(key)
        except BlobNotFound as err:
            raise NotFound(f"the PDF of certification {err} is missing") from err
        return httpbody_pb2.HttpBody(content_type="application/pdf", data=data)

    async def ListSigningKeys(
        self, request: pb.ListSigningKeysRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListSigningKeysResponse:
        """The public half of the signing key."""
        public_key = self._signer.public_key
        jwk: dict[str, Any] = {**public_jwk(public_key), "kid": self._signer.key_id}
        return pb.ListSigningKeysResponse(
            signing_keys=[
                pb.SigningKey(
                    key_id=self._signer.key_id,
                    algorithm=self._signer.algorithm,
                    jwk=json.dumps(jwk, sort_keys=True),
                    public_key_pem=public_key_pem(public_key),
                )
            ]
        )

    async def VerifyCertification(
        self, request: pb.VerifyCertificationRequest, context: grpc.aio.ServicerContext
    ) -> pb.VerifyCertificationResponse:
        """Whether a presented signature is genuine and its certification holds."""
        if not request.digital_signature:
            raise InvalidArgument([FieldViolation("digital_signature", "is required")])
        try:
            payload = verify_signature(
                request.digital_signature,
                {self._signer.key_id: self._signer.public_key},
            )
            claims = CertificationClaims.from_json_object(payload)
        except (SignatureInvalid, CertificationRuleError) as err:
            return pb.VerifyCertificationResponse(
                valid=False, signature_valid=False, problems=[str(err)]
            )
        stored = await self._database.find(
            lambda pool: store.get(pool, claims.certification_id)
        )
        if stored is None:
            return pb.VerifyCertificationResponse(
                valid=False,
                signature_valid=True,
                problems=[f"certification {claims.certification_id} is not on record"],
            )
        now = datetime.now(UTC)
        status = stored.certification.status_at(now)
        problems = []
        if status is not CertificationStatus.ACTIVE:
            problems.append(f"certification is {status.value}")
        # A genuine signature over claims that differ from the record means the
        # record or the key has been tampered with; neither can be trusted.
        if claims != stored.certification.signed_claims():
            problems.append("the signed claims differ from the certification on record")
        return pb.VerifyCertificationResponse(
            valid=not problems,
            signature_valid=True,
            certification=_to_proto(stored, now),
            problems=problems,
        )

    async def _load(self, raw_id: str) -> store.StoredCertification:
        certification_id = uuid_field("certification_id", raw_id)
        # An id just read from a status may not have reached the replica yet.
        stored = await self._database.find(
            lambda pool: store.get(pool, certification_id)
        )
        if stored is None:
            raise NotFound(f"no certification {certification_id}")
        return stored
