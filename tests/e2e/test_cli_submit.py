"""The `portcert` command against a running system, as the README shows it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from portcert.audit.v1 import audit_service_pb2 as audit_pb
from portcert_runtime.auth import Role

from .clients import Clients, bearer
from .running_system import EXAMPLES_DIR, SystemLayout

pytestmark = pytest.mark.slow

_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


async def test_submit_of_passing_example_prints_passed_and_its_certification(
    clients: Clients, system: SystemLayout
) -> None:
    result = system.run_cli(["submit", "examples/passing.json"])

    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"^\S+ CSQU3054383: PASSED$", result.stdout, re.MULTILINE)
    certified = re.search(rf"^certification ({_UUID})$", result.stdout, re.MULTILINE)
    assert certified, result.stdout
    certification = await clients.get_certification(
        certified.group(1), system.mint_token(Role.VIEWER)
    )
    assert certification.container_id == "CSQU3054383"


def test_submit_of_file_with_misspelled_field_fails_naming_the_field(
    system: SystemLayout, tmp_path: Path
) -> None:
    request = json.loads((EXAMPLES_DIR / "passing.json").read_text())
    request["manifest"]["totalWieght"] = request["manifest"].pop("totalWeight")
    misspelled = tmp_path / "misspelled.json"
    misspelled.write_text(json.dumps(request))

    result = system.run_cli(["submit", str(misspelled)])

    assert result.returncode != 0
    assert "totalWieght" in result.stderr, result.stderr
    assert "accepted request" not in result.stdout


async def test_token_command_mints_a_token_the_system_accepts(
    clients: Clients, system: SystemLayout
) -> None:
    result = system.run_cli(["token", "--role", "administrator"])

    assert result.returncode == 0, result.stderr
    response = await clients.audit.ListAuditEvents(
        audit_pb.ListAuditEventsRequest(page_size=1),
        metadata=bearer(result.stdout.strip()),
    )
    assert len(response.audit_events) == 1
