"""The boundary of every RPC: identity, permissions, error mapping, logging.

One interceptor wraps each portcert method. It authenticates the caller,
checks the method's roles, makes the caller available to the handler through
``current_principal``, turns ``PortcertError`` into the matching gRPC status
(with ``google.rpc.BadRequest`` details for invalid arguments), hides any other
exception behind INTERNAL, and logs one line per call.
"""

from __future__ import annotations

import contextvars
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg
import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from portcert_runtime import metrics
from portcert_runtime.audit import Actor, AuditLog, EventType, Outcome
from portcert_runtime.auth import Principal, Role, TokenVerifier
from portcert_runtime.errors import (
    GRPC_CODES,
    FieldViolation,
    InvalidArgument,
    PermissionDenied,
    PortcertError,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
)
from portcert_runtime.logs import request_id_var, trace_id_var

logger = logging.getLogger(__name__)

current_principal: contextvars.ContextVar[Principal | None] = contextvars.ContextVar(
    "current_principal", default=None
)

ALL_ROLES = frozenset(Role)


@dataclass(frozen=True)
class MethodPolicy:
    """Who may call a method: ``None`` means anyone, without a token."""

    roles: frozenset[Role] | None


def caller() -> Principal:
    """The authenticated caller of the current RPC."""
    principal = current_principal.get()
    if principal is None:
        raise Unauthenticated("this method requires a bearer token")
    return principal


_MAX_VIOLATIONS_REPORTED = 20
_MAX_MESSAGE_LENGTH = 1000


def _short(message: str) -> str:
    if len(message) <= _MAX_MESSAGE_LENGTH:
        return message
    return message[: _MAX_MESSAGE_LENGTH - 1] + "…"


def _status_for(error: PortcertError) -> status_pb2.Status:
    code = GRPC_CODES[type(error)]
    status = status_pb2.Status(code=code.value[0], message=_short(str(error)))
    if isinstance(error, InvalidArgument):
        # Trailers are capped (8 KiB by default), so a request with thousands
        # of bad fields reports the first ones and how many more there were.
        shown = error.violations[:_MAX_VIOLATIONS_REPORTED]
        bad_request = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(
                    field=v.field, description=v.description
                )
                for v in shown
            ]
        )
        hidden = len(error.violations) - len(shown)
        if hidden:
            bad_request.field_violations.add(
                field="", description=f"{hidden} more violations not shown"
            )
        detail = any_pb2.Any()
        detail.Pack(bad_request)
        status.details.append(detail)
    if isinstance(error, ResourceExhausted):
        retry = error_details_pb2.RetryInfo(
            retry_delay=duration_pb2.Duration(
                seconds=int(error.retry_after_seconds) or 1
            )
        )
        detail = any_pb2.Any()
        detail.Pack(retry)
        status.details.append(detail)
    return status


_INTERNAL = status_pb2.Status(code=code_pb2.INTERNAL, message="internal error")

# Infrastructure failures a caller can retry, translated at this one boundary.
_UNAVAILABLE_ERRORS = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
)


def error_status(error: Exception, method: str) -> status_pb2.Status:
    """The status a caller gets for ``error``; unexpected errors are logged."""
    if isinstance(error, PortcertError):
        return _status_for(error)
    if isinstance(error, asyncpg.DataError):
        # A value the request carried that the database cannot store; field
        # rules should have caught it first, so it is logged to be tightened.
        logger.warning("value refused by the database", extra={"method": method})
        return _status_for(
            InvalidArgument([FieldViolation("", f"a value cannot be stored: {error}")])
        )
    if isinstance(error, _UNAVAILABLE_ERRORS):
        logger.warning(
            "backend unavailable", extra={"method": method, "error": str(error)}
        )
        return _status_for(Unavailable("a backend is unavailable; retry later"))
    logger.error("unhandled error", extra={"method": method}, exc_info=error)
    return _INTERNAL


class ServiceInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Applies identity, permissions and error mapping to listed methods."""

    def __init__(
        self,
        policies: Mapping[str, MethodPolicy],
        tokens: TokenVerifier,
        audit: AuditLog,
        audit_pool: asyncpg.Pool,
        peer_roles: Mapping[str, frozenset[Role]] | None = None,
    ) -> None:
        """Create for the methods in ``policies`` (full names, '/pkg.Svc/Method').

        ``peer_roles`` grants roles to other portcert processes by the SPIFFE
        id of their mTLS certificate, for calls that carry no user token.
        """
        self._policies = policies
        self._tokens = tokens
        self._audit = audit
        self._audit_pool = audit_pool
        self._peer_roles = dict(peer_roles or {})

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]
        ],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        """Wrap the handler of a listed method; pass others through."""
        handler = await continuation(details)
        policy = self._policies.get(details.method)
        if handler is None or policy is None:
            return handler
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                self._wrap_unary(details.method, policy, handler.unary_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                self._wrap_stream(details.method, policy, handler.unary_stream),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler

    async def _enter(
        self, method: str, policy: MethodPolicy, context: grpc.aio.ServicerContext
    ) -> None:
        metadata = {key: value for key, value in context.invocation_metadata() or ()}
        request_id_var.set(str(metadata.get("x-request-id") or uuid.uuid4()))
        trace_id_var.set(
            str(metadata.get("x-b3-traceid") or metadata.get("traceparent", ""))
        )
        if policy.roles is None:
            current_principal.set(None)
            return
        authorization = metadata.get("authorization")
        peer = _peer_spiffe_id(context)
        try:
            if authorization is None and peer in self._peer_roles:
                # Audit entries name services as "service:<name>", whichever
                # way they authenticated.
                name = f"service:{peer.rsplit('/', 1)[-1]}"
                principal = Principal(name, name, self._peer_roles[peer])
            else:
                principal = self._tokens.verify(authorization)
        except Unauthenticated as err:
            await self._audit.record(
                self._audit_pool,
                EventType.AUTHENTICATION_FAILED,
                Actor("anonymous", "UNSPECIFIED"),
                Outcome.DENIED,
                details={"method": method, "reason": str(err)},
            )
            raise
        current_principal.set(principal)
        try:
            principal.require(policy.roles)
        except PermissionDenied as err:
            await self._audit.record(
                self._audit_pool,
                EventType.AUTHORIZATION_DENIED,
                Actor.of(principal),
                Outcome.DENIED,
                details={"method": method, "reason": str(err)},
            )
            raise

    def _wrap_unary(
        self, method: str, policy: MethodPolicy, inner: Callable[..., Awaitable[Any]]
    ) -> Callable[..., Awaitable[Any]]:
        async def behaviour(request: Any, context: grpc.aio.ServicerContext) -> Any:
            started = time.perf_counter()
            failure: status_pb2.Status | None = None
            try:
                await self._enter(method, policy, context)
                return await inner(request, context)
            except Exception as err:  # noqa: BLE001 - the RPC boundary
                failure = error_status(err, method)
            finally:
                _log_call(method, failure, started)
            await context.abort_with_status(rpc_status.to_status(failure))
            return None  # abort_with_status raises; this only satisfies linters

        return behaviour

    def _wrap_stream(
        self,
        method: str,
        policy: MethodPolicy,
        inner: Callable[..., AsyncIterator[Any]],
    ) -> Callable[..., AsyncIterator[Any]]:
        async def behaviour(
            request: Any, context: grpc.aio.ServicerContext
        ) -> AsyncIterator[Any]:
            started = time.perf_counter()
            failure: status_pb2.Status | None = None
            try:
                await self._enter(method, policy, context)
                async for response in inner(request, context):
                    yield response
            except Exception as err:  # noqa: BLE001 - the RPC boundary
                failure = error_status(err, method)
            finally:
                _log_call(method, failure, started)
            if failure is not None:
                await context.abort_with_status(rpc_status.to_status(failure))

        return behaviour


def _peer_spiffe_id(context: grpc.aio.ServicerContext) -> str:
    identities = context.auth_context().get("peer_spiffe_id") or [b""]
    return bytes(identities[0]).decode()


def _log_call(method: str, failure: status_pb2.Status | None, started: float) -> None:
    code = grpc.StatusCode.OK if failure is None else _code_name(failure.code)
    elapsed = time.perf_counter() - started
    metrics.RPC_DURATION.labels(method=method, code=code.name).observe(elapsed)
    logger.info(
        "rpc",
        extra={
            "method": method,
            "code": code.name,
            "duration_ms": round(elapsed * 1000, 2),
        },
    )


def _code_name(value: int) -> grpc.StatusCode:
    for code in grpc.StatusCode:
        if code.value[0] == value:
            return code
    return grpc.StatusCode.UNKNOWN
