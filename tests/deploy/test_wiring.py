"""The manifests, the example files and the image fit what the code reads."""

import fnmatch
import json
import subprocess
import tomllib
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from certifier.app import WORKER_IDENTITY as CERTIFYING_PEER
from certifier.signing import KeyFileError, SigningKey
from gateway.app import public_tls
from gateway.config import GatewayConfigError, JwtSettings
from portcert_runtime.auth import TokenVerifier
from portcert_runtime.bootstrap import tls_material
from portcert_runtime.pki import spiffe_id
from portcert_runtime.settings import load_settings

from .conftest import IDENTITIES
from .manifests import (
    DEPLOY_DIR,
    HEALTH_PROBE,
    Document,
    empty_dir_mounts,
    exec_flags,
    main_container,
    mounted_files,
    of_kind,
    pod_specs,
)
from .rules import unsupplied_reference_violations

REPOSITORY = DEPLOY_DIR.parent
CONTAINERFILE = DEPLOY_DIR / "Containerfile"
SERVICES = ("verifier", "certifier", "gateway", "worker")


def _files_from(pod: Document, container: Document, source: str) -> list[str]:
    return [
        file.path
        for file in mounted_files(pod, container)
        if file.source_name == source
    ]


def _tls_secret(pod: Document) -> str:
    (secret,) = {
        file.source_name
        for file in mounted_files(pod, main_container(pod))
        if file.path.startswith("/etc/portcert/tls/")
    }
    return secret


