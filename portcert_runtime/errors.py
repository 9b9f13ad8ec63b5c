"""Errors that services raise, and the gRPC status each one becomes.

    PortcertError
    ├── InvalidArgument      a field broke a rule; carries FieldViolations
    ├── Unauthenticated      no, malformed, expired or forged credentials
    ├── PermissionDenied     authenticated, but the role does not allow it
    ├── NotFound             no such request or certification
    ├── AlreadyExists        an idempotency key reused for another request
    ├── FailedPrecondition   the object is in the wrong state for the action
    ├── ResourceExhausted    rate limit reached; carries a retry delay
    └── Unavailable          a backend (database, queue, store) is unreachable

Handlers raise these and never set status codes themselves; the error
interceptor maps each class to its code through ``GRPC_CODES``.
"""

from __future__ import annotations

from dataclasses import dataclass

import grpc


@dataclass(frozen=True)
class FieldViolation:
    """One bad field: its path in the request and the rule it broke."""

    field: str
    description: str


class PortcertError(Exception):
    """Base of every error a service reports to its caller."""


class InvalidArgument(PortcertError):
    """The request broke one or more field rules."""

    def __init__(self, violations: list[FieldViolation]) -> None:
        """Create from the violations, at least one."""
        self.violations = tuple(violations)
        summary = "; ".join(f"{v.field}: {v.description}" for v in self.violations)
        super().__init__(f"invalid request: {summary}")


class Unauthenticated(PortcertError):
    """The caller's credentials are missing or not acceptable."""


class PermissionDenied(PortcertError):
    """The caller's role does not permit the action."""


class NotFound(PortcertError):
    """The addressed object does not exist."""


class AlreadyExists(PortcertError):
    """The object, or the key that names it, is already taken."""


class FailedPrecondition(PortcertError):
    """The object is not in a state that allows the action."""


class ResourceExhausted(PortcertError):
    """A quota is used up; the caller may retry after ``retry_after_seconds``."""

    def __init__(self, message: str, retry_after_seconds: float) -> None:
        """Create with the delay after which a retry can succeed."""
        self.retry_after_seconds = retry_after_seconds
        super().__init__(message)


class Unavailable(PortcertError):
    """A backend the action needs cannot be reached right now."""


GRPC_CODES: dict[type[PortcertError], grpc.StatusCode] = {
    InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    PermissionDenied: grpc.StatusCode.PERMISSION_DENIED,
    NotFound: grpc.StatusCode.NOT_FOUND,
    AlreadyExists: grpc.StatusCode.ALREADY_EXISTS,
    FailedPrecondition: grpc.StatusCode.FAILED_PRECONDITION,
    ResourceExhausted: grpc.StatusCode.RESOURCE_EXHAUSTED,
    Unavailable: grpc.StatusCode.UNAVAILABLE,
}
