"""Each rule reports the defect it is there to catch, on a broken copy."""

import copy
from pathlib import Path

from .manifests import Document, main_container, of_kind, pod_specs
from .network import open_ingress, pod_edges
from .rules import (
    grpc_probe_violations,
    hardening_violations,
    listing_violations,
    quantity,
    replica_bound_violations,
    resource_violations,
    schema_violations,
    service_account_violations,
    setting_name_violations,
)
from .seed import REPLICA_BOUNDS


def _deployment(documents: list[Document], name: str) -> Document:
    return of_kind(documents, "Deployment")[name]


def _broken(documents: list[Document]) -> list[Document]:
    return copy.deepcopy(documents)


def test_schema_rule_reports_a_misspelled_field(documents: list[Document]) -> None:
    broken = _broken(documents)
    _deployment(broken, "verifier")["spec"]["replica"] = 3

    problems = schema_violations(broken, "1.30.0")

    assert len(problems) == 1
    assert "Deployment/verifier" in problems[0]
    assert "replica" in problems[0]


def test_hardening_rule_reports_a_writable_root_and_an_added_capability(
    documents: list[Document],
) -> None:
    broken = _broken(documents)
    context = main_container(pod_specs(broken)["gateway"])["securityContext"]
    context["readOnlyRootFilesystem"] = False
    context["capabilities"]["add"] = ["NET_BIND_SERVICE"]

    problems = hardening_violations(pod_specs(broken))

    assert problems == [
        "gateway/gateway: root filesystem is writable",
        "gateway/gateway: does not drop exactly ALL capabilities",
    ]


def test_resource_rule_reports_a_limit_below_its_request(
    documents: list[Document],
) -> None:
    broken = _broken(documents)
    resources = main_container(pod_specs(broken)["worker"])["resources"]
    resources["limits"]["memory"] = "128Mi"
    del resources["requests"]["cpu"]

    problems = resource_violations(pod_specs(broken))

    assert problems == [
        "worker/worker: cpu request or limit missing",
        "worker/worker: memory limit below its request",
    ]


def test_quantities_compare_across_units() -> None:
    assert quantity("1500m") == quantity("1.5")
    assert quantity("1Gi") == quantity("1024Mi")
    assert quantity(2) > quantity("1999m")


def test_setting_rule_reports_a_misspelled_variable(documents: list[Document]) -> None:
    broken = _broken(documents)
    of_kind(broken, "ConfigMap")["portcert"]["data"]["PORTCERT_VERIFIER_PROT"] = "1"
    known = {"PORTCERT_VERIFIER_PORT"}

    problems = setting_name_violations(broken, known)

    assert "verifier/verifier: PORTCERT_VERIFIER_PROT is not a setting" in problems


def test_service_account_rule_reports_a_shared_account(
    documents: list[Document],
) -> None:
    broken = _broken(documents)
    pod_specs(broken)["worker"]["serviceAccountName"] = "verifier"

    problems = service_account_violations(broken)

    assert problems == ["ServiceAccount/verifier is shared by verifier, worker"]


def test_grpc_probe_rule_reports_the_wrong_health_name(
    documents: list[Document],
) -> None:
    broken = _broken(documents)
    pod = pod_specs(broken)["verifier"]
    command = main_container(pod)["readinessProbe"]["exec"]["command"]
    command[command.index("-service=readiness")] = "-service=liveness"

    problems = grpc_probe_violations(
        pod,
        port=50051,
        identity="verifier",
        server_name="verifier",
        program=command[0],
    )

    assert problems == [
        "verifier: readinessProbe -service is 'liveness', not 'readiness'"
    ]


def test_replica_rule_reports_bounds_that_drift_from_the_seed(
    documents: list[Document],
) -> None:
    broken = _broken(documents)
    of_kind(broken, "HorizontalPodAutoscaler")["certifier"]["spec"]["maxReplicas"] = 5

    problems = replica_bound_violations(broken, REPLICA_BOUNDS)

    assert problems == ["Deployment/certifier scales (2, 5), not (2, 30)"]


def test_network_rules_see_a_path_that_a_policy_opens(
    documents: list[Document],
) -> None:
    broken = _broken(documents)
    verifier_policy = of_kind(broken, "NetworkPolicy")["verifier"]["spec"]
    verifier_policy["ingress"][0].pop("from")

    edges = pod_edges(broken)
    opened = open_ingress(broken)

    assert opened == {"gateway": {"http"}, "verifier": {"grpc"}}
    # The worker's own egress still keeps it away from the verifier.
    assert ("worker", "verifier", "grpc") not in edges


def test_listing_rule_reports_a_manifest_left_out(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources:\n  - listed.yaml\n")
    (tmp_path / "listed.yaml").write_text("kind: ConfigMap\n")
    (tmp_path / "forgotten.yaml").write_text("kind: ConfigMap\n")
    (tmp_path / "secrets.example.yaml").write_text("kind: Secret\n")

    problems = listing_violations(tmp_path)

    assert problems == [f"{tmp_path / 'forgotten.yaml'} is not in its kustomization"]
