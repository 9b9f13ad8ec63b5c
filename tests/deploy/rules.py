"""Rules the Kubernetes manifests must keep, as plain functions over parsed YAML.

Each rule returns a list of violations, one readable sentence each, so a test
asserts the list is empty and a failure says what is wrong and where.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from fractions import Fraction
from pathlib import Path

import kubernetes_validate

from .manifests import (
    Document,
    all_containers,
    exec_flags,
    kustomized_files,
    main_container,
    manifest_files,
    mounted_files,
    of_kind,
    pod_labels,
    pod_specs,
    secret_string_data,
    selects,
)

_QUANTITY = re.compile(r"^(\d+(?:\.\d+)?)(m|k|M|G|Ki|Mi|Gi)?$")
_FACTORS = {
    "m": Fraction(1, 1000),
    "k": Fraction(10**3),
    "M": Fraction(10**6),
    "G": Fraction(10**9),
    "Ki": Fraction(2**10),
    "Mi": Fraction(2**20),
    "Gi": Fraction(2**30),
}


def _where(doc: Document) -> str:
    return f"{doc['kind']}/{doc['metadata']['name']}"


def schema_violations(documents: list[Document], version: str) -> list[str]:
    """Objects that the Kubernetes ``version`` API schema rejects (strictly)."""
    problems = []
    for doc in documents:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as err:
            problems.append(f"{_where(doc)} at {err.json_path}: {err.message}")
        except kubernetes_validate.SchemaNotFoundError as err:
            problems.append(f"{_where(doc)}: {err.message}")
    return problems


def listing_violations(directory: Path) -> list[str]:
    """Manifests the kustomization leaves out, and listed files that are gone."""
    listed = set(kustomized_files(directory))
    present = set(manifest_files(directory))
    return [f"{path} is not in its kustomization" for path in present - listed] + [
        f"{path} is listed but does not exist" for path in listed - present
    ]


def hardening_violations(pods: Mapping[str, Document]) -> list[str]:
    """Containers that could run as root, write their image, or gain privileges."""
    problems = []
    for workload, pod in pods.items():
        pod_context = pod.get("securityContext", {})
        for container in all_containers(pod):
            where = f"{workload}/{container['name']}"
            context = {**pod_context, **container.get("securityContext", {})}
            if context.get("runAsNonRoot") is not True:
                problems.append(f"{where}: runAsNonRoot is not true")
            if context.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{where}: root filesystem is writable")
            if context.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{where}: privilege escalation is not forbidden")
            if context.get("privileged") is True:
                problems.append(f"{where}: runs privileged")
            capabilities = context.get("capabilities", {})
            if capabilities.get("drop") != ["ALL"] or capabilities.get("add"):
                problems.append(f"{where}: does not drop exactly ALL capabilities")
            if context.get("seccompProfile", {}).get("type") != "RuntimeDefault":
                problems.append(f"{where}: seccomp profile is not RuntimeDefault")
        for field in ("hostNetwork", "hostPID", "hostIPC"):
            if pod.get(field):
                problems.append(f"{workload}: shares the node's {field[4:]}")
    return problems


def quantity(value: str | int) -> Fraction:
    """A Kubernetes resource quantity ("500m", "256Mi", 2) as a number."""
    match = _QUANTITY.match(str(value))
    if match is None:
        raise ValueError(f"not a quantity this rule understands: {value!r}")
    number, suffix = match.groups()
    return Fraction(number) * _FACTORS.get(suffix or "", Fraction(1))


def resource_violations(pods: Mapping[str, Document]) -> list[str]:
    """Containers without CPU and memory requests and limits, or limits below."""
    problems = []
    for workload, pod in pods.items():
        for container in all_containers(pod):
            where = f"{workload}/{container['name']}"
            resources = container.get("resources", {})
            for resource in ("cpu", "memory"):
                request = resources.get("requests", {}).get(resource)
                limit = resources.get("limits", {}).get(resource)
                if request is None or limit is None:
                    problems.append(f"{where}: {resource} request or limit missing")
                elif quantity(limit) < quantity(request):
                    problems.append(f"{where}: {resource} limit below its request")
    return problems


def writable_path_violations(
    pods: Mapping[str, Document], paths: list[str]
) -> list[str]:
    """Main containers without an emptyDir at each of ``paths``."""
    problems = []
    for workload, pod in pods.items():
        container = main_container(pod)
        volumes = {volume["name"]: volume for volume in pod.get("volumes", [])}
        writable = {
            mount["mountPath"]
            for mount in container.get("volumeMounts", [])
            if "emptyDir" in volumes[mount["name"]] and not mount.get("readOnly")
        }
        problems += [
            f"{workload}: no writable emptyDir at {path}"
            for path in paths
            if path not in writable
        ]
    return problems


def setting_name_violations(
    documents: list[Document], known: Collection[str]
) -> list[str]:
    """Variables that name no setting.

    Every key of a ConfigMap loaded with envFrom counts, and every PORTCERT_*
    variable set one by one.
    """
    config_maps = of_kind(documents, "ConfigMap")
    problems = []
    for workload, pod in pod_specs(documents).items():
        for container in all_containers(pod):
            names = [
                key
                for source in container.get("envFrom", [])
                for key in config_maps[source["configMapRef"]["name"]]["data"]
            ]
            names += [
                variable["name"]
                for variable in container.get("env", [])
                if variable["name"].startswith("PORTCERT_")
            ]
            problems += [
                f"{workload}/{container['name']}: {name} is not a setting"
                for name in names
                if name not in known
            ]
    return problems


def service_account_violations(documents: list[Document]) -> list[str]:
    """Workloads sharing an account, or holding an API token they never use."""
    accounts = of_kind(documents, "ServiceAccount")
    owners: dict[str, list[str]] = {}
    problems = []
    for workload, pod in pod_specs(documents).items():
        account = pod.get("serviceAccountName", "default")
        owners.setdefault(account, []).append(workload)
        if account not in accounts:
            problems.append(f"{workload}: ServiceAccount {account} is not defined")
        elif accounts[account].get("automountServiceAccountToken") is not False:
            problems.append(f"ServiceAccount/{account}: mounts an API token")
        if pod.get("automountServiceAccountToken") is not False:
            problems.append(f"{workload}: pod mounts an API token")
    problems += [
        f"ServiceAccount/{account} is shared by {', '.join(sorted(workloads))}"
        for account, workloads in owners.items()
        if len(workloads) > 1
    ]
    return problems


def probe_timing_violations(
    container: Document, expected: Mapping[str, Mapping[str, int]]
) -> list[str]:
    """Probes whose delays, periods, timeouts or thresholds differ from ``expected``."""
    problems = []
    for kind, timings in expected.items():
        probe = container.get(kind, {})
        problems += [
            f"{container['name']}: {kind}.{field} is {probe.get(field)}, not {value}"
            for field, value in timings.items()
            if probe.get(field) != value
        ]
    return problems


def grpc_probe_violations(
    pod: Document, *, port: int, identity: str, server_name: str, program: str
) -> list[str]:
    """Probes of a gRPC server that miss ``liveness``/``readiness`` on ``grpc``.

    The probes run ``program`` (grpc_health_probe) in the pod and present the
    pod's own certificate, so every file they name must be mounted.
    """
    container = main_container(pod)
    where = container["name"]
    ports = {entry["name"]: entry["containerPort"] for entry in container["ports"]}
    problems = []
    if ports.get("grpc") != port:
        problems.append(f"{where}: port 'grpc' is {ports.get('grpc')}, not {port}")
    mounted = {file.path for file in mounted_files(pod, container)}
    for kind, service in (
        ("livenessProbe", "liveness"),
        ("readinessProbe", "readiness"),
    ):
        probe = container.get(kind)
        if probe is None or "exec" not in probe:
            problems.append(f"{where}: no exec {kind}")
            continue
        command, flags = exec_flags(probe)
        tls_dir = flags.get("tls-ca-cert", "").rpartition("/")[0]
        expected = {
            "addr": f"127.0.0.1:{port}",
            "service": service,
            "tls": "",
            "tls-client-cert": f"{tls_dir}/{identity}.crt",
            "tls-client-key": f"{tls_dir}/{identity}.key",
            "tls-server-name": server_name,
        }
        if command != program:
            problems.append(f"{where}: {kind} runs {command}, not {program}")
        problems += [
            f"{where}: {kind} -{flag} is {flags.get(flag)!r}, not {value!r}"
            for flag, value in expected.items()
            if flags.get(flag) != value
        ]
        problems += [
            f"{where}: {kind} reads {flags[flag]}, which is not mounted"
            for flag in ("tls-ca-cert", "tls-client-cert", "tls-client-key")
            if flags.get(flag) not in mounted
        ]
    return problems


def metrics_violations(template: Document, *, port: int) -> list[str]:
    """Pod templates without a ``metrics`` port and scrape annotations for it."""
    container = main_container(template["spec"])
    where = container["name"]
    ports = {entry["name"]: entry["containerPort"] for entry in container["ports"]}
    problems = []
    if ports.get("metrics") != port:
        problems.append(
            f"{where}: port 'metrics' is {ports.get('metrics')}, not {port}"
        )
    expected = {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(port),
        "prometheus.io/path": "/metrics",
    }
    annotations = template["metadata"].get("annotations", {})
    problems += [
        f"{where}: annotation {key} is {annotations.get(key)!r}, not {value!r}"
        for key, value in expected.items()
        if annotations.get(key) != value
    ]
    return problems


def http_probe_violations(pod: Document, *, port: int) -> list[str]:
    """Gateway probes that miss /health (start, liveness) and /ready on ``http``."""
    container = main_container(pod)
    where = container["name"]
    ports = {entry["name"]: entry["containerPort"] for entry in container["ports"]}
    problems = []
    if ports.get("http") != port:
        problems.append(f"{where}: port 'http' is {ports.get('http')}, not {port}")
    for kind, path in (
        ("startupProbe", "/health"),
        ("livenessProbe", "/health"),
        ("readinessProbe", "/ready"),
    ):
        action = container.get(kind, {}).get("httpGet", {})
        if action.get("path") != path or action.get("port") != "http":
            problems.append(f"{where}: {kind} does not GET {path} on port 'http'")
    return problems


def replica_bound_violations(
    documents: list[Document], expected: Mapping[str, tuple[int, int]]
) -> list[str]:
    """Deployments whose autoscaling bounds or replicas differ from ``expected``."""
    deployments = of_kind(documents, "Deployment")
    scalers = {
        hpa["spec"]["scaleTargetRef"]["name"]: hpa
        for hpa in of_kind(documents, "HorizontalPodAutoscaler").values()
        if hpa["spec"]["scaleTargetRef"]["kind"] == "Deployment"
    }
    problems = [
        f"HorizontalPodAutoscaler scales Deployment/{name}, which does not exist"
        for name in scalers
        if name not in deployments
    ]
    for name in deployments:
        if name not in scalers:
            problems.append(f"Deployment/{name} has no autoscaler")
            continue
        spec = scalers[name]["spec"]
        bounds = (spec.get("minReplicas"), spec["maxReplicas"])
        if bounds != expected.get(name):
            problems.append(
                f"Deployment/{name} scales {bounds}, not {expected.get(name)}"
            )
        if deployments[name]["spec"]["replicas"] != bounds[0]:
            problems.append(f"Deployment/{name} does not start at its minimum")
    return problems


def disruption_budget_violations(
    documents: list[Document], expected: Mapping[str, int]
) -> list[str]:
    """Workloads whose PodDisruptionBudget minAvailable differs from ``expected``."""
    labels = pod_labels(documents)
    replicas = {
        name: deployment["spec"]["replicas"]
        for name, deployment in of_kind(documents, "Deployment").items()
    }
    problems = []
    for workload, minimum in expected.items():
        budgets = [
            pdb
            for pdb in of_kind(documents, "PodDisruptionBudget").values()
            if selects(pdb["spec"]["selector"], labels[workload])
        ]
        found = [pdb["spec"].get("minAvailable") for pdb in budgets]
        if found != [minimum]:
            problems.append(f"{workload}: minAvailable {found}, not [{minimum}]")
        elif minimum >= replicas[workload]:
            problems.append(f"{workload}: minAvailable leaves no pod to evict")
    return problems


def service_violations(documents: list[Document]) -> list[str]:
    """Services that select no workload, or target a port it does not name."""
    labels = pod_labels(documents)
    pods = pod_specs(documents)
    problems = []
    for name, service in of_kind(documents, "Service").items():
        targets = [
            workload
            for workload, pod_label in labels.items()
            if selects({"matchLabels": service["spec"]["selector"]}, pod_label)
        ]
        if len(targets) != 1:
            problems.append(f"Service/{name} selects {targets}, not one workload")
            continue
        named = {port["name"] for port in main_container(pods[targets[0]])["ports"]}
        problems += [
            f"Service/{name}: targetPort {port['targetPort']} is not a named port"
            for port in service["spec"]["ports"]
            if port["targetPort"] not in named
        ]
    return problems


def unsupplied_reference_violations(
    documents: list[Document],
    examples: list[Document],
    certificate_secrets: Collection[str],
) -> list[str]:
    """Secret keys and ConfigMap keys the pods use that no example supplies.

    Secrets named in ``certificate_secrets`` come from cert-manager, which
    writes ca.crt, tls.crt and tls.key.
    """
    secrets = secret_string_data(examples)
    config_maps = of_kind(documents + examples, "ConfigMap")
    problems = []
    for workload, pod in pod_specs(documents).items():
        for container in all_containers(pod):
            for variable in container.get("env", []):
                ref = variable.get("valueFrom", {}).get("secretKeyRef")
                if ref and ref["key"] not in secrets.get(ref["name"], {}):
                    problems.append(f"{workload}: {ref['name']}/{ref['key']}")
            for file in mounted_files(pod, container):
                if file.source_kind == "configMap":
                    known = config_maps.get(file.source_name, {}).get("data", {})
                elif file.source_name in certificate_secrets:
                    known = {"ca.crt": "", "tls.crt": "", "tls.key": ""}
                else:
                    known = secrets.get(file.source_name, {})
                if file.key not in known:
                    problems.append(f"{workload}: {file.source_name}/{file.key}")
    return problems
