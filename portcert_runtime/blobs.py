"""Blob storage for documents and certification PDFs.

Keys follow one layout whatever the backend: ``documents/{containerId}/…``,
``certifications/{certificationId}.pdf`` and ``audit-exports/…``.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path
from typing import Protocol, runtime_checkable


class BlobNotFound(Exception):
    """No object is stored under the key."""


class BlobStore(Protocol):
    """Where PDFs and documents are kept."""

    async def put(self, key: str, data: bytes, content_type: str) -> str:
        """Store ``data`` under ``key`` and return its URI."""

    async def get(self, key: str) -> bytes:
        """Return the object under ``key``, or raise BlobNotFound."""

    async def close(self) -> None:
        """Release connections."""


@runtime_checkable
class PresignedDownloads(Protocol):
    """A blob store that hands out short-lived download URLs."""

    async def presigned_url(
        self, key: str, expires_in_seconds: int | None = None
    ) -> str:
        """A URL that downloads ``key`` with a plain GET until it expires."""


def certification_pdf_key(certification_id: str) -> str:
    """Key of a certification's PDF."""
    return f"certifications/{certification_id}.pdf"


class LocalBlobStore:
    """Blobs as files under a directory: the embedded default."""

    def __init__(self, root: Path) -> None:
        """Store under ``root``, created when missing."""
        self._root = root.resolve()
        self._root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        path = (self._root / key).resolve()
        if not path.is_relative_to(self._root):
            raise ValueError(f"blob key escapes the store: {key!r}")
        return path

    async def put(self, key: str, data: bytes, content_type: str) -> str:
        """Write atomically: readers see the old object or the whole new one."""
        path = self._path(key)
        await asyncio.to_thread(_write_atomically, path, data)
        return path.as_uri()

    async def get(self, key: str) -> bytes:
        """Read the object under ``key``."""
        try:
            return await asyncio.to_thread(self._path(key).read_bytes)
        except FileNotFoundError as err:
            raise BlobNotFound(key) from err

    async def close(self) -> None:
        """Nothing to release."""


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".incoming-")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