def _containerfile_instructions() -> list[list[str]]:
    joined = CONTAINERFILE.read_text().replace("\\\n", " ")
    return [
        line.split()
        for line in joined.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


@pytest.mark.parametrize("workload", [*SERVICES, "migrate"])
def test_every_workload_starts_with_valid_settings(
    environments: dict[str, dict[str, str]], workload: str
) -> None:
    settings = load_settings(environments[workload])

    assert settings.database_url is not None or workload == "gateway"


@pytest.mark.parametrize("workload", SERVICES)
def test_services_use_the_platforms_certificates_and_key_set(
    environments: dict[str, dict[str, str]], workload: str
) -> None:
    settings = load_settings(environments[workload])

    # Unset, each pod would make its own development CA or token issuer.
    assert settings.tls_dir is not None
    assert settings.jwks_file is not None or workload == "worker"


def test_queue_users_take_rabbitmq_and_blobs_go_to_s3(
    environments: dict[str, dict[str, str]],
) -> None:
    settings = {name: load_settings(environments[name]) for name in SERVICES}

    assert {name for name, s in settings.items() if s.queue_backend == "rabbitmq"} == {
        "verifier",
        "worker",
    }
    assert settings["certifier"].blob_backend == "s3"
    assert settings["verifier"].redis_url is not None


def test_gateway_serves_plaintext_only_because_the_load_balancer_terminates_tls(
    documents: list[Document], environments: dict[str, dict[str, str]]
) -> None:
    settings = load_settings(environments["gateway"])
    without_proxy = settings.model_copy(
        update={"gateway_plaintext_behind_proxy": False}
    )
    service = of_kind(documents, "Service")["gateway"]

    tls = public_tls(settings)

    assert tls is None
    assert service["spec"]["type"] == "LoadBalancer"
    assert [port["port"] for port in service["spec"]["ports"]] == [443]
    with pytest.raises(GatewayConfigError, match="PORTCERT_GATEWAY_HOST"):
        public_tls(without_proxy)


def test_every_referenced_secret_and_key_set_has_an_example(
    documents: list[Document], examples: list[Document]
) -> None:
    certificate_secrets = {
        cert["spec"]["secretName"] for cert in examples if cert["kind"] == "Certificate"
    }

    problems = unsupplied_reference_violations(documents, examples, certificate_secrets)

    assert problems == []


@pytest.mark.parametrize("workload", SERVICES)
def test_tls_volume_gives_each_process_the_files_tls_material_reads(
    documents: list[Document],
    environments: dict[str, dict[str, str]],
    workload: str,
    tmp_path: Path,
) -> None:
    pod = pod_specs(documents)[workload]
    tls_dir = environments[workload]["PORTCERT_TLS_DIR"]
    paths = _files_from(pod, main_container(pod), _tls_secret(pod))
    for path in paths:
        (tmp_path / Path(path).relative_to(tls_dir)).write_text("PEM")
    settings = load_settings(
        {**environments[workload], "PORTCERT_TLS_DIR": str(tmp_path)}
    )

    material = tls_material(settings, IDENTITIES[workload])

    assert len(paths) == 3
    assert material.cert.is_file()
    assert material.key.is_file()
    assert material.ca_cert.is_file()


def test_certifier_loads_an_owner_only_copy_of_the_group_readable_signing_key(
    documents: list[Document], environments: dict[str, dict[str, str]], tmp_path: Path
) -> None:
    pod = pod_specs(documents)["certifier"]
    (copier,) = pod["initContainers"]
    program, mode_flag, mode, source, target = copier["command"]
    key_file = str(load_settings(environments["certifier"]).resolved_signing_key_file)
    mounted = tmp_path / "mounted.pem"
    mounted.write_bytes(
        ed25519.Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    mounted.chmod(0o440)

    subprocess.run(
        [program, mode_flag, mode, mounted, tmp_path / "copy.pem"], check=True
    )

    assert (mode_flag, mode) == ("-m", "0400")
    assert source in _files_from(pod, copier, "portcert-signing-key")
    assert target == key_file
    volume = empty_dir_mounts(pod, main_container(pod))[str(Path(key_file).parent)]
    assert volume["medium"] == "Memory"
    assert SigningKey.load_or_create(tmp_path / "copy.pem").key_id
    with pytest.raises(KeyFileError, match="readable by its owner only"):
        SigningKey.load_or_create(mounted)


def test_every_token_checker_reads_the_providers_key_set(
    documents: list[Document], examples: list[Document]
) -> None:
    pods = pod_specs(documents)
    config_maps = of_kind(examples, "ConfigMap")

    key_sets = {
        name: file.source_name
        for name in ("verifier", "certifier", "gateway")
        for file in mounted_files(pods[name], main_container(pods[name]))
        if file.source_kind == "configMap"
    }

    assert set(key_sets.values()) == {"portcert-jwks"}
    key_set = json.loads(config_maps["portcert-jwks"]["data"]["jwks.json"])
    TokenVerifier(key_set, issuer="issuer", audience="portcert")
    JwtSettings(jwks=json.dumps(key_set))


def test_only_the_workers_certificate_carries_the_identity_allowed_to_certify(
    documents: list[Document], examples: list[Document]
) -> None:
    pods = pod_specs(documents)
    certificates = {
        cert["spec"]["secretName"]: cert["spec"]
        for cert in examples
        if cert["kind"] == "Certificate"
    }

    holders = [
        name
        for name in SERVICES
        if spiffe_id(CERTIFYING_PEER) in certificates[_tls_secret(pods[name])]["uris"]
    ]

    assert holders == ["worker"]


@pytest.mark.parametrize("workload", SERVICES)
def test_certificates_carry_the_identity_and_names_peers_check(
    documents: list[Document], examples: list[Document], workload: str
) -> None:
    pod = pod_specs(documents)[workload]
    certificates = {
        cert["spec"]["secretName"]: cert["spec"]
        for cert in examples
        if cert["kind"] == "Certificate"
    }

    spec = certificates[_tls_secret(pod)]

    assert spec["uris"] == [spiffe_id(IDENTITIES[workload])]
    assert "client auth" in spec["usages"]
    assert spec["issuerRef"]["name"] == "portcert-ca"
    if workload in ("verifier", "certifier"):
        assert workload in spec["dnsNames"]
        assert "server auth" in spec["usages"]


@pytest.mark.parametrize("workload", ["verifier", "certifier", "worker"])
def test_the_certificate_serves_the_name_its_in_pod_probe_dials(
    documents: list[Document], examples: list[Document], workload: str
) -> None:
    pod = pod_specs(documents)[workload]
    certificates = {
        cert["spec"]["secretName"]: cert["spec"]
        for cert in examples
        if cert["kind"] == "Certificate"
    }

    spec = certificates[_tls_secret(pod)]

    for kind in ("livenessProbe", "readinessProbe"):
        _, flags = exec_flags(main_container(pod)[kind])
        assert flags["tls-server-name"] in spec["dnsNames"]
    # The probe presents the same certificate it checks the server by.
    assert {"server auth", "client auth"} <= set(spec["usages"])


def test_containerfile_copies_every_package_the_wheel_is_built_from() -> None:
    project = tomllib.loads((REPOSITORY / "pyproject.toml").read_text())
    finder = project["tool"]["setuptools"]["packages"]["find"]
    packages = {
        f"{root}/{path.name}".removeprefix("./")
        for root in finder["where"]
        for path in (REPOSITORY / root).iterdir()
        if any(fnmatch.fnmatch(path.name, p) for p in finder["include"])
        and any(path.glob("**/*.py"))
    }
    copied = {
        word.rstrip("/")
        for words in _containerfile_instructions()
        if words[0] == "COPY" and not words[1].startswith("--")
        for word in words[1:-1]
    }

    missing = {p for p in packages if p not in copied and p.split("/")[0] not in copied}

    assert missing == set()
    assert {"verifier", "gen/portcert"} <= packages
    assert {"pyproject.toml", "README.md"} <= copied


def test_image_runs_portcert_as_the_user_the_pods_expect_with_the_probe(
    documents: list[Document],
) -> None:
    instructions = _containerfile_instructions()
    final_stage = instructions[
        max(i for i, w in enumerate(instructions) if w[0] == "FROM") :
    ]

    user = [words[1] for words in final_stage if words[0] == "USER"]
    entrypoint = [
        " ".join(words[1:]) for words in final_stage if words[0] == "ENTRYPOINT"
    ]
    probe_copies = [words for words in final_stage if words[-1] == HEALTH_PROBE]

    contexts = [pod["securityContext"] for pod in pod_specs(documents).values()]
    assert user == [f"{contexts[0]['runAsUser']}:{contexts[0]['runAsGroup']}"]
    assert all(c["runAsUser"] == contexts[0]["runAsUser"] for c in contexts)
    assert entrypoint == ['["portcert"]']
    assert len(probe_copies) == 1
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in CONTAINERFILE.read_text()


def test_only_the_migration_job_migrates_and_it_uses_the_writer(
    documents: list[Document],
) -> None:
    pods = pod_specs(documents)

    commands = {name: main_container(pod)["args"] for name, pod in pods.items()}

    assert commands == {
        **{name: ["serve", name] for name in SERVICES},
        "migrate": ["migrate"],
    }
    (variable,) = main_container(pods["migrate"])["env"]
    assert variable["name"] == "PORTCERT_DATABASE_URL"
    assert variable["valueFrom"]["secretKeyRef"]["key"] == "database-url"
