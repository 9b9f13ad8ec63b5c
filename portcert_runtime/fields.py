"""Conversions every servicer makes between request fields and Python values."""

from __future__ import annotations

import uuid
from datetime import datetime

from google.protobuf import timestamp_pb2

from portcert_runtime.errors import FieldViolation, InvalidArgument


def timestamp(moment: datetime) -> timestamp_pb2.Timestamp:
    """The protobuf Timestamp of an aware datetime."""
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def uuid_field(name: str, raw: str) -> uuid.UUID:
    """Parse the UUID in field ``name``.

    Raises:
        InvalidArgument: naming the field, when ``raw`` is not a UUID.
    """
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise InvalidArgument(
            [FieldViolation(name, f"must be a UUID, got {raw[:64]!r}")]
        ) from None
