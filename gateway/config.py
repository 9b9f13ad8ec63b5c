"""The gateway's Envoy bootstrap, built from typed Envoy API objects.

``build_bootstrap(GatewayConfig(...))`` returns a plain dict (camelCase, ready
for ``json.dumps``) with:

- one public listener (HTTP/1.1 and HTTP/2 on one port, over TLS when
  ``public_tls`` is set) that transcodes REST to gRPC, checks JWTs, limits
  request bodies and answers errors as JSON (``gateway/_listener.py``,
  ``gateway/_http.py``, ``gateway/_routes.py``);
- one cluster per service, reached over mTLS with the gateway's certificate
  and health-checked over gRPC (``gateway/_clusters.py``);
- the admin interface on the loopback address only.

``/health`` answers 200 while Envoy runs. ``/ready`` answers 200 while each
cluster has at least one host whose gRPC health service ``readiness`` reports
SERVING, else 503 (Envoy's health_check filter with
``cluster_min_healthy_percentages``). Both carry ``{"status": "SERVING"}`` when
they answer 200.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from gateway._clusters import build_clusters
from gateway._envoy_api import (
    bootstrap,
    core,
    downstream_connections,
    overload,
    protobuf,
)
from gateway._listener import build_public_listener
from portcert_runtime.pki import TlsMaterial

ADMIN_HOST = "127.0.0.1"
DEFAULT_MAX_REQUEST_BYTES = 1024 * 1024
DEFAULT_MAX_CONNECTIONS = 10_000

# kty -> the only JWS algorithm accepted for that key type.
_KEY_ALGORITHMS = {"RSA": "RS256", "EC": "ES256"}


class GatewayConfigError(ValueError):
    """A gateway setting breaks a rule; the message names the field."""


@dataclass(frozen=True)
class Upstream:
    """Where a service listens, and the identity its certificate must carry.

    Attributes:
        host: DNS name or IP address of the service.
        port: Its gRPC port.
        peer_identity: URI SAN the service's certificate must carry; empty
            means ``spiffe://portcert.local/<service name>``.
    """

    host: str
    port: int
    peer_identity: str = ""


@dataclass(frozen=True)
class JwtSettings:
    """Which bearer tokens the gateway accepts (RS256 or ES256, with ``exp``).

    Exactly one of ``jwks`` and ``jwks_file`` is set.

    Attributes:
        jwks: The JSON Web Key Set itself, as JSON text.
        jwks_file: A file holding the JSON Web Key Set, read by Envoy.
        issuer: Required ``iss`` claim; empty accepts any issuer.
        audiences: Accepted ``aud`` values; empty accepts any audience.
    """

    jwks: str = ""
    jwks_file: Path | None = None
    issuer: str = ""
    audiences: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if bool(self.jwks) == (self.jwks_file is not None):
            raise GatewayConfigError(
                "JwtSettings: set exactly one of jwks and jwks_file"
            )
        if self.jwks_file is not None:
            try:
                text = self.jwks_file.read_text(encoding="utf-8")
            except OSError as err:
                raise GatewayConfigError(
                    f"JwtSettings.jwks_file: cannot read {self.jwks_file}: "
                    f"{err.strerror}"
                ) from err
            _check_jwks(text, "JwtSettings.jwks_file")
        else:
            _check_jwks(self.jwks, "JwtSettings.jwks")


@dataclass(frozen=True)
class PublicTls:
    """The certificate the public listener serves HTTPS and gRPC over TLS with.

    Envoy reads both files at start, and its validation refuses a missing file
    or a key that does not match the certificate; a renewed certificate needs a
    restart.

    Attributes:
        cert_file: PEM certificate chain, the server's certificate first.
        key_file: PEM private key of that certificate.
    """

    cert_file: Path
    key_file: Path


@dataclass(frozen=True)
class GatewayConfig:
    """Everything the gateway's Envoy needs to know.

    Attributes:
        listen_port: Public port for REST (HTTP/1.1) and gRPC (HTTP/2).
        admin_port: Envoy's admin port, bound to 127.0.0.1 only.
        verifier: The verification service.
        certifier: The certification service.
        tls: CA, certificate and key the gateway presents to the services.
        descriptor_set: Descriptor set of the services, for the transcoder.
        jwt: Accepted tokens.
        listen_host: Address of the public listener.
        max_request_bytes: Larger request bodies get 413 (default 1 MiB).
        max_connections: Open downstream connections beyond this are refused.
        health_check_interval: How often each service's readiness is probed.
        public_tls: Certificate of the public listener; None serves plaintext.
    """

    listen_port: int
    admin_port: int
    verifier: Upstream
    certifier: Upstream
    tls: TlsMaterial
    descriptor_set: Path
    jwt: JwtSettings
    listen_host: str = "0.0.0.0"
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    health_check_interval: timedelta = timedelta(seconds=5)
    public_tls: PublicTls | None = None

    def __post_init__(self) -> None:
        ports = {
            "listen_port": self.listen_port,
            "admin_port": self.admin_port,
            "verifier.port": self.verifier.port,
            "certifier.port": self.certifier.port,
        }
        for name, port in ports.items():
            if not 1 <= port <= 65535:
                raise GatewayConfigError(
                    f"GatewayConfig.{name}: must be between 1 and 65535, got {port}"
                )
        if self.listen_port == self.admin_port:
            raise GatewayConfigError(
                "GatewayConfig.admin_port: must differ from listen_port"
            )
        for name, limit in (
            ("max_request_bytes", self.max_request_bytes),
            ("max_connections", self.max_connections),
        ):
            if limit < 1:
                raise GatewayConfigError(
                    f"GatewayConfig.{name}: must be positive, got {limit}"
                )
        if self.health_check_interval < timedelta(milliseconds=100):
            raise GatewayConfigError(
                "GatewayConfig.health_check_interval: must be at least 100 ms"
            )


def build_bootstrap(config: GatewayConfig) -> dict[str, Any]:
    """Build the Envoy bootstrap for ``config`` as a JSON-ready dict."""
    admin_address = core.Address(
        socket_address=core.SocketAddress(
            address=ADMIN_HOST, port_value=config.admin_port
        )
    )
    message = bootstrap.Bootstrap(
        node=core.Node(id="portcert-gateway", cluster="portcert-gateway"),
        admin=bootstrap.Admin(address=admin_address),
        static_resources=bootstrap.BootstrapStaticResources(
            listeners=[build_public_listener(config)],
            clusters=build_clusters(config),
        ),
        overload_manager=_connection_limit(config.max_connections),
    )
    result: dict[str, Any] = message.to_dict()
    return result


def _connection_limit(max_connections: int) -> overload.OverloadManager:
    limit = downstream_connections.DownstreamConnectionsConfig(
        max_active_downstream_connections=max_connections
    )
    return overload.OverloadManager(
        resource_monitors=[
            overload.ResourceMonitor(
                name="envoy.resource_monitors.global_downstream_max_connections",
                typed_config=protobuf.Any.pack(limit),
            )
        ]
    )


def _check_jwks(text: str, field_name: str) -> None:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as err:
        raise GatewayConfigError(
            f"{field_name}: not valid JSON ({err.msg}, line {err.lineno})"
        ) from err
    keys = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(keys, list) or not keys:
        raise GatewayConfigError(
            f'{field_name}: must be a JSON object with a non-empty "keys" list'
        )
    for index, key in enumerate(keys):
        where = f"{field_name}.keys[{index}]"
        kty = key.get("kty") if isinstance(key, dict) else None
        if kty not in _KEY_ALGORITHMS:
            raise GatewayConfigError(
                f"{where}.kty: must be RSA or EC (RS256/ES256 only), got {kty!r}"
            )
        if kty == "EC" and key.get("crv") != "P-256":
            raise GatewayConfigError(
                f"{where}.crv: must be P-256 for ES256, got {key.get('crv')!r}"
            )
        alg = key.get("alg", _KEY_ALGORITHMS[kty])
        if alg != _KEY_ALGORITHMS[kty]:
            raise GatewayConfigError(
                f"{where}.alg: must be {_KEY_ALGORITHMS[kty]} for a {kty} key, "
                f"got {alg!r}"
            )
