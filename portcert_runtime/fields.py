"""Conversions every servicer makes between request fields and Python values."""

from __future__ import annotations

import unicodedata
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


# Control and format characters (NUL, escapes, direction overrides) have no
# place in names or reasons; PostgreSQL refuses NUL outright.
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs"})


def is_plain_text(text: str, allow_line_breaks: bool = False) -> bool:
    """Whether ``text`` holds no control or formatting characters.

    Args:
        text: The value to check.
        allow_line_breaks: Whether newlines and tabs are acceptable, as in a
            free-text reason.
    """
    allowed = {"\n", "\t"} if allow_line_breaks else set()
    return not any(
        unicodedata.category(char) in _HIDDEN_CATEGORIES and char not in allowed
        for char in text
    )
