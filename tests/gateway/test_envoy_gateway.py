"""The gateway's Envoy in front of real mTLS gRPC upstreams, over real sockets.

Each gateway test starts a verifier stand-in (GetVerificationStatus, the watch
stream and gRPC health), a certifier stand-in (gRPC health only) and an Envoy
built by ``gateway.config``; requests go through plain HTTP/1.1 or gRPC.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import socket
import stat
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import grpc
import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from gateway.config import (
    GatewayConfig,
    GatewayConfigError,
    JwtSettings,
    Upstream,
    build_bootstrap,
)
from gateway.envoy import (
    EnvoyConfigError,
    EnvoyProcess,
    EnvoyStartError,
    validate_config,
    write_config,
)
from portcert.certification.v1 import (
    certification_service_pb2,
    certification_service_pb2_grpc,
)
from portcert.verification.v1 import (
    verification_pb2,
    verification_service_pb2,
    verification_service_pb2_grpc,
)
from portcert_runtime.pki import (
    DevelopmentPki,
    TlsMaterial,
    ensure_development_pki,
    grpc_channel_credentials,
    grpc_server_credentials,
    spiffe_id,
)

ROOT = Path(__file__).resolve().parents[2]
DESCRIPTOR_SET = ROOT / "gen" / "portcert" / "descriptor.binpb"
ISSUER = "https://issuer.portcert.test"
AUDIENCE = "portcert"
KNOWN_REQUEST_ID = "0b9d6a4e-3c1f-4d7e-9a51-2f8c7e6d5b40"
CONTAINER_ID = "MSCU1234565"
READINESS = "readiness"
Status = verification_pb2.VerificationStatus


# --- upstream stand-ins ------------------------------------------------------


class VerificationStandIn(verification_service_pb2_grpc.VerificationServiceServicer):
    """Knows one request; records what each call carried."""

    def __init__(self) -> None:
        self.metadata: list[dict[str, str | bytes]] = []
        self.peer_names: list[list[bytes]] = []

    def _state(
        self, status: verification_pb2.VerificationStatus
    ) -> verification_pb2.VerificationState:
        return verification_pb2.VerificationState(
            request_id=KNOWN_REQUEST_ID, container_id=CONTAINER_ID, status=status
        )

    async def GetVerificationStatus(  # noqa: N802
        self,
        request: verification_service_pb2.GetVerificationStatusRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> verification_service_pb2.GetVerificationStatusResponse:
        self.metadata.append(dict(context.invocation_metadata() or ()))
        self.peer_names.append(context.auth_context().get("x509_common_name", []))
        if request.request_id != KNOWN_REQUEST_ID:
            await context.abort(
                grpc.StatusCode.NOT_FOUND,
                f"verification request {request.request_id} does not exist",
            )
        return verification_service_pb2.GetVerificationStatusResponse(
            state=self._state(Status.VERIFICATION_STATUS_IN_PROGRESS)
        )

    async def WatchVerificationStatus(  # noqa: N802
        self,
        request: verification_service_pb2.WatchVerificationStatusRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> AsyncIterator[verification_service_pb2.WatchVerificationStatusResponse]:
        for status in (
            Status.VERIFICATION_STATUS_PENDING,
            Status.VERIFICATION_STATUS_IN_PROGRESS,
            Status.VERIFICATION_STATUS_PASSED,
        ):
            yield verification_service_pb2.WatchVerificationStatusResponse(
                state=self._state(status)
            )


@dataclass
class StandIn:
    port: int
    server: grpc.aio.Server
    health: health.aio.HealthServicer


@dataclass
class Upstreams:
    verifier: StandIn
    certifier: StandIn
    verification: VerificationStandIn


async def _start_stand_in(
    material: TlsMaterial, verification: VerificationStandIn | None
) -> StandIn:
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    if verification is not None:
        verification_service_pb2_grpc.add_VerificationServiceServicer_to_server(
            verification, server
        )
    port = server.add_secure_port("127.0.0.1:0", grpc_server_credentials(material))
    await server.start()
    await health_servicer.set(READINESS, health_pb2.HealthCheckResponse.SERVING)
    return StandIn(port=port, server=server, health=health_servicer)


# --- fixtures ----------------------------------------------------------------


@dataclass(frozen=True)
class TokenKeys:
    private_key: ec.EllipticCurvePrivateKey
    jwks: str

    def mint(self, **claims: Any) -> str:
        now = int(time.time())
        payload = {"iss": ISSUER, "aud": AUDIENCE, "sub": "officer-7", "exp": now + 300}
        payload.update(claims)
        payload = {k: v for k, v in payload.items() if v is not None}
        return jwt.encode(
            payload, self.private_key, algorithm="ES256", headers={"kid": "test"}
        )


def _token_keys() -> TokenKeys:
    key = ec.generate_private_key(ec.SECP256R1())
    public_jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    public_jwk.update({"kid": "test", "alg": "ES256", "use": "sig"})
    return TokenKeys(private_key=key, jwks=json.dumps({"keys": [public_jwk]}))


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> DevelopmentPki:
    return ensure_development_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def keys() -> TokenKeys:
    return _token_keys()


@pytest.fixture
async def upstreams(pki: DevelopmentPki) -> AsyncIterator[Upstreams]:
    verification = VerificationStandIn()
    verifier = await _start_stand_in(pki.for_service("verifier"), verification)
    certifier = await _start_stand_in(pki.for_service("certifier"), None)
    yield Upstreams(verifier=verifier, certifier=certifier, verification=verification)
    await verifier.server.stop(grace=None)
    await certifier.server.stop(grace=None)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _gateway_config(
    pki: DevelopmentPki, keys: TokenKeys, upstreams: Upstreams
) -> GatewayConfig:
    return GatewayConfig(
        listen_host="127.0.0.1",
        listen_port=_free_port(),
        admin_port=_free_port(),
        verifier=Upstream("127.0.0.1", upstreams.verifier.port),
        certifier=Upstream("127.0.0.1", upstreams.certifier.port),
        tls=pki.for_service("gateway"),
        descriptor_set=DESCRIPTOR_SET,
        jwt=JwtSettings(jwks=keys.jwks, issuer=ISSUER, audiences=(AUDIENCE,)),
        health_check_interval=timedelta(milliseconds=200),
    )


@dataclass
class Gateway:
    config: GatewayConfig
    envoy: EnvoyProcess
    upstreams: Upstreams
    keys: TokenKeys

    @property
    def port(self) -> int:
        return self.config.listen_port


@pytest.fixture
def gateway_config(
    pki: DevelopmentPki, keys: TokenKeys, upstreams: Upstreams
) -> GatewayConfig:
    return _gateway_config(pki, keys, upstreams)


@pytest.fixture
async def gateway(
    gateway_config: GatewayConfig,
    upstreams: Upstreams,
    keys: TokenKeys,
    tmp_path: Path,
) -> AsyncIterator[Gateway]:
    envoy = EnvoyProcess(build_bootstrap(gateway_config), tmp_path / "envoy")
    await envoy.start()
    yield Gateway(config=gateway_config, envoy=envoy, upstreams=upstreams, keys=keys)
    await envoy.stop()


# --- HTTP helpers --------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def _send(
    port: int, method: str, path: str, headers: dict[str, str], body: bytes | None
) -> Reply:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        reply_headers = {k.lower(): v for k, v in response.getheaders()}
        return Reply(response.status, reply_headers, response.read())
    finally:
        connection.close()


async def _http(
    port: int,
    method: str,
    path: str,
    *,
    token: str | None = None,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
) -> Reply:
    all_headers = dict(headers or {})
    if token is not None:
        all_headers["authorization"] = f"Bearer {token}"
    return await asyncio.to_thread(_send, port, method, path, all_headers, body)


async def _wait_for_status(port: int, path: str, wanted: int) -> int:
    """Poll until ``path`` answers ``wanted``; return the last status seen."""
    deadline = time.monotonic() + 10
    status = 0
    while time.monotonic() < deadline:
        status = (await _http(port, "GET", path)).status
        if status == wanted:
            break
        await asyncio.sleep(0.1)
    return status


def _counter(envoy_admin_port: int, name: str) -> int:
    reply = _send(envoy_admin_port, "GET", f"/stats?filter=^{name}$", {}, None)
    for line in reply.body.decode().splitlines():
        key, _, value = line.partition(": ")
        if key == name:
            return int(value)
    return 0


# --- configuration -----------------------------------------------------------


def test_bootstrap_passes_envoy_validate_mode(
    gateway_config: GatewayConfig, tmp_path: Path
) -> None:
    path = write_config(build_bootstrap(gateway_config), tmp_path)

    validate_config(path)

    assert json.loads(path.read_text())["admin"]["address"]["socketAddress"] == {
        "address": "127.0.0.1",
        "portValue": gateway_config.admin_port,
    }


def test_validate_config_raises_envoy_reason_for_a_bad_bootstrap(
    gateway_config: GatewayConfig, tmp_path: Path
) -> None:
    bootstrap = build_bootstrap(gateway_config)
    bootstrap["staticResources"]["clusters"][0]["connectTimeout"] = "-1s"
    path = write_config(bootstrap, tmp_path)

    with pytest.raises(EnvoyConfigError, match="Expected positive duration"):
        validate_config(path)


def test_jwks_with_a_symmetric_key_is_rejected_naming_the_field() -> None:
    jwks = json.dumps({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]})

    with pytest.raises(GatewayConfigError, match=r"JwtSettings\.jwks\.keys\[0\]\.kty"):
        JwtSettings(jwks=jwks)


def test_gateway_config_rejects_admin_port_equal_to_listen_port(
    gateway_config: GatewayConfig,
) -> None:
    with pytest.raises(GatewayConfigError, match="admin_port: must differ"):
        replace(gateway_config, admin_port=gateway_config.listen_port)


# --- REST through the gateway ----------------------------------------------------


async def test_rest_status_of_a_known_request_is_200_json(gateway: Gateway) -> None:
    path = f"/api/v1/verification/{KNOWN_REQUEST_ID}/status"

    reply = await _http(gateway.port, "GET", path, token=gateway.keys.mint())

    assert reply.status == 200
    assert reply.headers["content-type"] == "application/json"
    assert reply.json()["state"] == {
        "requestId": KNOWN_REQUEST_ID,
        "containerId": CONTAINER_ID,
        "status": "VERIFICATION_STATUS_IN_PROGRESS",
        "certificationId": "",
        "errorMessage": "",
    }


async def test_rest_status_of_an_unknown_request_is_404_json(gateway: Gateway) -> None:
    path = "/api/v1/verification/no-such-id/status"

    reply = await _http(gateway.port, "GET", path, token=gateway.keys.mint())

    assert reply.status == 404
    assert reply.json() == {
        "code": 5,
        "message": "verification request no-such-id does not exist",
        "details": [],
    }


async def test_unknown_query_parameter_is_400_json(gateway: Gateway) -> None:
    path = f"/api/v1/verification/{KNOWN_REQUEST_ID}/status?colour=red"

    reply = await _http(gateway.port, "GET", path, token=gateway.keys.mint())

    assert reply.status == 400
    body = reply.json()
    assert body["code"] == 3
    assert "colour" in body["message"]


async def test_bad_query_value_is_400_json_naming_the_field(
    gateway: Gateway,
) -> None:
    reply = await _http(
        gateway.port,
        "GET",
        "/api/v1/audit/logs?pageSize=many",
        token=gateway.keys.mint(),
    )

    assert reply.status == 400
    body = reply.json()
    assert body["code"] == 3
    assert body["message"].startswith("page_size: invalid value")


@pytest.mark.parametrize(
    "path", ["/nothing-here", "/api/v1/verification/x/unknown", "/api/v2/audit/logs"]
)
async def test_unknown_path_is_404_json(gateway: Gateway, path: str) -> None:
    reply = await _http(gateway.port, "GET", path, token=gateway.keys.mint())

    assert reply.status == 404
    assert reply.headers["content-type"] == "application/json"
    assert reply.json()["code"] == 5


async def test_health_is_200_without_a_token(gateway: Gateway) -> None:
    reply = await _http(gateway.port, "GET", "/health")

    assert reply.status == 200
    assert reply.json() == {"status": "SERVING"}


async def test_ready_follows_the_readiness_of_the_services(gateway: Gateway) -> None:
    ready_before = (await _http(gateway.port, "GET", "/ready")).status

    await gateway.upstreams.certifier.health.set(
        READINESS, health_pb2.HealthCheckResponse.NOT_SERVING
    )
    ready_while_down = await _wait_for_status(gateway.port, "/ready", 503)
    await gateway.upstreams.certifier.health.set(
        READINESS, health_pb2.HealthCheckResponse.SERVING
    )
    ready_after = await _wait_for_status(gateway.port, "/ready", 200)

    assert (ready_before, ready_while_down, ready_after) == (200, 503, 200)


async def test_watch_stream_arrives_as_server_sent_events(gateway: Gateway) -> None:
    path = f"/api/v1/verification/{KNOWN_REQUEST_ID}/events"

    reply = await _http(gateway.port, "GET", path, token=gateway.keys.mint())

    assert reply.status == 200
    events = [e for e in reply.body.decode().split("\n\n") if e]
    assert all(event.startswith("data: ") for event in events)
    statuses = [json.loads(e.removeprefix("data: "))["state"]["status"] for e in events]
    assert statuses == [
        "VERIFICATION_STATUS_PENDING",
        "VERIFICATION_STATUS_IN_PROGRESS",
        "VERIFICATION_STATUS_PASSED",
    ]


async def test_request_body_over_the_limit_is_413(gateway: Gateway) -> None:
    body = b'{"containerId": "' + b"x" * gateway.config.max_request_bytes + b'"}'

    reply = await _http(
        gateway.port,
        "POST",
        "/api/v1/verification/submit",
        token=gateway.keys.mint(),
        headers={"content-type": "application/json"},
        body=body,
    )

    assert reply.status == 413
    assert reply.json()["code"] == 8


# --- tokens ---------------------------------------------------------------------


async def test_protected_path_without_a_token_is_401_json(gateway: Gateway) -> None:
    path = f"/api/v1/verification/{KNOWN_REQUEST_ID}/status"

    reply = await _http(gateway.port, "GET", path)

    assert reply.status == 401
    assert reply.json() == {
        "code": 16,
        "message": "Jwt is missing",
        "details": [],
    }
    assert gateway.upstreams.verification.metadata == []


@pytest.mark.parametrize(
    ("claims", "status"),
    [
        pytest.param({"exp": int(time.time()) - 3600}, 401, id="expired"),
        pytest.param({"exp": None}, 401, id="without-exp"),
        pytest.param({"iss": "https://elsewhere.test"}, 401, id="wrong-issuer"),
        pytest.param({"aud": "another-system"}, 403, id="wrong-audience"),
    ],
)
async def test_unacceptable_token_is_refused_before_the_service(
    gateway: Gateway, claims: dict[str, Any], status: int
) -> None:
    path = f"/api/v1/verification/{KNOWN_REQUEST_ID}/status"

    reply = await _http(gateway.port, "GET", path, token=gateway.keys.mint(**claims))

    assert reply.status == status
    assert gateway.upstreams.verification.metadata == []


async def test_token_signed_by_another_key_is_401(gateway: Gateway) -> None:
    path = f"/api/v1/verification/{KNOWN_REQUEST_ID}/status"
    forged = _token_keys().mint()

    reply = await _http(gateway.port, "GET", path, token=forged)

    assert reply.status == 401


async def test_open_paths_reach_the_service_without_a_token(gateway: Gateway) -> None:
    signing_keys = await _http(gateway.port, "GET", "/api/v1/signing-keys")
    verify = await _http(
        gateway.port,
        "POST",
        "/api/v1/certification/verify",
        headers={"content-type": "application/json"},
        body=b'{"digitalSignature": "x.y.z"}',
    )

    # The certifier stand-in serves health only: 501 proves the call got there.
    assert (signing_keys.status, verify.status) == (501, 501)


async def test_service_gets_the_token_and_gateway_identity_not_client_claims(
    gateway: Gateway,
) -> None:
    token = gateway.keys.mint()
    path = f"/api/v1/verification/{KNOWN_REQUEST_ID}/status"

    reply = await _http(
        gateway.port,
        "GET",
        path,
        token=token,
        headers={"x-user-id": "admin", "x-jwt-payload": "eyJyb2xlIjoiYWRtaW4ifQ"},
    )

    assert reply.status == 200
    [metadata] = gateway.upstreams.verification.metadata
    assert metadata["authorization"] == f"Bearer {token}"
    assert "x-user-id" not in metadata
    assert "x-jwt-payload" not in metadata
    assert gateway.upstreams.verification.peer_names == [[b"gateway"]]


# --- gRPC through the gateway ------------------------------------------------------


async def test_grpc_call_through_the_gateway_port_reaches_the_service(
    gateway: Gateway,
) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{gateway.port}") as channel:
        stub = verification_service_pb2_grpc.VerificationServiceStub(channel)

        response = await stub.GetVerificationStatus(
            verification_service_pb2.GetVerificationStatusRequest(
                request_id=KNOWN_REQUEST_ID
            ),
            metadata=[("authorization", f"Bearer {gateway.keys.mint()}")],
            timeout=10,
        )

    assert response.state.status == Status.VERIFICATION_STATUS_IN_PROGRESS


async def test_grpc_call_without_a_token_is_unauthenticated(
    gateway: Gateway,
) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{gateway.port}") as channel:
        stub = verification_service_pb2_grpc.VerificationServiceStub(channel)

        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.GetVerificationStatus(
                verification_service_pb2.GetVerificationStatusRequest(
                    request_id=KNOWN_REQUEST_ID
                ),
                timeout=10,
            )

    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert caught.value.details() == "Jwt is missing"


async def test_internal_issue_method_is_not_exposed_by_the_gateway(
    gateway: Gateway,
) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{gateway.port}") as channel:
        stub = certification_service_pb2_grpc.CertificationServiceStub(channel)

        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.IssueCertification(
                certification_service_pb2.IssueCertificationRequest(),
                metadata=[("authorization", f"Bearer {gateway.keys.mint()}")],
                timeout=10,
            )

    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED


# --- mTLS -----------------------------------------------------------------------------


async def _get_status_directly(
    upstreams: Upstreams, credentials: grpc.ChannelCredentials | None
) -> verification_service_pb2.GetVerificationStatusResponse:
    target = f"127.0.0.1:{upstreams.verifier.port}"
    channel = (
        grpc.aio.insecure_channel(target)
        if credentials is None
        else grpc.aio.secure_channel(target, credentials)
    )
    async with channel:
        stub = verification_service_pb2_grpc.VerificationServiceStub(channel)
        response: verification_service_pb2.GetVerificationStatusResponse = (
            await stub.GetVerificationStatus(
                verification_service_pb2.GetVerificationStatusRequest(
                    request_id=KNOWN_REQUEST_ID
                ),
                timeout=5,
            )
        )
        return response


async def test_service_accepts_a_client_certificate_from_the_development_ca(
    pki: DevelopmentPki, upstreams: Upstreams
) -> None:
    credentials = grpc_channel_credentials(pki.for_service("verification-worker"))

    response = await _get_status_directly(upstreams, credentials)

    assert response.state.request_id == KNOWN_REQUEST_ID


async def test_service_refuses_a_plaintext_connection(upstreams: Upstreams) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _get_status_directly(upstreams, None)

    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert upstreams.verification.metadata == []


async def test_service_refuses_a_client_certificate_from_another_ca(
    pki: DevelopmentPki, upstreams: Upstreams, tmp_path: Path
) -> None:
    stranger = ensure_development_pki(tmp_path / "other-ca").for_service("gateway")
    # Trust the real CA, so only the server's check of the client can fail.
    credentials = grpc_channel_credentials(replace(stranger, ca_cert=pki.ca_cert))

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _get_status_directly(upstreams, credentials)

    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert upstreams.verification.metadata == []


async def test_gateway_refuses_a_service_presenting_another_identity(
    pki: DevelopmentPki, keys: TokenKeys, upstreams: Upstreams, tmp_path: Path
) -> None:
    config = _gateway_config(pki, keys, upstreams)
    # The certifier stand-in's certificate says certifier, not verifier.
    config = replace(
        config,
        certifier=replace(config.certifier, peer_identity=spiffe_id("verifier")),
    )

    async with EnvoyProcess(build_bootstrap(config), tmp_path / "envoy"):
        ready = await _http(config.listen_port, "GET", "/ready")
        san_failures = await asyncio.to_thread(
            _counter, config.admin_port, "cluster.certifier.ssl.fail_verify_san"
        )

    assert ready.status == 503
    assert san_failures >= 1


# --- Envoy process ---------------------------------------------------------


async def test_stop_ends_the_envoy_process(gateway: Gateway) -> None:
    pid = gateway.envoy.pid
    assert pid is not None

    await gateway.envoy.stop()

    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


async def test_start_raises_with_envoy_log_when_the_port_is_taken(
    gateway_config: GatewayConfig, tmp_path: Path
) -> None:
    with socket.socket() as occupant:
        occupant.bind(("127.0.0.1", gateway_config.listen_port))
        occupant.listen()
        envoy = EnvoyProcess(build_bootstrap(gateway_config), tmp_path / "envoy")

        with pytest.raises(EnvoyStartError, match="Address already in use"):
            await envoy.start()

    assert envoy.pid is None


# --- development PKI -------------------------------------------------------


def _sans(path: Path) -> list[str]:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    return sorted(str(name.value) for name in names.value)


@pytest.fixture
def fresh_pki(tmp_path: Path) -> DevelopmentPki:
    return ensure_development_pki(tmp_path / "pki")


def test_development_pki_reuses_its_files_on_the_next_start(
    fresh_pki: DevelopmentPki,
) -> None:
    files = sorted(fresh_pki.directory.glob("*.crt")) + sorted(
        fresh_pki.directory.glob("*.key")
    )
    before = {path: path.read_bytes() for path in files}

    ensure_development_pki(fresh_pki.directory)

    assert {path: path.read_bytes() for path in files} == before
    assert len(before) == 10


def test_development_pki_keys_are_readable_by_the_owner_only(
    fresh_pki: DevelopmentPki,
) -> None:
    modes = {
        path.name: stat.S_IMODE(path.stat().st_mode)
        for path in fresh_pki.directory.glob("*.key")
    }

    assert set(modes.values()) == {0o600}
    assert len(modes) == 5


def test_server_certificate_names_service_localhost_and_spiffe_id(
    fresh_pki: DevelopmentPki,
) -> None:
    material = fresh_pki.for_service("certifier")

    sans = _sans(material.cert)

    assert sans == sorted(
        ["certifier", "localhost", "127.0.0.1", "spiffe://portcert.local/certifier"]
    )


def test_development_pki_reissues_a_leaf_whose_key_is_lost(
    fresh_pki: DevelopmentPki,
) -> None:
    worker = fresh_pki.for_service("verification-worker")
    old_cert, ca_before = worker.cert.read_bytes(), fresh_pki.ca_cert.read_bytes()
    worker.key.unlink()

    ensure_development_pki(fresh_pki.directory)

    assert worker.key.exists()
    assert worker.cert.read_bytes() != old_cert
    assert fresh_pki.ca_cert.read_bytes() == ca_before


def test_for_service_rejects_an_unknown_name(fresh_pki: DevelopmentPki) -> None:
    with pytest.raises(ValueError, match="'billing' is not one of"):
        fresh_pki.for_service("billing")


@pytest.mark.parametrize("name", ["../escape", "ca", "Gateway"])
def test_development_pki_refuses_a_name_that_is_not_a_dns_label(
    tmp_path: Path, name: str
) -> None:
    with pytest.raises(ValueError, match="must be a lower-case DNS label"):
        ensure_development_pki(tmp_path / "pki", client_names=(name,))

    assert not (tmp_path / "pki").exists()
