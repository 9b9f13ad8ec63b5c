"""The NetworkPolicies allow exactly the designed paths and nothing else."""

from .manifests import Document, of_kind, pod_specs
from .network import (
    dns_allowed,
    ingress_peers,
    open_egress_ports,
    open_ingress,
    pod_edges,
)

POSTGRESQL = 5432
RABBITMQ = {5671, 5672}
REDIS = 6379
HTTPS = 443
PROMETHEUS = {
    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
    "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
}


def test_pods_reach_each_other_only_along_the_designed_paths(
    documents: list[Document],
) -> None:
    edges = pod_edges(documents)

    assert edges == {
        ("gateway", "verifier", "grpc"),
        ("gateway", "certifier", "grpc"),
        ("worker", "certifier", "grpc"),
    }


def test_only_the_gateway_accepts_connections_from_outside(
    documents: list[Document],
) -> None:
    opened = open_ingress(documents)

    assert opened == {"gateway": {"http"}}


def test_only_prometheus_may_scrape_the_metrics_ports(
    documents: list[Document],
) -> None:
    peers = ingress_peers(documents, "metrics")

    assert peers == {
        "verifier": [PROMETHEUS],
        "certifier": [PROMETHEUS],
        "worker": [PROMETHEUS],
    }


def test_each_workload_reaches_only_the_backends_it_uses(
    documents: list[Document],
) -> None:
    ports = open_egress_ports(documents)

    assert ports == {
        "verifier": {POSTGRESQL, *RABBITMQ, REDIS},
        "worker": {POSTGRESQL, *RABBITMQ},
        "certifier": {POSTGRESQL, HTTPS},
        "gateway": set(),
        "migrate": {POSTGRESQL},
    }


def test_every_workload_may_resolve_names_through_cluster_dns(
    documents: list[Document],
) -> None:
    resolving = dns_allowed(documents)

    assert resolving == set(pod_specs(documents))


def test_a_default_deny_covers_every_pod_in_both_directions(
    documents: list[Document],
) -> None:
    policies = of_kind(documents, "NetworkPolicy").values()

    deny_all = [
        policy
        for policy in policies
        if policy["spec"]["podSelector"] == {}
        and set(policy["spec"]["policyTypes"]) == {"Ingress", "Egress"}
        and "ingress" not in policy["spec"]
        and "egress" not in policy["spec"]
    ]

    assert len(deny_all) == 1
