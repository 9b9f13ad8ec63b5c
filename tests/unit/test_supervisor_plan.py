"""`portcert up` gives each child that serves metrics a port of its own."""

from pathlib import Path

import click
import pytest

from portcert_cli.supervisor import SERVICES, plan
from portcert_runtime.settings import load_settings


def _metrics_ports(tmp_path: Path, metrics_port: str) -> dict[str, int]:
    settings = load_settings(
        {"PORTCERT_DATA_DIR": str(tmp_path), "PORTCERT_METRICS_PORT": metrics_port}
    )
    return {child.name: child.metrics_port for child in plan(settings, SERVICES)}


def test_children_serve_metrics_on_the_port_and_the_two_after_it(
    tmp_path: Path,
) -> None:
    ports = _metrics_ports(tmp_path, "9464")

    assert ports == {"verifier": 9464, "certifier": 9465, "worker": 9466, "gateway": 0}


def test_no_child_serves_metrics_when_the_port_is_zero(tmp_path: Path) -> None:
    ports = _metrics_ports(tmp_path, "0")

    assert set(ports.values()) == {0}


def test_a_port_whose_followers_pass_65535_is_refused_naming_the_variable(
    tmp_path: Path,
) -> None:
    with pytest.raises(click.ClickException) as refused:
        _metrics_ports(tmp_path, "65534")

    assert "PORTCERT_METRICS_PORT: must be at most 65533" in refused.value.message
