"""The gateway's Envoy in front of real mTLS gRPC upstreams, over real sockets.

Each gateway test starts a verifier stand-in, a certifier stand-in (gRPC health
only) and an Envoy built by ``gateway.config``; requests go through plain
HTTP/1.1 or gRPC (tests/gateway/test_public_tls.py covers the TLS listener).
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import stat
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import grpc
import pytest
from cryptography import x509
from grpc_health.v1 import health_pb2

from gateway.config import (
    GatewayConfig,
    GatewayConfigError,
    JwtSettings,
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
    verification_service_pb2,
    verification_service_pb2_grpc,
)
from portcert_runtime.pki import (
    DevelopmentPki,
    ensure_development_pki,
    grpc_channel_credentials,
    spiffe_id,
)
from tests.gateway.running_gateway import (
    Gateway,
    Reply,
    TokenKeys,
    call_http,
    envoy_counter,
    make_gateway_config,
    make_token_keys,
    wait_for_status,
)
from tests.gateway.stand_ins import (
    CONTAINER_ID,
    KNOWN_REQUEST_ID,
    READINESS,
    Status,
    Upstreams,
)

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

    reply = await call_http(gateway.port, "GET", path, token=gateway.keys.mint())

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

    reply = await call_http(gateway.port, "GET", path, token=gateway.keys.mint())

    assert reply.status == 404
    assert reply.json() == {
        "code": 5,
        "message": "verification request no-such-id does not exist",
        "details": [],
    }


async def test_unknown_query_parameter_is_400_json(gateway: Gateway) -> None:
    path = f"/api/v1/verification/{KNOWN_REQUEST_ID}/status?colour=red"

    reply = await call_http(gateway.port, "GET", path, token=gateway.keys.mint())

    assert reply.status == 400
    body = reply.json()
    assert body["code"] == 3
    assert "colour" in body["message"]


async def test_bad_query_value_is_400_json_naming_the_field(
    gateway: Gateway,
) -> None:
    reply = await call_http(
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
    reply = await call_http(gateway.port, "GET", path, token=gateway.keys.mint())

    assert reply.status == 404
    assert reply.headers["content-type"] == "application/json"
    assert reply.json()["code"] == 5


async def test_health_is_200_without_a_token(gateway: Gateway) -> None:
    reply = await call_http(gateway.port, "GET", "/health")

    assert reply.status == 200
    assert reply.json() == {"status": "SERVING"}


async def test_ready_is_200_with_a_serving_json_body(gateway: Gateway) -> None:
    reply = await call_http(gateway.port, "GET", "/ready")

    assert reply.status == 200
    assert reply.headers["content-type"] == "application/json"
    assert reply.json() == {"status": "SERVING"}


async def test_ready_follows_the_readiness_of_the_services(gateway: Gateway) -> None:
    ready_before = (await call_http(gateway.port, "GET", "/ready")).status

    await gateway.upstreams.certifier.health.set(
        READINESS, health_pb2.HealthCheckResponse.NOT_SERVING
    )
    ready_while_down = await wait_for_status(gateway.port, "/ready", 503)
    await gateway.upstreams.certifier.health.set(
        READINESS, health_pb2.HealthCheckResponse.SERVING
    )
    ready_after = await wait_for_status(gateway.port, "/ready", 200)

    assert (ready_before, ready_while_down, ready_after) == (200, 503, 200)


async def test_watch_stream_arrives_as_server_sent_events(gateway: Gateway) -> None:
    path = f"/api/v1/verification/{KNOWN_REQUEST_ID}/events"

    reply = await call_http(gateway.port, "GET", path, token=gateway.keys.mint())

    assert reply.status == 200
    events = [e for e in reply.body.decode().split("\n\n") if e]
    assert all(event.startswith("data: ") for event in events)
    statuses = [json.loads(e.removeprefix("data: "))["state"]["status"] for e in events]
    assert statuses == [
        "VERIFICATION_STATUS_PENDING",
        "VERIFICATION_STATUS_IN_PROGRESS",
        "VERIFICATION_STATUS_PASSED",
    ]


async def _submit(gateway: Gateway, body: dict[str, Any]) -> Reply:
    return await call_http(
        gateway.port,
        "POST",
        "/api/v1/verification/submit",
        token=gateway.keys.mint(),
        headers={"content-type": "application/json"},
        body=json.dumps(body).encode(),
    )


async def test_rest_submit_accepted_by_the_service_is_202_json(
    gateway: Gateway,
) -> None:
    reply = await _submit(gateway, {"containerId": CONTAINER_ID})

    assert reply.status == 202
    assert reply.headers["content-type"] == "application/json"
    assert reply.json()["requestId"] == KNOWN_REQUEST_ID
    [submission] = gateway.upstreams.verification.submissions
    assert submission.container_id == CONTAINER_ID


async def test_rest_submit_refused_by_the_service_keeps_its_400(
    gateway: Gateway,
) -> None:
    reply = await _submit(gateway, {"priority": "PRIORITY_STANDARD"})

    assert reply.status == 400
    assert reply.json() == {
        "code": 3,
        "message": "container_id: required",
        "details": [],
    }


@pytest.mark.xfail(
    strict=True,
    reason="Envoy's transcoder drops unknown JSON body fields and has no option "
    "to reject them (README, Limitations)",
)
async def test_misspelled_optional_body_field_is_400_naming_it(
    gateway: Gateway,
) -> None:
    reply = await _submit(
        gateway, {"containerId": CONTAINER_ID, "idempotencyKye": "retry-1"}
    )

    assert reply.status == 400
    assert "idempotencyKye" in reply.json()["message"]


async def test_request_body_over_the_limit_is_413(gateway: Gateway) -> None:
    body = b'{"containerId": "' + b"x" * gateway.config.max_request_bytes + b'"}'

    reply = await call_http(
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

    reply = await call_http(gateway.port, "GET", path)

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

    reply = await call_http(
        gateway.port, "GET", path, token=gateway.keys.mint(**claims)
    )

    assert reply.status == status
    assert gateway.upstreams.verification.metadata == []


async def test_token_signed_by_another_key_is_401(gateway: Gateway) -> None:
    path = f"/api/v1/verification/{KNOWN_REQUEST_ID}/status"
    forged = make_token_keys().mint()

    reply = await call_http(gateway.port, "GET", path, token=forged)

    assert reply.status == 401


async def test_open_paths_reach_the_service_without_a_token(gateway: Gateway) -> None:
    signing_keys = await call_http(gateway.port, "GET", "/api/v1/signing-keys")
    verify = await call_http(
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

    reply = await call_http(
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


async def test_grpc_submit_through_the_gateway_succeeds(gateway: Gateway) -> None:
    # A gRPC client fails any answer whose HTTP status is not 200, so the 202
    # given to REST submissions must not reach it.
    async with grpc.aio.insecure_channel(f"127.0.0.1:{gateway.port}") as channel:
        stub = verification_service_pb2_grpc.VerificationServiceStub(channel)

        response = await stub.SubmitVerification(
            verification_service_pb2.SubmitVerificationRequest(
                container_id=CONTAINER_ID
            ),
            metadata=[("authorization", f"Bearer {gateway.keys.mint()}")],
            timeout=10,
        )

    assert response.request_id == KNOWN_REQUEST_ID
    assert response.status == Status.VERIFICATION_STATUS_PENDING


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
    config = make_gateway_config(pki, keys, upstreams)
    # The certifier stand-in's certificate says certifier, not verifier.
    config = replace(
        config,
        certifier=replace(config.certifier, peer_identity=spiffe_id("verifier")),
    )

    async with EnvoyProcess(build_bootstrap(config), tmp_path / "envoy"):
        ready = await call_http(config.listen_port, "GET", "/ready")
        san_failures = await asyncio.to_thread(
            envoy_counter, config.admin_port, "cluster.certifier.ssl.fail_verify_san"
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
