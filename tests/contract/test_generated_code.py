import inspect
import subprocess
import sys
from pathlib import Path

import pytest

from certifier.audit_service import METHOD_POLICIES as AUDIT_POLICIES
from certifier.audit_service import AuditService
from certifier.service import METHOD_POLICIES as CERTIFICATION_POLICIES
from certifier.service import CertificationService
from portcert.audit.v1 import audit_service_pb2, audit_service_pb2_grpc
from portcert.certification.v1 import (
    certification_service_pb2,
    certification_service_pb2_grpc,
)
from portcert.verification.v1 import (
    verification_service_pb2,
    verification_service_pb2_grpc,
)
from verifier.service import METHOD_POLICIES as VERIFICATION_POLICIES
from verifier.service import VerificationService

ROOT = Path(__file__).resolve().parents[2]

SERVICES = [
    (
        verification_service_pb2,
        "VerificationService",
        verification_service_pb2_grpc.VerificationServiceServicer,
        VerificationService,
        VERIFICATION_POLICIES,
    ),
    (
        certification_service_pb2,
        "CertificationService",
        certification_service_pb2_grpc.CertificationServiceServicer,
        CertificationService,
        CERTIFICATION_POLICIES,
    ),
    (
        audit_service_pb2,
        "AuditService",
        audit_service_pb2_grpc.AuditServiceServicer,
        AuditService,
        AUDIT_POLICIES,
    ),
]


def _methods(module, service_name):
    service = module.DESCRIPTOR.services_by_name[service_name]
    return [method.name for method in service.methods]


def test_generated_stubs_match_the_contracts():
    result = subprocess.run(
        [sys.executable, "tools/gen_stubs.py", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, f"run `make gen`:\n{result.stderr}"


@pytest.mark.parametrize(
    ("module", "service_name", "base", "servicer", "policies"),
    SERVICES,
    ids=[entry[1] for entry in SERVICES],
)
def test_every_rpc_is_implemented_and_has_a_permission_policy(
    module, service_name, base, servicer, policies
):
    full_name = module.DESCRIPTOR.services_by_name[service_name].full_name

    missing = [
        name
        for name in _methods(module, service_name)
        if getattr(servicer, name) is getattr(base, name)
    ]
    without_policy = [
        name
        for name in _methods(module, service_name)
        if f"/{full_name}/{name}" not in policies
    ]

    assert missing == []
    assert without_policy == []
    assert all(
        inspect.iscoroutinefunction(getattr(servicer, name))
        or inspect.isasyncgenfunction(getattr(servicer, name))
        for name in _methods(module, service_name)
    )
