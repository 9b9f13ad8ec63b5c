"""Running the gateway: an Envoy configured from portcert's settings."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

from gateway.config import GatewayConfig, JwtSettings, Upstream, build_bootstrap
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
    """The Envoy settings for this deployment."""
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
    )


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
            "log": str(envoy.log_path),
        },
    )
    try:
        await stop.wait()
    finally:
        await envoy.stop()
