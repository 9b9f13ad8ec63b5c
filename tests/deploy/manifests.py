"""Reading deploy/: the kustomizations, their manifests and the pods they run.

Everything here is plain parsed YAML (dicts and lists); the rules that judge
it are in ``rules.py``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

DEPLOY_DIR = Path(__file__).resolve().parents[2] / "deploy"
KUBERNETES_DIR = DEPLOY_DIR / "kubernetes"
KUSTOMIZATION_DIRS = (KUBERNETES_DIR, KUBERNETES_DIR / "migrate")
EXAMPLE_SUFFIX = ".example.yaml"
KUSTOMIZATION_FILE = "kustomization.yaml"
WORKLOAD_KINDS = ("Deployment", "Job")
# Where deploy/Containerfile installs grpc_health_probe.
HEALTH_PROBE = "/usr/local/bin/grpc_health_probe"

Document = dict[str, Any]


def load_documents(path: Path) -> list[Document]:
    """Every non-empty YAML document in ``path``."""
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def kustomization(directory: Path) -> Document:
    """The kustomization.yaml of ``directory``."""
    return load_documents(directory / KUSTOMIZATION_FILE)[0]


def kustomized_files(directory: Path) -> list[Path]:
    """The resource files that ``directory``'s kustomization lists."""
    return [directory / name for name in kustomization(directory)["resources"]]


def manifest_files(directory: Path) -> list[Path]:
    """YAML files in ``directory`` other than examples and the kustomization."""
    return sorted(
        path
        for path in directory.glob("*.yaml")
        if path.name != KUSTOMIZATION_FILE and not path.name.endswith(EXAMPLE_SUFFIX)
    )


def example_files() -> list[Path]:
    """The ``*.example.yaml`` files: what the operator fills in and applies."""
    return sorted(KUBERNETES_DIR.glob(f"*{EXAMPLE_SUFFIX}"))


def kustomized_documents() -> list[Document]:
    """Every object that the kustomizations apply."""
    return [
        doc
        for directory in KUSTOMIZATION_DIRS
        for path in kustomized_files(directory)
        for doc in load_documents(path)
    ]


def example_documents() -> list[Document]:
    """Every object in the example files."""
    return [doc for path in example_files() for doc in load_documents(path)]


def of_kind(documents: list[Document], kind: str) -> dict[str, Document]:
    """Objects of ``kind`` by name."""
    return {doc["metadata"]["name"]: doc for doc in documents if doc["kind"] == kind}


def pod_specs(documents: list[Document]) -> dict[str, Document]:
    """Pod templates' specs of the Deployments and Jobs, by workload name."""
    return {
        doc["metadata"]["name"]: doc["spec"]["template"]["spec"]
        for doc in documents
        if doc["kind"] in WORKLOAD_KINDS
    }


def pod_labels(documents: list[Document]) -> dict[str, dict[str, str]]:
    """Pod template labels of the Deployments and Jobs, by workload name."""
    return {
        doc["metadata"]["name"]: doc["spec"]["template"]["metadata"]["labels"]
        for doc in documents
        if doc["kind"] in WORKLOAD_KINDS
    }


def selects(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """Whether a matchLabels-only selector selects ``labels``.

    Raises:
        ValueError: the selector uses more than matchLabels.
    """
    if set(selector) - {"matchLabels"}:
        raise ValueError(f"only matchLabels selectors are understood: {selector}")
    match_labels: Mapping[str, str] = selector.get("matchLabels", {})
    return all(labels.get(key) == value for key, value in match_labels.items())


def all_containers(pod: Document) -> list[Document]:
    """Init containers and containers of a pod spec."""
    return [*pod.get("initContainers", []), *pod["containers"]]


def main_container(pod: Document) -> Document:
    """The pod's first (and only) long-running container."""
    container: Document = pod["containers"][0]
    return container


@dataclass(frozen=True)
class MountedFile:
    """A file that a Secret or ConfigMap volume puts into a container."""

    path: str
    source_kind: str
    source_name: str
    key: str
    mode: int | None


def mounted_files(pod: Document, container: Document) -> Iterator[MountedFile]:
    """Files that ``container`` sees from Secret and ConfigMap volume items."""
    volumes = {volume["name"]: volume for volume in pod.get("volumes", [])}
    for mount in container.get("volumeMounts", []):
        volume = volumes[mount["name"]]
        for kind, name_field in (("secret", "secretName"), ("configMap", "name")):
            if kind in volume:
                source = volume[kind]
                for item in source.get("items", []):
                    yield MountedFile(
                        path=f"{mount['mountPath']}/{item['path']}",
                        source_kind=kind,
                        source_name=source[name_field],
                        key=item["key"],
                        mode=source.get("defaultMode"),
                    )


def empty_dir_mounts(pod: Document, container: Document) -> dict[str, Document]:
    """The emptyDir volumes that ``container`` mounts, by mount path."""
    volumes = {volume["name"]: volume for volume in pod.get("volumes", [])}
    return {
        mount["mountPath"]: volumes[mount["name"]]["emptyDir"]
        for mount in container.get("volumeMounts", [])
        if "emptyDir" in volumes[mount["name"]]
    }


def container_environment(
    container: Document,
    config_maps: dict[str, Document],
    secret_values: dict[str, dict[str, str]],
) -> dict[str, str]:
    """The variables a container starts with, as the kubelet would set them.

    Optional Secret references whose Secret or key is absent are left out, as
    Kubernetes does.
    """
    environment: dict[str, str] = {}
    for source in container.get("envFrom", []):
        environment.update(config_maps[source["configMapRef"]["name"]]["data"])
    for variable in container.get("env", []):
        if "value" in variable:
            environment[variable["name"]] = variable["value"]
            continue
        reference = variable["valueFrom"]["secretKeyRef"]
        value = secret_values.get(reference["name"], {}).get(reference["key"])
        if value is not None:
            environment[variable["name"]] = value
        elif not reference.get("optional", False):
            raise KeyError(f"{reference['name']}/{reference['key']}")
    return environment


def secret_string_data(documents: list[Document]) -> dict[str, dict[str, str]]:
    """``stringData`` of every Secret, by Secret name."""
    return {
        name: secret.get("stringData", {})
        for name, secret in of_kind(documents, "Secret").items()
    }


def exec_flags(probe: Document) -> tuple[str, dict[str, str]]:
    """The program of an exec probe and its ``-name=value`` flags."""
    command = probe["exec"]["command"]
    flags = {}
    for argument in command[1:]:
        name, _, value = argument.lstrip("-").partition("=")
        flags[name] = value
    return command[0], flags
