"""Running the gateway: an Envoy configured from portcert's settings."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
from pathlib import Path

from gateway.config import (
    GatewayConfig,
    GatewayConfigError,
    JwtSettings,
    PublicTls,
    Upstream,
    build_bootstrap,
)
from gateway.envoy import EnvoyProcess
from portcert.verification.v1 import verification_service_pb2
from portcert_runtime.bootstrap import development_issuer, tls_material
from portcert_runtime.settings import Settings

logger = logging.getLogger(__name__)

SERVICE_NAME = "gateway"


def descriptor_set_path() -> Path:
    """The descriptor set generated beside the stubs (see tools/gen_stubs.py)."""
    return Path(verification_service_pb2.__file__).parents[2] / "descriptor.binpb"


def _upstream(target: str) -> Upstream:
    host, _, port = target.rpartition(":")
    return Upstream(host.strip("[]"), int(port))


def gateway_config(settings: Settings) -> GatewayConfig:
    """The Envoy settings for this deployment.

    Raises:
        GatewayConfigError: The public port would serve plaintext where that is
            not allowed, or a TLS file cannot be read (see ``public_tls``); the
            message names the variable.
    """
    tls = public_tls(settings)
    if settings.jwks_file is not None:
        jwt = JwtSettings(
            jwks_file=settings.jwks_file,
            issuer=settings.token_issuer,
            audiences=(settings.token_audience,),
        )
    else:
        jwt = JwtSettings(
            jwks=json.dumps(development_issuer(settings).jwks()),
            issuer=settings.token_issuer,
            audiences=(settings.token_audience,),
        )
    return GatewayConfig(
        listen_host=settings.gateway_host,
        listen_port=settings.gateway_port,
        admin_port=settings.gateway_admin_port,
        verifier=_upstream(settings.verifier_target),
        certifier=_upstream(settings.certifier_target),
        tls=tls_material(settings, SERVICE_NAME),
        descriptor_set=descriptor_set_path(),
        jwt=jwt,
        public_tls=tls,
    )


def public_tls(settings: Settings) -> PublicTls | None:
    """The public listener's certificate, or None where plaintext is allowed.

    Plaintext is allowed on a loopback address, or anywhere with
    PORTCERT_GATEWAY_PLAINTEXT_BEHIND_PROXY when a load balancer terminates TLS
    in front of the gateway.

    Raises:
        GatewayConfigError: Neither applies, or a TLS file cannot be read.
    """
    cert, key = settings.gateway_tls_cert_file, settings.gateway_tls_key_file
    if cert is not None and key is not None:
        _check_readable("PORTCERT_GATEWAY_TLS_CERT_FILE", cert)
        _check_readable("PORTCERT_GATEWAY_TLS_KEY_FILE", key)
        return PublicTls(cert_file=cert, key_file=key)
    if settings.gateway_plaintext_behind_proxy or _is_loopback(settings.gateway_host):
        return None
    # Tokens and container documents would cross the network in clear text.
    raise GatewayConfigError(
        f"PORTCERT_GATEWAY_HOST: {settings.gateway_host} is not a loopback "
        "address, and plaintext is served only on loopback; set "
        "PORTCERT_GATEWAY_TLS_CERT_FILE and PORTCERT_GATEWAY_TLS_KEY_FILE, or "
        "PORTCERT_GATEWAY_PLAINTEXT_BEHIND_PROXY=true when a load balancer "
        "terminates TLS in front of the gateway"
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _check_readable(variable: str, path: Path) -> None:
    try:
        with path.open("rb"):
            pass
    except OSError as err:
        raise GatewayConfigError(
            f"{variable}: cannot read {path}: {err.strerror}"
        ) from err


async def run_gateway(settings: Settings, stop: asyncio.Event) -> None:
    """Run Envoy until ``stop`` is set."""
    envoy = EnvoyProcess(
        build_bootstrap(gateway_config(settings)), settings.data_dir / "gateway"
    )
    await envoy.start()
    logger.info(
        "gateway listening",
        extra={
            "address": f"{settings.gateway_host}:{settings.gateway_port}",
            "tls": settings.gateway_tls_cert_file is not None,
            "log": str(envoy.log_path),
        },
    )
    try:
        await stop.wait()
    finally:
        await envoy.stop()
