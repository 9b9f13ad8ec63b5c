"""The blob store on Amazon S3 or an S3-compatible store, through aiobotocore.

aiobotocore is weakly typed, so it stays inside this module, and everything it
raises is translated here, in ``_translated``:

    NoSuchKey                           → blobs.BlobNotFound
    throttling, 5xx, lost connections   → errors.Unavailable (after botocore retried)
    S3StoreError                        the store refused; an operator must act
    ├── BucketMissing                   the configured bucket does not exist
    └── S3AccessDenied                  the credentials lack a permission

Credentials come from the standard AWS chain (environment, shared profile, web
identity as with IRSA, instance metadata); portcert never holds them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AsyncExitStack, contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import aiohttp
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import ClientError, HTTPClientError, NoCredentialsError
from botocore.exceptions import ConnectionError as BotocoreConnectionError

from portcert_runtime.blobs import BlobNotFound
from portcert_runtime.errors import Unavailable

DEFAULT_PRESIGN_SECONDS = 300
# SigV4 refuses to sign for longer than a week.
_MAX_PRESIGN_SECONDS = 7 * 24 * 3600
_THROTTLING_CODES = frozenset(
    {
        "RequestThrottled",
        "RequestTimeout",
        "SlowDown",
        "Throttling",
        "ThrottlingException",
    }
)


class S3StoreError(Exception):
    """The store refused a request for a reason that retrying will not fix."""


class BucketMissing(S3StoreError):
    """The configured bucket does not exist."""


class S3AccessDenied(S3StoreError):
    """The credentials from the AWS chain lack a permission the request needs."""


@dataclass(frozen=True)
class BucketReport:
    """What ``ensure_bucket`` found and changed.

    Attributes:
        bucket: The bucket checked.
        versioning: ``Enabled``, ``Suspended``, ``Disabled`` or ``unknown``.
        problems: What could not be checked or fixed, one sentence each.
    """

    bucket: str
    versioning: str
    problems: tuple[str, ...]


class S3BlobStore:
    """Blobs as objects in one bucket, every object encrypted at rest.

    Create with :meth:`open`; the store holds one client, and so one connection
    pool, for the life of the process. Keys follow the layout of
    ``portcert_runtime.blobs`` under an optional prefix.
    """

    def __init__(
        self,
        client: Any,
        resources: AsyncExitStack,
        bucket: str,
        *,
        key_prefix: str,
        kms_key_id: str | None,
        presign_seconds: int,
    ) -> None:
        """Wrap an open client; use :meth:`open` instead."""
        self._client = client
        self._resources = resources
        self._bucket = bucket
        prefix = key_prefix.strip("/")
        self._prefix = f"{prefix}/" if prefix else ""
        self._encryption: dict[str, Any] = (
            # A bucket key lets S3 reuse a data key instead of calling KMS for
            # every object, which is what keeps KMS from throttling puts.
            {
                "ServerSideEncryption": "aws:kms",
                "SSEKMSKeyId": kms_key_id,
                "BucketKeyEnabled": True,
            }
            if kms_key_id
            else {"ServerSideEncryption": "AES256"}
        )
        self._presign_seconds = _checked_expiry(presign_seconds)

    @classmethod
    async def open(
        cls,
        bucket: str,
        region: str | None,
        endpoint_url: str | None = None,
        *,
        kms_key_id: str | None = None,
        key_prefix: str = "",
        presign_seconds: int = DEFAULT_PRESIGN_SECONDS,
        retry_mode: Literal["standard", "adaptive"] = "standard",
        max_attempts: int = 4,
        max_connections: int = 10,
        timeout_seconds: float = 10.0,
    ) -> S3BlobStore:
        """Create the store's client; no request is sent yet.

        Args:
            bucket: The bucket holding every object.
            region: Region of the bucket; None takes the AWS chain's.
            endpoint_url: An S3-compatible endpoint, addressed path-style;
                None uses AWS S3.
            kms_key_id: Encrypt with this KMS key (SSE-KMS); None uses SSE-S3.
            key_prefix: Put before every key, so buckets can be shared.
            presign_seconds: Default lifetime of pre-signed URLs.
            retry_mode: botocore's retry mode; ``adaptive`` also rate-limits the
                client when S3 throttles it.
            max_attempts: Attempts per request, the first one included.
            max_connections: Size of the connection pool.
            timeout_seconds: Connect and read timeout of each attempt.
        """
        config = AioConfig(
            region_name=region,
            signature_version="s3v4",
            # botocore's plain "max_attempts" counts retries only.
            retries={"mode": retry_mode, "total_max_attempts": max_attempts},
            connect_timeout=timeout_seconds,
            read_timeout=timeout_seconds,
            max_pool_connections=max_connections,
            # Most S3-compatible stores cannot route bucket subdomains.
            s3={"addressing_style": "path" if endpoint_url else "auto"},
        )
        resources = AsyncExitStack()
        client = await resources.enter_async_context(
            get_session().create_client("s3", endpoint_url=endpoint_url, config=config)
        )
        return cls(
            client,
            resources,
            bucket,
            key_prefix=key_prefix,
            kms_key_id=kms_key_id,
            presign_seconds=presign_seconds,
        )

    async def put(self, key: str, data: bytes, content_type: str) -> str:
        """Store ``data`` under ``key``, encrypted; return its ``s3://`` URI."""
        object_key = self._object_key(key)
        with self._translated(key):
            await self._client.put_object(
                Bucket=self._bucket,
                Key=object_key,
                Body=data,
                ContentType=content_type,
                **self._encryption,
            )
        return f"s3://{self._bucket}/{object_key}"

    async def get(self, key: str) -> bytes:
        """Return the object under ``key``, or raise BlobNotFound."""
        object_key = self._object_key(key)
        with self._translated(key):
            response = await self._client.get_object(
                Bucket=self._bucket, Key=object_key
            )
            async with response["Body"] as body:
                data = await body.read()
        return bytes(data)

    async def presigned_url(
        self, key: str, expires_in_seconds: int | None = None
    ) -> str:
        """A URL that downloads the object with a plain GET until it expires.

        Signing happens locally: the object is not checked to exist.

        Args:
            key: The object's key.
            expires_in_seconds: Lifetime of the URL; None uses the store's
                default.
        """
        seconds = _checked_expiry(
            self._presign_seconds if expires_in_seconds is None else expires_in_seconds
        )
        with self._translated(key):
            url = await self._client.generate_presigned_url(
                "get_object",
                Params={"Bucket": self._bucket, "Key": self._object_key(key)},
                ExpiresIn=seconds,
            )
        return str(url)

    async def ensure_bucket(self) -> BucketReport:
        """Check that the bucket exists and turn versioning on where allowed.

        Missing permissions to read or change versioning are reported, not
        raised, so an operator sees everything at once.

        Raises:
            BucketMissing: The bucket does not exist.
            S3AccessDenied: The credentials may not even see the bucket.
        """
        with self._translated():
            await self._client.head_bucket(Bucket=self._bucket)
        problems: list[str] = []
        try:
            with self._translated():
                response = await self._client.get_bucket_versioning(Bucket=self._bucket)
            versioning = str(response.get("Status", "Disabled"))
        except S3AccessDenied:
            versioning = "unknown"
            problems.append("may not read versioning (s3:GetBucketVersioning)")
        if versioning != "Enabled":
            try:
                with self._translated():
                    await self._client.put_bucket_versioning(
                        Bucket=self._bucket,
                        VersioningConfiguration={"Status": "Enabled"},
                    )
                versioning = "Enabled"
            except S3AccessDenied:
                problems.append(
                    "versioning is not enabled and may not be enabled "
                    "(s3:PutBucketVersioning)"
                )
        return BucketReport(self._bucket, versioning, tuple(problems))

    async def close(self) -> None:
        """Close the client and its connection pool."""
        await self._resources.aclose()

    def _object_key(self, key: str) -> str:
        if not key or key.startswith("/") or ".." in key.split("/"):
            raise ValueError(f"blob key must be relative, without '..': {key!r}")
        return self._prefix + key

    @contextmanager
    def _translated(self, key: str | None = None) -> Iterator[None]:
        """Turn what botocore and aiohttp raise into portcert's errors."""
        try:
            yield
        except ClientError as err:
            raise self._client_error(err, key) from err
        except (BotocoreConnectionError, HTTPClientError, aiohttp.ClientError) as err:
            raise Unavailable("the blob store cannot be reached") from err
        except NoCredentialsError as err:
            raise S3StoreError(
                "no AWS credentials found in the environment, a profile, "
                "a web identity token or instance metadata"
            ) from err

    def _client_error(self, err: ClientError, key: str | None) -> Exception:
        code = str(err.response.get("Error", {}).get("Code", ""))
        status = int(err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
        if code == "NoSuchKey" and key is not None:
            return BlobNotFound(key)
        # HEAD answers carry no body, so a missing bucket is a bare 404.
        if code == "NoSuchBucket" or (status == 404 and key is None):
            return BucketMissing(
                f"S3 bucket {self._bucket!r} does not exist; check PORTCERT_S3_BUCKET"
            )
        if code in _THROTTLING_CODES or status >= 500:
            return Unavailable("the blob store is unavailable; retry later")
        if status == 403:
            return S3AccessDenied(
                f"access denied to S3 bucket {self._bucket!r} ({code or status})"
            )
        return S3StoreError(f"S3 refused the request: {code or status}")


def _checked_expiry(seconds: int) -> int:
    if not 1 <= seconds <= _MAX_PRESIGN_SECONDS:
        raise ValueError(
            f"a pre-signed URL must expire in 1 to {_MAX_PRESIGN_SECONDS} seconds, "
            f"not {seconds}"
        )
    return seconds
