"""Backing services that integration tests talk to over real connections."""

from __future__ import annotations

import subprocess
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from moto.server import ThreadedMotoServer


def post_to_moto(endpoint: str, path: str, body: bytes = b"") -> None:
    """POST to one of moto's control routes (``/moto-api/…``)."""
    request = urllib.request.Request(
        endpoint + path,
        data=body,
        method="POST",
        # moto reads the raw body; a form content type would make Flask eat it.
        headers={"Content-Type": "text/plain"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()


@pytest.fixture(scope="session")
def aws_test_credentials(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Point the standard AWS credential chain at test keys and nothing else.

    Profiles and instance metadata are switched off so that a developer's real
    AWS configuration can never be picked up by a test.
    """
    empty = tmp_path_factory.mktemp("aws")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_ACCESS_KEY_ID", "testing")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL"):
            patch.delenv(name, raising=False)
        patch.setenv("AWS_CONFIG_FILE", str(Path(empty, "config")))
        patch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(Path(empty, "credentials")))
        patch.setenv("AWS_EC2_METADATA_DISABLED", "true")
        yield


@pytest.fixture(scope="session")
def moto_server(aws_test_credentials: None) -> Iterator[str]:
    """A moto server for the whole session, on a free loopback port."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_endpoint(moto_server: str) -> str:
    """The moto endpoint, emptied and with authorization off, for one test."""
    post_to_moto(moto_server, "/moto-api/reset")
    post_to_moto(moto_server, "/moto-api/reset-auth", b"inf")
    return moto_server


@pytest.fixture
def moto_authorization(s3_endpoint: str) -> Iterator[Callable[[], None]]:
    """A switch that makes moto check signatures and IAM policies from then on.

    Create users and keys first: once on, the default test keys are refused.
    Checks are off again after the test.
    """
    yield lambda: post_to_moto(s3_endpoint, "/moto-api/reset-auth", b"0")
    post_to_moto(s3_endpoint, "/moto-api/reset-auth", b"inf")


def _rabbitmqctl(*arguments: str) -> None:
    subprocess.run(
        ["rabbitmqctl", *arguments], check=True, capture_output=True, timeout=60
    )


@pytest.fixture
def vhost() -> Iterator[str]:
    """A RabbitMQ vhost of this test's own, deleted afterwards."""
    name = f"portcert_test_{uuid.uuid4().hex[:12]}"
    _rabbitmqctl("add_vhost", name)
    _rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
    yield name
    _rabbitmqctl("delete_vhost", name)
