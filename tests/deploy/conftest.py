import pytest

from certifier.app import SERVICE_NAME as CERTIFIER_IDENTITY
from gateway.app import SERVICE_NAME as GATEWAY_IDENTITY
from verifier.app import SERVICE_NAME as VERIFIER_IDENTITY
from verifier.worker import SERVICE_NAME as WORKER_IDENTITY

from .manifests import (
    Document,
    container_environment,
    example_documents,
    kustomized_documents,
    main_container,
    of_kind,
    pod_specs,
    secret_string_data,
)

# The name each workload's process presents for mTLS (tls_material's
# ``identity``), taken from the code that asks for it.
IDENTITIES = {
    "verifier": VERIFIER_IDENTITY,
    "certifier": CERTIFIER_IDENTITY,
    "gateway": GATEWAY_IDENTITY,
    "worker": WORKER_IDENTITY,
}


@pytest.fixture(scope="session")
def documents() -> list[Document]:
    return kustomized_documents()


@pytest.fixture(scope="session")
def examples() -> list[Document]:
    return example_documents()


@pytest.fixture(scope="session")
def environments(
    documents: list[Document], examples: list[Document]
) -> dict[str, dict[str, str]]:
    """Each workload's variables, with the example Secrets' placeholder values."""
    config_maps = of_kind(documents + examples, "ConfigMap")
    secrets = secret_string_data(examples)
    return {
        workload: container_environment(main_container(pod), config_maps, secrets)
        for workload, pod in pod_specs(documents).items()
    }
