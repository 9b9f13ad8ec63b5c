"""Who may talk to whom under the NetworkPolicies, worked out from the YAML.

Only what the portcert manifests use is understood: matchLabels selectors,
pod peers in the same namespace, peers given by namespace and pod labels, and
ports by name or number. Anything else raises, so a new construct gets a rule
here before it is trusted.
"""

from __future__ import annotations

from collections.abc import Mapping

from .manifests import (
    Document,
    main_container,
    of_kind,
    pod_labels,
    pod_specs,
    selects,
)

Edge = tuple[str, str, str]
"""(source workload, destination workload, destination port name)."""

_DNS_PEER = {
    "namespaceSelector": {
        "matchLabels": {"kubernetes.io/metadata.name": "kube-system"}
    },
    "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
}


def _selecting(
    policies: list[Document], labels: Mapping[str, str], direction: str
) -> list[Document]:
    return [
        policy
        for policy in policies
        if direction in policy["spec"].get("policyTypes", ["Ingress"])
        and selects(policy["spec"]["podSelector"], labels)
    ]


def _port_matches(rule: Document, name: str, number: int) -> bool:
    ports = rule.get("ports")
    return not ports or any(
        "port" not in entry or entry["port"] in (name, number) for entry in ports
    )


def _peer_matches(peer: Document, labels: Mapping[str, str]) -> bool:
    if set(peer) == {"podSelector"}:
        return selects(peer["podSelector"], labels)
    if set(peer) == {"namespaceSelector", "podSelector"}:
        return False
    raise ValueError(f"unsupported peer {peer}")


def _allows(
    policies: list[Document],
    own: Mapping[str, str],
    peer: Mapping[str, str],
    direction: str,
    port: Document,
) -> bool:
    selecting = _selecting(policies, own, direction)
    if not selecting:
        return True
    rules_key, peers_key = (
        ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    )
    return any(
        _port_matches(rule, port["name"], port["containerPort"])
        and (
            rule.get(peers_key) is None
            or any(_peer_matches(entry, peer) for entry in rule[peers_key])
        )
        for policy in selecting
        for rule in policy["spec"].get(rules_key, [])
    )


def pod_edges(documents: list[Document]) -> set[Edge]:
    """Connections between portcert pods that both ends' policies allow."""
    policies = list(of_kind(documents, "NetworkPolicy").values())
    labels = pod_labels(documents)
    pods = pod_specs(documents)
    return {
        (source, destination, port["name"])
        for destination, pod in pods.items()
        for port in main_container(pod).get("ports", [])
        for source in pods
        if source != destination
        and _allows(policies, labels[destination], labels[source], "Ingress", port)
        and _allows(policies, labels[source], labels[destination], "Egress", port)
    }


def open_ingress(documents: list[Document]) -> dict[str, set[str]]:
    """Named ports that admit connections from any source, by workload."""
    policies = list(of_kind(documents, "NetworkPolicy").values())
    labels = pod_labels(documents)
    opened: dict[str, set[str]] = {}
    for workload, pod in pod_specs(documents).items():
        for port in main_container(pod).get("ports", []):
            for policy in _selecting(policies, labels[workload], "Ingress"):
                for rule in policy["spec"].get("ingress", []):
                    if "from" not in rule and _port_matches(
                        rule, port["name"], port["containerPort"]
                    ):
                        opened.setdefault(workload, set()).add(port["name"])
    return opened


def ingress_peers(
    documents: list[Document], port_name: str
) -> dict[str, list[Document]]:
    """Peers of the ingress rules that cover each workload's ``port_name`` port.

    A rule without ``from`` (any source) shows as an empty peer ``{}``.
    """
    policies = list(of_kind(documents, "NetworkPolicy").values())
    labels = pod_labels(documents)
    peers: dict[str, list[Document]] = {}
    for workload, pod in pod_specs(documents).items():
        for port in main_container(pod).get("ports", []):
            if port["name"] != port_name:
                continue
            for policy in _selecting(policies, labels[workload], "Ingress"):
                for rule in policy["spec"].get("ingress", []):
                    if _port_matches(rule, port["name"], port["containerPort"]):
                        peers.setdefault(workload, []).extend(rule.get("from", [{}]))
    return peers


def open_egress_ports(documents: list[Document]) -> dict[str, set[int]]:
    """Ports each workload may reach at any address (its external backends)."""
    policies = list(of_kind(documents, "NetworkPolicy").values())
    labels = pod_labels(documents)
    return {
        workload: {
            entry["port"]
            for policy in _selecting(policies, labels[workload], "Egress")
            for rule in policy["spec"].get("egress", [])
            if "to" not in rule
            for entry in rule.get("ports", [])
        }
        for workload in pod_specs(documents)
    }


def dns_allowed(documents: list[Document]) -> set[str]:
    """Workloads whose egress reaches the cluster DNS on UDP and TCP 53."""
    policies = list(of_kind(documents, "NetworkPolicy").values())
    labels = pod_labels(documents)
    allowed = set()
    for workload in pod_specs(documents):
        for policy in _selecting(policies, labels[workload], "Egress"):
            for rule in policy["spec"].get("egress", []):
                protocols = {
                    entry.get("protocol", "TCP")
                    for entry in rule.get("ports", [])
                    if entry.get("port") == 53
                }
                if _DNS_PEER in rule.get("to", []) and protocols == {"UDP", "TCP"}:
                    allowed.add(workload)
    return allowed
