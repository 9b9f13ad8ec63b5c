"""S3BlobStore against a real moto server, through real HTTP connections."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from aiobotocore.session import get_session

from portcert_runtime.blobs import BlobNotFound, PresignedDownloads
from portcert_runtime.bootstrap import open_blob_store
from portcert_runtime.errors import Unavailable
from portcert_runtime.s3 import BucketMissing, S3BlobStore
from portcert_runtime.settings import load_settings

REGION = "us-east-1"
BUCKET = "portcert-test-blobs"
PREFIX = "tenant-a"
KEY = "certifications/6f1c2a9e-8d4b-4e0f-9a57-3b2d1c0e4f5a.pdf"
PDF = b"%PDF-1.7\n" + bytes(range(256)) * 64


@pytest.fixture
async def admin(s3_endpoint: str) -> AsyncIterator[Any]:
    """A plain S3 client to arrange and inspect the bucket behind the store."""
    async with get_session().create_client(
        "s3", region_name=REGION, endpoint_url=s3_endpoint
    ) as client:
        await client.create_bucket(Bucket=BUCKET)
        yield client


@pytest.fixture
async def store(s3_endpoint: str, admin: Any) -> AsyncIterator[S3BlobStore]:
    blob_store = await S3BlobStore.open(BUCKET, REGION, s3_endpoint, key_prefix=PREFIX)
    yield blob_store
    await blob_store.close()


def _download(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        return bytes(response.read())


async def test_put_then_get_returns_the_bytes_encrypted_with_sse_s3(
    store: S3BlobStore, admin: Any
) -> None:
    uri = await store.put(KEY, PDF, "application/pdf")

    assert uri == f"s3://{BUCKET}/{PREFIX}/{KEY}"
    assert await store.get(KEY) == PDF
    head = await admin.head_object(Bucket=BUCKET, Key=f"{PREFIX}/{KEY}")
    assert head["ServerSideEncryption"] == "AES256"
    assert head["ContentType"] == "application/pdf"


async def test_put_with_a_kms_key_requests_sse_kms_with_that_key(
    s3_endpoint: str, admin: Any
) -> None:
    blob_store = await S3BlobStore.open(
        BUCKET, REGION, s3_endpoint, kms_key_id="alias/portcert-blobs"
    )

    await blob_store.put(KEY, PDF, "application/pdf")
    await blob_store.close()

    head = await admin.head_object(Bucket=BUCKET, Key=KEY)
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head["SSEKMSKeyId"] == "alias/portcert-blobs"


async def test_get_of_a_missing_key_raises_blob_not_found(store: S3BlobStore) -> None:
    with pytest.raises(BlobNotFound, match=r"certifications/absent\.pdf"):
        await store.get("certifications/absent.pdf")


async def test_key_with_parent_segment_is_refused(store: S3BlobStore) -> None:
    with pytest.raises(ValueError, match=r"'\.\.'"):
        await store.put("documents/../certifications/x.pdf", PDF, "application/pdf")


async def test_presigned_url_downloads_the_bytes_over_plain_http(
    store: S3BlobStore,
) -> None:
    await store.put(KEY, PDF, "application/pdf")

    url = await store.presigned_url(KEY)

    assert await asyncio.to_thread(_download, url) == PDF


async def test_presigned_url_lives_as_long_as_asked_and_300_seconds_by_default(
    store: S3BlobStore,
) -> None:
    short = await store.presigned_url(KEY, expires_in_seconds=1)
    default = await store.presigned_url(KEY)

    assert parse_qs(urlsplit(short).query)["X-Amz-Expires"] == ["1"]
    assert parse_qs(urlsplit(default).query)["X-Amz-Expires"] == ["300"]


async def test_presigned_url_beyond_a_week_is_refused(store: S3BlobStore) -> None:
    with pytest.raises(ValueError, match="1 to 604800 seconds"):
        await store.presigned_url(KEY, expires_in_seconds=8 * 24 * 3600)


@pytest.mark.xfail(
    strict=True,
    raises=pytest.fail.Exception,
    reason="moto 5.2.1 serves pre-signed URLs after X-Amz-Expires; S3 answers 403",
)
async def test_presigned_url_is_refused_with_403_once_expired(
    store: S3BlobStore,
) -> None:
    await store.put(KEY, PDF, "application/pdf")
    url = await store.presigned_url(KEY, expires_in_seconds=1)
    # The expiry is the behaviour under test; signatures count whole seconds.
    await asyncio.sleep(2.5)

    with pytest.raises(urllib.error.HTTPError) as refused:
        await asyncio.to_thread(_download, url)

    assert refused.value.code == 403
    refused.value.close()


async def test_ensure_bucket_enables_versioning(store: S3BlobStore, admin: Any) -> None:
    report = await store.ensure_bucket()

    assert (report.bucket, report.versioning, report.problems) == (
        BUCKET,
        "Enabled",
        (),
    )
    versioning = await admin.get_bucket_versioning(Bucket=BUCKET)
    assert versioning["Status"] == "Enabled"


async def test_ensure_bucket_reports_a_missing_versioning_permission(
    s3_endpoint: str,
    admin: Any,
    moto_authorization: Callable[[], None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key_id, secret = await _user_denied_versioning(s3_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    moto_authorization()
    blob_store = await S3BlobStore.open(BUCKET, REGION, s3_endpoint)

    report = await blob_store.ensure_bucket()
    await blob_store.close()

    assert report.versioning == "Disabled"
    assert len(report.problems) == 1
    assert "s3:PutBucketVersioning" in report.problems[0]


async def test_ensure_bucket_of_a_missing_bucket_raises_bucket_missing(
    s3_endpoint: str,
) -> None:
    blob_store = await S3BlobStore.open("portcert-absent", REGION, s3_endpoint)

    with pytest.raises(BucketMissing, match="'portcert-absent'"):
        await blob_store.ensure_bucket()
    await blob_store.close()


async def test_put_to_a_missing_bucket_raises_bucket_missing_naming_it(
    s3_endpoint: str,
) -> None:
    blob_store = await S3BlobStore.open("portcert-absent", REGION, s3_endpoint)

    with pytest.raises(BucketMissing) as raised:
        await blob_store.put(KEY, PDF, "application/pdf")
    await blob_store.close()

    assert str(raised.value) == (
        "S3 bucket 'portcert-absent' does not exist; check PORTCERT_S3_BUCKET"
    )


async def test_hundred_concurrent_puts_share_one_bounded_connection_pool(
    s3_endpoint: str, admin: Any
) -> None:
    proxy = await _StoreAndForwardProxy.start(s3_endpoint)
    blob_store = await S3BlobStore.open(BUCKET, REGION, proxy.url, max_connections=4)
    keys = [f"documents/MSCU1234565/document-{n:03}.pdf" for n in range(100)]

    uris = await asyncio.gather(
        *(blob_store.put(key, key.encode(), "application/pdf") for key in keys)
    )
    await blob_store.close()
    await proxy.stop()

    assert uris == [f"s3://{BUCKET}/{key}" for key in keys]
    listing = await admin.list_objects_v2(Bucket=BUCKET, Prefix="documents/")
    assert sorted(item["Key"] for item in listing["Contents"]) == keys
    assert proxy.connections >= 100
    assert 1 <= proxy.peak_open <= 4


async def test_unreachable_endpoint_raises_unavailable_after_retries(
    aws_test_credentials: None,
) -> None:
    server = await asyncio.start_server(_refuse, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    blob_store = await S3BlobStore.open(
        BUCKET, REGION, f"http://127.0.0.1:{port}", max_attempts=2
    )

    with pytest.raises(Unavailable):
        await blob_store.get(KEY)
    await blob_store.close()


async def test_throttling_is_retried_by_botocore_then_raises_unavailable(
    aws_test_credentials: None,
) -> None:
    endpoint = await _ThrottlingEndpoint.start()
    blob_store = await S3BlobStore.open(BUCKET, REGION, endpoint.url, max_attempts=3)

    with pytest.raises(Unavailable):
        await blob_store.get(KEY)
    await blob_store.close()
    await endpoint.stop()

    assert endpoint.requests == 3


async def test_open_blob_store_with_s3_backend_stores_in_the_bucket(
    s3_endpoint: str, admin: Any
) -> None:
    settings = load_settings(
        {
            "PORTCERT_BLOB_BACKEND": "s3",
            "PORTCERT_S3_BUCKET": BUCKET,
            "PORTCERT_S3_REGION": REGION,
            "PORTCERT_S3_ENDPOINT_URL": s3_endpoint,
            "PORTCERT_S3_KEY_PREFIX": "/prod/",
        }
    )

    blob_store = await open_blob_store(settings)
    uri = await blob_store.put(KEY, PDF, "application/pdf")
    await blob_store.close()

    assert isinstance(blob_store, PresignedDownloads)
    assert uri == f"s3://{BUCKET}/prod/{KEY}"


async def _user_denied_versioning(endpoint: str) -> tuple[str, str]:
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
            {"Effect": "Deny", "Action": "s3:PutBucketVersioning", "Resource": "*"},
        ],
    }
    async with get_session().create_client(
        "iam", region_name=REGION, endpoint_url=endpoint
    ) as iam:
        await iam.create_user(UserName="certifier")
        await iam.put_user_policy(
            UserName="certifier",
            PolicyName="blobs-without-versioning",
            PolicyDocument=json.dumps(policy),
        )
        created = await iam.create_access_key(UserName="certifier")
    return created["AccessKey"]["AccessKeyId"], created["AccessKey"]["SecretAccessKey"]


async def _refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.close()


class _StoreAndForwardProxy:
    """Relays TCP to moto and counts connections open at once.

    moto closes every connection after one response, so the proxy reads that
    response whole, counts the connection closed, and only then forwards it:
    the client cannot free a pool slot before the count drops, which makes
    ``peak_open`` an exact bound of the client's concurrent connections.
    """

    def __init__(self, target: str) -> None:
        parts = urlsplit(target)
        self._target = (parts.hostname or "", parts.port or 80)
        self._server: asyncio.Server | None = None
        self.url = ""
        self.connections = 0
        self.peak_open = 0
        self._open = 0

    @classmethod
    async def start(cls, target: str) -> _StoreAndForwardProxy:
        proxy = cls(target)
        proxy._server = await asyncio.start_server(proxy._relay, "127.0.0.1", 0)
        proxy.url = f"http://127.0.0.1:{proxy._server.sockets[0].getsockname()[1]}"
        return proxy

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _relay(
        self, client_reader: asyncio.StreamReader, client: asyncio.StreamWriter
    ) -> None:
        self.connections += 1
        self._open += 1
        self.peak_open = max(self.peak_open, self._open)
        upstream_reader, upstream = await asyncio.open_connection(*self._target)
        forward = asyncio.create_task(_pump(client_reader, upstream))
        response = await _final_response(upstream_reader, client)
        self._open -= 1
        client.write(response)
        await client.drain()
        client.close()
        await forward
        upstream.close()


async def _final_response(
    upstream: asyncio.StreamReader, client: asyncio.StreamWriter
) -> bytes:
    """Forward interim answers (``100 Continue``) at once; return the final one."""
    while True:
        head = await upstream.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 1"):
            return head + await upstream.read()
        client.write(head)
        await client.drain()


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while chunk := await reader.read(65536):
        writer.write(chunk)
        await writer.drain()


class _ThrottlingEndpoint:
    """An HTTP endpoint that answers every request as a throttled S3 would."""

    _BODY = b"<Error><Code>SlowDown</Code><Message>Slow down.</Message></Error>"
    _ANSWER = (
        b"HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\n"
        b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(_BODY), _BODY)
    )

    def __init__(self) -> None:
        self._server: asyncio.Server | None = None
        self.url = ""
        self.requests = 0

    @classmethod
    async def start(cls) -> _ThrottlingEndpoint:
        endpoint = cls()
        endpoint._server = await asyncio.start_server(endpoint._answer, "127.0.0.1", 0)
        port = endpoint._server.sockets[0].getsockname()[1]
        endpoint.url = f"http://127.0.0.1:{port}"
        return endpoint

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _answer(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await reader.readuntil(b"\r\n\r\n")
        self.requests += 1
        writer.write(self._ANSWER)
        await writer.drain()
        writer.close()
