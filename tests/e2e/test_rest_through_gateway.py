"""REST and Server-Sent Events through the gateway, on the real system."""

from __future__ import annotations

import http.client
import json
import os
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from portcert_runtime.auth import Role

from .running_system import Launcher, SystemLayout

pytestmark = pytest.mark.slow

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
FINAL = {
    "VERIFICATION_STATUS_PASSED",
    "VERIFICATION_STATUS_FAILED",
    "VERIFICATION_STATUS_ERROR",
}


def _request(
    layout: SystemLayout,
    method: str,
    path: str,
    token: str | None = None,
    body: bytes | None = None,
) -> tuple[int, dict[str, object], bytes]:
    connection = http.client.HTTPConnection(layout.gateway_address, timeout=30)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        raw = response.read()
        parsed = (
            json.loads(raw)
            if raw
            and response.getheader("content-type", "").startswith("application/json")
            else {}
        )
        return response.status, parsed, raw
    finally:
        connection.close()


def _events(layout: SystemLayout, request_id: str, token: str) -> Iterator[dict]:
    """Each Server-Sent Event of a status stream, decoded, until it ends."""
    connection = http.client.HTTPConnection(layout.gateway_address, timeout=30)
    connection.request(
        "GET",
        f"/api/v1/verification/{request_id}/events",
        headers={"Authorization": f"Bearer {token}"},
    )
    response = connection.getresponse()
    assert response.status == 200, response.read()
    try:
        for line in response:
            if line.startswith(b"data: "):
                yield json.loads(line[len(b"data: ") :])
    finally:
        connection.close()


def _verifier_pid(layout: SystemLayout) -> int:
    port = str(layout.ports["verifier_port"])
    for process in psutil.process_iter(["cmdline"]):
        command = process.info["cmdline"] or []
        if command[-2:] != ["serve", "verifier"]:
            continue
        try:
            if process.environ().get("PORTCERT_VERIFIER_PORT") == port:
                return int(process.pid)
        except psutil.Error:
            continue
    raise AssertionError(f"no verifier serving port {port}")


def _field_violations(body: dict[str, object]) -> list[str]:
    return [
        violation["field"]
        for detail in body.get("details", [])
        for violation in detail.get("fieldViolations", [])
    ]


def test_rest_submit_streams_status_events_then_serves_certification_and_pdf(
    system: SystemLayout,
) -> None:
    token = system.mint_token(Role.OPERATOR, subject=f"rest-{uuid.uuid4()}")

    status, accepted, _ = _request(
        system,
        "POST",
        "/api/v1/verification/submit",
        token,
        (EXAMPLES / "passing.json").read_bytes(),
    )
    states = [event["state"] for event in _events(system, accepted["requestId"], token)]
    final = states[-1]
    certificate_status, certification, _ = _request(
        system, "GET", f"/api/v1/certification/{final['certificationId']}", token
    )
    pdf_status, _, pdf = _request(
        system, "GET", f"/api/v1/certification/{final['certificationId']}/pdf", token
    )

    assert status == 202
    assert accepted["status"] == "VERIFICATION_STATUS_PENDING"
    assert final["status"] == "VERIFICATION_STATUS_PASSED"
    assert all(state["status"] not in FINAL for state in states[:-1])
    assert certificate_status == 200
    assert certification["certification"]["status"] == "CERTIFICATION_STATUS_ACTIVE"
    assert certification["certification"]["containerId"] == "CSQU3054383"
    assert pdf_status == 200
    assert pdf.startswith(b"%PDF")


def test_rest_errors_carry_their_status_and_a_json_body(system: SystemLayout) -> None:
    operator = system.mint_token(Role.OPERATOR)
    viewer = system.mint_token(Role.VIEWER)
    unknown = str(uuid.uuid4())

    malformed = _request(
        system, "POST", "/api/v1/verification/submit", operator, b'{"containerId": 5'
    )
    bad_fields = _request(
        system,
        "POST",
        "/api/v1/verification/submit",
        operator,
        json.dumps({"containerId": "XX1", "manifest": {"items": []}}).encode(),
    )
    no_token = _request(system, "GET", f"/api/v1/verification/{unknown}/status")
    wrong_role = _request(
        system,
        "POST",
        "/api/v1/verification/submit",
        viewer,
        (EXAMPLES / "passing.json").read_bytes(),
    )
    missing = _request(
        system, "GET", f"/api/v1/verification/{unknown}/status", operator
    )
    missing_stream = _request(
        system, "GET", f"/api/v1/verification/{unknown}/events", operator
    )
    unknown_query = _request(
        system, "GET", f"/api/v1/verification/{unknown}/status?colour=red", operator
    )
    unknown_path = _request(system, "GET", "/api/v1/nowhere", operator)

    assert malformed[0] == 400
    assert malformed[1]["code"] == 3
    assert bad_fields[0] == 400
    assert {"container_id", "manifest.items"} <= set(_field_violations(bad_fields[1]))
    assert no_token[0] == 401
    assert wrong_role[0] == 403
    assert wrong_role[1]["code"] == 7
    assert missing[0] == 404
    assert missing[1]["code"] == 5
    assert missing_stream[0] == 404
    assert unknown_query[0] == 400
    assert "colour" in unknown_query[1]["message"]
    assert unknown_path[0] == 404
    assert unknown_path[1]["code"] == 5


def test_the_hundred_and_first_submission_in_a_minute_gets_429_with_a_retry_hint(
    system: SystemLayout,
) -> None:
    token = system.mint_token(Role.OPERATOR, subject=f"busy-{uuid.uuid4()}")
    body = (EXAMPLES / "bad-check-digit.json").read_bytes()

    statuses = [
        _request(system, "POST", "/api/v1/verification/submit", token, body)[0]
        for _ in range(100)
    ]
    refused_status, refused, _ = _request(
        system, "POST", "/api/v1/verification/submit", token, body
    )

    assert statuses == [202] * 100
    assert refused_status == 429
    assert refused["code"] == 8
    retry = [
        detail
        for detail in refused["details"]
        if detail["@type"].endswith("google.rpc.RetryInfo")
    ]
    assert retry
    assert retry[0]["retryDelay"].endswith("s")


def test_status_stream_cut_by_a_stopping_verifier_ends_with_an_error_event(
    layout: SystemLayout, launch: Launcher
) -> None:
    launch(services=("certifier", "verifier", "gateway"))
    token = layout.mint_token(Role.OPERATOR)
    _, accepted, _ = _request(
        layout,
        "POST",
        "/api/v1/verification/submit",
        token,
        (EXAMPLES / "passing.json").read_bytes(),
    )
    events = _events(layout, accepted["requestId"], token)

    first = next(events)
    os.kill(_verifier_pid(layout), signal.SIGTERM)
    rest = list(events)

    assert first["state"]["status"] == "VERIFICATION_STATUS_PENDING"
    assert rest
    assert rest[-1]["error"]["code"] == 14
    assert "shutting down" in rest[-1]["error"]["message"]
