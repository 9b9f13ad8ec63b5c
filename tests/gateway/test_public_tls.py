"""The public listener over TLS, and when the gateway agrees to serve plaintext.

The listener's certificate comes from a CA of its own (not the services' mTLS
CA), with the IP SAN 127.0.0.1 that clients check.
"""

from __future__ import annotations

import asyncio
import http.client
import socket
import ssl
import warnings
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import grpc
import pytest

from gateway.app import gateway_config
from gateway.config import GatewayConfig, GatewayConfigError, PublicTls, build_bootstrap
from gateway.envoy import (
    EnvoyConfigError,
    EnvoyProcess,
    validate_config,
    write_config,
)
from portcert.verification.v1 import (
    verification_service_pb2,
    verification_service_pb2_grpc,
)
from portcert_runtime.pki import DevelopmentPki, ensure_development_pki
from portcert_runtime.settings import SettingsError, load_settings
from tests.gateway.running_gateway import (
    Gateway,
    TokenKeys,
    call_http,
    envoy_counter,
    send,
)
from tests.gateway.stand_ins import KNOWN_REQUEST_ID, Status, Upstreams

STATUS_PATH = f"/api/v1/verification/{KNOWN_REQUEST_ID}/status"


@pytest.fixture(scope="module")
def public_pki(tmp_path_factory: pytest.TempPathFactory) -> DevelopmentPki:
    return ensure_development_pki(
        tmp_path_factory.mktemp("public-pki"),
        server_names=("gateway",),
        client_names=(),
    )


@pytest.fixture
def client_tls(public_pki: DevelopmentPki) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=public_pki.ca_cert)


@pytest.fixture
async def tls_gateway(
    gateway_config: GatewayConfig,
    public_pki: DevelopmentPki,
    upstreams: Upstreams,
    keys: TokenKeys,
    tmp_path: Path,
) -> AsyncIterator[Gateway]:
    material = public_pki.for_service("gateway")
    config = replace(
        gateway_config,
        public_tls=PublicTls(cert_file=material.cert, key_file=material.key),
    )
    async with EnvoyProcess(build_bootstrap(config), tmp_path / "envoy") as envoy:
        yield Gateway(config=config, envoy=envoy, upstreams=upstreams, keys=keys)


def _handshake(port: int, context: ssl.SSLContext) -> ssl.SSLSocket:
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    return context.wrap_socket(raw, server_hostname="127.0.0.1")


# --- TLS listener ----------------------------------------------------------------


async def test_rest_call_over_https_reaches_the_service(
    tls_gateway: Gateway, client_tls: ssl.SSLContext
) -> None:
    reply = await call_http(
        tls_gateway.port,
        "GET",
        STATUS_PATH,
        token=tls_gateway.keys.mint(),
        tls=client_tls,
    )

    assert reply.status == 200
    assert reply.json()["state"]["requestId"] == KNOWN_REQUEST_ID


async def test_grpc_call_over_tls_reaches_the_service(
    tls_gateway: Gateway, public_pki: DevelopmentPki
) -> None:
    credentials = grpc.ssl_channel_credentials(
        root_certificates=public_pki.ca_cert.read_bytes()
    )
    target = f"127.0.0.1:{tls_gateway.port}"
    async with grpc.aio.secure_channel(target, credentials) as channel:
        stub = verification_service_pb2_grpc.VerificationServiceStub(channel)

        response = await stub.GetVerificationStatus(
            verification_service_pb2.GetVerificationStatusRequest(
                request_id=KNOWN_REQUEST_ID
            ),
            metadata=[("authorization", f"Bearer {tls_gateway.keys.mint()}")],
            timeout=10,
        )

    assert response.state.status == Status.VERIFICATION_STATUS_IN_PROGRESS


@pytest.mark.parametrize("protocol", ["h2", "http/1.1"])
async def test_tls_listener_agrees_on_the_protocol_the_client_offers(
    tls_gateway: Gateway, client_tls: ssl.SSLContext, protocol: str
) -> None:
    client_tls.set_alpn_protocols([protocol])

    with await asyncio.to_thread(_handshake, tls_gateway.port, client_tls) as tls:
        chosen, version = tls.selected_alpn_protocol(), tls.version()

    assert chosen == protocol
    assert version in ("TLSv1.2", "TLSv1.3")


async def test_plaintext_http_to_the_tls_port_gets_no_answer(
    tls_gateway: Gateway,
) -> None:
    with pytest.raises((http.client.HTTPException, ConnectionError)):
        await asyncio.to_thread(send, tls_gateway.port, "GET", "/health", {}, None)


async def test_plaintext_grpc_to_the_tls_port_is_unavailable(
    tls_gateway: Gateway,
) -> None:
    target = f"127.0.0.1:{tls_gateway.port}"
    async with grpc.aio.insecure_channel(target) as channel:
        stub = verification_service_pb2_grpc.VerificationServiceStub(channel)

        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.GetVerificationStatus(
                verification_service_pb2.GetVerificationStatusRequest(
                    request_id=KNOWN_REQUEST_ID
                ),
                metadata=[("authorization", f"Bearer {tls_gateway.keys.mint()}")],
                timeout=5,
            )

    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert tls_gateway.upstreams.verification.metadata == []


