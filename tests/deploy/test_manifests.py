"""The Kubernetes manifests are valid, complete and hardened, and keep the seed."""

from pathlib import Path

import kubernetes_validate
import pytest

from portcert_runtime.rabbitmq import EXPEDITED_QUEUE, STANDARD_QUEUE
from portcert_runtime.settings import Settings, load_settings

from . import seed
from .conftest import IDENTITIES
from .manifests import (
    HEALTH_PROBE,
    KUBERNETES_DIR,
    KUSTOMIZATION_DIRS,
    KUSTOMIZATION_FILE,
    Document,
    example_files,
    kustomized_files,
    main_container,
    of_kind,
    pod_labels,
    pod_specs,
    selects,
)
from .rules import (
    disruption_budget_violations,
    grpc_probe_violations,
    hardening_violations,
    http_probe_violations,
    listing_violations,
    metrics_violations,
    probe_timing_violations,
    replica_bound_violations,
    resource_violations,
    schema_violations,
    service_account_violations,
    service_violations,
    setting_name_violations,
    writable_path_violations,
)

SETTING_NAMES = frozenset(f"PORTCERT_{name.upper()}" for name in Settings.model_fields)
# The oldest release with every field used (the preStop sleep action), and
# the newest schema the validator ships.
KUBERNETES_VERSIONS = ("1.30.0", kubernetes_validate.latest_version())
GRPC_SERVERS = ("verifier", "certifier", "worker")
METRICS_SERVERS = ("verifier", "certifier", "worker")


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_kustomized_object_passes_strict_schema_validation(
    documents: list[Document], version: str
) -> None:
    problems = schema_violations(documents, version)

    assert problems == []


def test_example_secrets_and_key_sets_pass_strict_schema_validation(
    examples: list[Document],
) -> None:
    core_objects = [doc for doc in examples if doc["kind"] in ("Secret", "ConfigMap")]

    problems = schema_violations(core_objects, KUBERNETES_VERSIONS[0])

    assert problems == []
    assert {doc["kind"] for doc in core_objects} == {"Secret", "ConfigMap"}


@pytest.mark.parametrize("directory", KUSTOMIZATION_DIRS, ids=lambda path: path.name)
def test_each_kustomization_lists_every_manifest_beside_it(directory: Path) -> None:
    problems = listing_violations(directory)

    assert problems == []


def test_every_yaml_file_is_kustomized_an_example_or_a_kustomization() -> None:
    accounted = {path for d in KUSTOMIZATION_DIRS for path in kustomized_files(d)}
    accounted |= set(example_files())
    accounted |= {d / KUSTOMIZATION_FILE for d in KUSTOMIZATION_DIRS}

    stray = sorted(set(KUBERNETES_DIR.rglob("*.yaml")) - accounted)

    assert stray == []


def test_every_container_runs_unprivileged_as_non_root_on_a_read_only_root(
    documents: list[Document],
) -> None:
    problems = hardening_violations(pod_specs(documents))

    assert problems == []


def test_every_container_has_cpu_and_memory_requests_and_limits(
    documents: list[Document],
) -> None:
    problems = resource_violations(pod_specs(documents))

    assert problems == []


def test_every_service_process_can_write_tmp_and_its_data_directory(
    documents: list[Document], environments: dict[str, dict[str, str]]
) -> None:
    data_dir = str(load_settings(environments["verifier"]).data_dir)
    services = {
        name: pod
        for name, pod in pod_specs(documents).items()
        if main_container(pod)["args"][0] == "serve"
    }
    jobs = {
        name: pod for name, pod in pod_specs(documents).items() if name not in services
    }

    problems = writable_path_violations(services, ["/tmp", data_dir])
    problems += writable_path_violations(jobs, ["/tmp"])

    assert problems == []
    assert sorted(services) == ["certifier", "gateway", "verifier", "worker"]


def test_every_portcert_variable_names_a_real_setting(
    documents: list[Document],
) -> None:
    problems = setting_name_violations(documents, SETTING_NAMES)

    assert problems == []


def test_each_workload_has_its_own_service_account_without_an_api_token(
    documents: list[Document],
) -> None:
    problems = service_account_violations(documents)

    assert problems == []


