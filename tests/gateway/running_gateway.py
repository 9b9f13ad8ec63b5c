"""A gateway under test: its configuration, its tokens and calls to its ports.

HTTP calls go through ``http.client`` in a worker thread, over TLS when given
the CA that signed the listener's certificate.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import socket
import ssl
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.config import GatewayConfig, JwtSettings, Upstream
from gateway.envoy import EnvoyProcess
from portcert_runtime.pki import DevelopmentPki
from tests.gateway.stand_ins import Upstreams

ROOT = Path(__file__).resolve().parents[2]
DESCRIPTOR_SET = ROOT / "gen" / "portcert" / "descriptor.binpb"
ISSUER = "https://issuer.portcert.test"
AUDIENCE = "portcert"


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


def make_token_keys() -> TokenKeys:
    key = ec.generate_private_key(ec.SECP256R1())
    public_jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    public_jwk.update({"kid": "test", "alg": "ES256", "use": "sig"})
    return TokenKeys(private_key=key, jwks=json.dumps({"keys": [public_jwk]}))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def make_gateway_config(
    pki: DevelopmentPki, keys: TokenKeys, upstreams: Upstreams
) -> GatewayConfig:
    return GatewayConfig(
        listen_host="127.0.0.1",
        listen_port=free_port(),
        admin_port=free_port(),
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


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def send(
    port: int,
    method: str,
    path: str,
    headers: dict[str, str],
    body: bytes | None,
    tls: ssl.SSLContext | None = None,
) -> Reply:
    connection = (
        http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        if tls is None
        else http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=tls)
    )
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        reply_headers = {k.lower(): v for k, v in response.getheaders()}
        return Reply(response.status, reply_headers, response.read())
    finally:
        connection.close()


async def call_http(
    port: int,
    method: str,
    path: str,
    *,
    token: str | None = None,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    tls: ssl.SSLContext | None = None,
) -> Reply:
    all_headers = dict(headers or {})
    if token is not None:
        all_headers["authorization"] = f"Bearer {token}"
    return await asyncio.to_thread(send, port, method, path, all_headers, body, tls)


async def wait_for_status(port: int, path: str, wanted: int) -> int:
    """Poll until ``path`` answers ``wanted``; return the last status seen."""
    deadline = time.monotonic() + 10
    status = 0
    while time.monotonic() < deadline:
        status = (await call_http(port, "GET", path)).status
        if status == wanted:
            break
        await asyncio.sleep(0.1)
    return status


def envoy_counter(envoy_admin_port: int, name: str) -> int:
    reply = send(envoy_admin_port, "GET", f"/stats?filter=^{name}$", {}, None)
    for line in reply.body.decode().splitlines():
        key, _, value = line.partition(": ")
        if key == name:
            return int(value)
    return 0