async def test_tls_1_1_handshake_is_refused_by_the_listener(
    tls_gateway: Gateway, public_pki: DevelopmentPki
) -> None:
    old_client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old_client.load_verify_locations(public_pki.ca_cert)
    # Let this client offer TLS 1.1 at all, so that the refusal is Envoy's;
    # Python warns that TLS 1.1 is deprecated, which is the point here.
    old_client.set_ciphers("DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        old_client.minimum_version = ssl.TLSVersion.TLSv1_1
        old_client.maximum_version = ssl.TLSVersion.TLSv1_1
    stat = f"listener.127.0.0.1_{tls_gateway.port}.ssl.connection_error"

    with pytest.raises(ssl.SSLError):
        await asyncio.to_thread(_handshake, tls_gateway.port, old_client)

    errors = await asyncio.to_thread(envoy_counter, tls_gateway.config.admin_port, stat)
    assert errors == 1


def test_tls_key_of_another_certificate_is_refused_by_envoy_validation(
    gateway_config: GatewayConfig, public_pki: DevelopmentPki, tmp_path: Path
) -> None:
    config = replace(
        gateway_config,
        public_tls=PublicTls(
            cert_file=public_pki.for_service("gateway").cert,
            key_file=gateway_config.tls.key,
        ),
    )
    path = write_config(build_bootstrap(config), tmp_path)

    with pytest.raises(EnvoyConfigError, match="KEY_VALUES_MISMATCH"):
        validate_config(path)


# --- settings -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "missing"),
    [
        ("PORTCERT_GATEWAY_TLS_CERT_FILE", "PORTCERT_GATEWAY_TLS_KEY_FILE"),
        ("PORTCERT_GATEWAY_TLS_KEY_FILE", "PORTCERT_GATEWAY_TLS_CERT_FILE"),
    ],
)
def test_tls_certificate_or_key_alone_is_refused_naming_the_missing_one(
    given: str, missing: str
) -> None:
    with pytest.raises(SettingsError, match=f"{missing}: required when {given}"):
        load_settings({given: "/etc/portcert/public/tls.pem"})


def _settings(tmp_path: Path, **variables: str) -> dict[str, str]:
    return {"PORTCERT_DATA_DIR": str(tmp_path / "data"), **variables}


@pytest.mark.parametrize("host", ["0.0.0.0", "10.20.0.7", "::", "gateway.internal"])
def test_gateway_refuses_plaintext_on_a_non_loopback_host(
    tmp_path: Path, host: str
) -> None:
    settings = load_settings(_settings(tmp_path, PORTCERT_GATEWAY_HOST=host))

    with pytest.raises(
        GatewayConfigError,
        match=r"PORTCERT_GATEWAY_HOST: .* not a loopback address.*"
        r"PORTCERT_GATEWAY_PLAINTEXT_BEHIND_PROXY=true",
    ):
        gateway_config(settings)

    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost"])
def test_gateway_serves_plaintext_on_loopback(tmp_path: Path, host: str) -> None:
    settings = load_settings(_settings(tmp_path, PORTCERT_GATEWAY_HOST=host))

    config = gateway_config(settings)

    assert config.public_tls is None


def test_gateway_serves_plaintext_on_any_host_behind_a_tls_proxy(
    tmp_path: Path,
) -> None:
    settings = load_settings(
        _settings(
            tmp_path,
            PORTCERT_GATEWAY_HOST="0.0.0.0",
            PORTCERT_GATEWAY_PLAINTEXT_BEHIND_PROXY="true",
        )
    )

    config = gateway_config(settings)

    assert (config.listen_host, config.public_tls) == ("0.0.0.0", None)


def test_gateway_serves_tls_on_any_host_with_a_certificate(
    tmp_path: Path, public_pki: DevelopmentPki
) -> None:
    material = public_pki.for_service("gateway")
    settings = load_settings(
        _settings(
            tmp_path,
            PORTCERT_GATEWAY_HOST="0.0.0.0",
            PORTCERT_GATEWAY_TLS_CERT_FILE=str(material.cert),
            PORTCERT_GATEWAY_TLS_KEY_FILE=str(material.key),
        )
    )

    config = gateway_config(settings)

    assert config.public_tls == PublicTls(material.cert, material.key)


def test_unreadable_tls_key_is_refused_naming_the_variable(
    tmp_path: Path, public_pki: DevelopmentPki
) -> None:
    settings = load_settings(
        _settings(
            tmp_path,
            PORTCERT_GATEWAY_TLS_CERT_FILE=str(public_pki.for_service("gateway").cert),
            PORTCERT_GATEWAY_TLS_KEY_FILE=str(tmp_path / "missing.key"),
        )
    )

    with pytest.raises(
        GatewayConfigError,
        match=r"PORTCERT_GATEWAY_TLS_KEY_FILE: cannot read .*missing\.key: "
        r"No such file or directory",
    ):
        gateway_config(settings)