@pytest.mark.parametrize("workload", GRPC_SERVERS)
def test_grpc_servers_probe_liveness_and_readiness_on_their_grpc_port(
    documents: list[Document], environments: dict[str, dict[str, str]], workload: str
) -> None:
    settings = load_settings(environments[workload])
    port = {
        "verifier": settings.verifier_port,
        "certifier": settings.certifier_port,
        "worker": settings.worker_health_port,
    }
    # Callers reach the servers by their Service's name; nothing dials the
    # worker, whose certificate names its identity.
    services = of_kind(documents, "Service")
    server_name = (
        services[workload]["metadata"]["name"]
        if workload in services
        else IDENTITIES[workload]
    )

    problems = grpc_probe_violations(
        pod_specs(documents)[workload],
        port=port[workload],
        identity=IDENTITIES[workload],
        server_name=server_name,
        program=HEALTH_PROBE,
    )

    assert problems == []


@pytest.mark.parametrize("workload", METRICS_SERVERS)
def test_python_services_expose_metrics_on_a_named_port_prometheus_discovers(
    documents: list[Document], environments: dict[str, dict[str, str]], workload: str
) -> None:
    port = load_settings(environments[workload]).metrics_port

    problems = metrics_violations(
        of_kind(documents, "Deployment")[workload]["spec"]["template"], port=port
    )

    assert problems == []
    assert port != 0


def test_gateway_probes_health_and_ready_on_its_http_port(
    documents: list[Document], environments: dict[str, dict[str, str]]
) -> None:
    port = load_settings(environments["gateway"]).gateway_port

    problems = http_probe_violations(pod_specs(documents)["gateway"], port=port)

    assert problems == []


@pytest.mark.parametrize("workload", [*GRPC_SERVERS, "gateway"])
def test_liveness_and_readiness_keep_the_seed_timings(
    documents: list[Document], workload: str
) -> None:
    container = main_container(pod_specs(documents)[workload])

    problems = probe_timing_violations(container, seed.PROBE_TIMINGS)

    assert problems == []


def test_autoscalers_keep_the_seed_replica_bounds(documents: list[Document]) -> None:
    problems = replica_bound_violations(documents, seed.REPLICA_BOUNDS)

    assert problems == []


def test_every_autoscaler_targets_the_seed_cpu_utilisation(
    documents: list[Document],
) -> None:
    targets = {
        name: [
            metric["resource"]["target"]["averageUtilization"]
            for metric in hpa["spec"]["metrics"]
            if metric["type"] == "Resource" and metric["resource"]["name"] == "cpu"
        ]
        for name, hpa in of_kind(documents, "HorizontalPodAutoscaler").items()
    }

    assert targets == {name: [seed.CPU_UTILIZATION_TARGET] for name in targets}


def test_worker_scales_on_messages_ready_in_both_work_queues(
    documents: list[Document],
) -> None:
    hpa = of_kind(documents, "HorizontalPodAutoscaler")["worker"]

    external = [
        m["external"] for m in hpa["spec"]["metrics"] if m["type"] == "External"
    ]

    assert len(external) == 1
    assert external[0]["metric"]["name"] == "rabbitmq_queue_messages_ready"
    (expression,) = external[0]["metric"]["selector"]["matchExpressions"]
    assert expression["key"] == "queue"
    assert expression["operator"] == "In"
    assert set(expression["values"]) == {STANDARD_QUEUE, EXPEDITED_QUEUE}
    assert external[0]["target"] == {
        "type": "AverageValue",
        "averageValue": seed.QUEUE_DEPTH_PER_POD,
    }


def test_disruption_budgets_keep_the_seed_minimums(documents: list[Document]) -> None:
    problems = disruption_budget_violations(documents, seed.MIN_AVAILABLE)

    assert problems == []


def test_services_each_select_one_workload_by_a_named_port(
    documents: list[Document],
) -> None:
    problems = service_violations(documents)

    assert problems == []


def test_every_deployment_spreads_its_pods_across_zones(
    documents: list[Document],
) -> None:
    labels = pod_labels(documents)
    spread = {
        name: [
            constraint["topologyKey"]
            for constraint in deployment["spec"]["template"]["spec"].get(
                "topologySpreadConstraints", []
            )
            if selects(constraint["labelSelector"], labels[name])
        ]
        for name, deployment in of_kind(documents, "Deployment").items()
    }

    assert all("topology.kubernetes.io/zone" in keys for keys in spread.values())
    assert len(spread) == 4
