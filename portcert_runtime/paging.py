"""Opaque page tokens for keyset pagination over (time, id) orderings."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime


def encode_page_token(moment: datetime, row_id: uuid.UUID) -> str:
    """A token pointing after the row at ``(moment, row_id)``."""
    raw = json.dumps([moment.isoformat(), str(row_id)])
    return base64.urlsafe_b64encode(raw.encode()).decode()


def decode_page_token(token: str) -> tuple[datetime, uuid.UUID] | None:
    """The position a token points after; None for an empty token.

    Raises:
        ValueError: the token was not produced by :func:`encode_page_token`.
    """
    if not token:
        return None
    try:
        moment, row_id = json.loads(base64.urlsafe_b64decode(token.encode()))
        return datetime.fromisoformat(moment), uuid.UUID(row_id)
    except (ValueError, TypeError) as err:
        raise ValueError("is not a token returned by this service") from err
