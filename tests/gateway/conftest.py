from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.config import GatewayConfig, build_bootstrap
from gateway.envoy import EnvoyProcess
from portcert_runtime.pki import DevelopmentPki, ensure_development_pki
from tests.gateway.running_gateway import (
    Gateway,
    TokenKeys,
    make_gateway_config,
    make_token_keys,
)
from tests.gateway.stand_ins import Upstreams, start_upstreams


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> DevelopmentPki:
    return ensure_development_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def keys() -> TokenKeys:
    return make_token_keys()


@pytest.fixture
async def upstreams(pki: DevelopmentPki) -> AsyncIterator[Upstreams]:
    started = await start_upstreams(pki)
    yield started
    await started.stop()


@pytest.fixture
def gateway_config(
    pki: DevelopmentPki, keys: TokenKeys, upstreams: Upstreams
) -> GatewayConfig:
    return make_gateway_config(pki, keys, upstreams)


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
