"""Compare the pipeline on the PostgreSQL job queue and on RabbitMQ, same load.

Starts ``portcert up`` twice, one after the other, each on a fresh data
directory with its own embedded PostgreSQL and free ports: first with the
default queue in PostgreSQL, then with ``PORTCERT_QUEUE_BACKEND=rabbitmq`` on a
vhost of its own (RabbitMQ at 127.0.0.1:5672 as guest/guest, created with
``rabbitmqctl`` and deleted after). Only the queue differs. Against each it runs
``benchmarks/pipeline.py`` once to warm up, then with the measured load, and
prints both results side by side, for example:

    .venv/bin/python benchmarks/compare_queues.py --requests 400 --concurrency 32
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from portcert_runtime.settings import Settings

PROJECT_ROOT = Path(__file__).resolve().parents[1]
PIPELINE = PROJECT_ROOT / "benchmarks" / "pipeline.py"
READY_LINE = "portcert is running"
START_TIMEOUT_SECONDS = 90.0
STOP_TIMEOUT_SECONDS = 60.0
BROKER_URL_PREFIX = "amqp://guest:guest@127.0.0.1:5672/"
EPHEMERAL_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
LOWEST_PORT = 20000
# Every port setting with a fixed default gets a free port, so that neither run
# collides with a `make up` on the same machine.
PORT_SETTINGS = sorted(
    name
    for name, field in Settings.model_fields.items()
    if name.endswith("_port") and field.default
)
OutcomeTable = dict[str, dict[str, Any]]


def free_ports(count: int) -> list[int]:
    """``count`` distinct free loopback ports, below the ephemeral range.

    Outgoing connections are given ports from the ephemeral range, so one of
    them cannot take a chosen port before the service that is to bind it.
    """
    ephemeral_start = int(EPHEMERAL_RANGE_FILE.read_text().split()[0])
    free = []
    for port in random.sample(range(LOWEST_PORT, ephemeral_start), count * 4):
        with socket.socket() as probe, contextlib.suppress(OSError):
            probe.bind(("127.0.0.1", port))
            free.append(port)
    if len(free) < count:
        sys.exit(f"found only {len(free)} free ports")
    return free[:count]


def system_environment(workdir: Path, queue: Mapping[str, str]) -> dict[str, str]:
    """The environment of one system and of the benchmark run against it."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("PORTCERT_")
    }
    ports = zip(PORT_SETTINGS, free_ports(len(PORT_SETTINGS)), strict=True)
    environment.update({f"PORTCERT_{name.upper()}": str(port) for name, port in ports})
    environment.update(
        {
            "PORTCERT_DATA_DIR": str(workdir / "data"),
            # The embedded PostgreSQL keeps its lock file here, not in /tmp.
            "XDG_RUNTIME_DIR": str(workdir / "run"),
            "PYTHONUNBUFFERED": "1",
            **queue,
        }
    )
    return environment


def rabbitmqctl(*arguments: str) -> None:
    """Run ``rabbitmqctl``; stop with what it said if it fails."""
    result = subprocess.run(
        ["rabbitmqctl", *arguments],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode != 0:
        sys.exit(f"rabbitmqctl {' '.join(arguments)} failed:\n{result.stderr}")


@contextlib.contextmanager
def postgres_queue() -> Iterator[dict[str, str]]:
    """The default: jobs queued in the system's own PostgreSQL."""
    yield {"PORTCERT_QUEUE_BACKEND": "postgres"}


@contextlib.contextmanager
def rabbitmq_queue() -> Iterator[dict[str, str]]:
    """Jobs queued on the machine's RabbitMQ, in a vhost deleted afterwards."""
    vhost = f"portcert_bench_{uuid.uuid4().hex[:12]}"
    rabbitmqctl("add_vhost", vhost)
    try:
        rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        yield {
            "PORTCERT_QUEUE_BACKEND": "rabbitmq",
            "PORTCERT_RABBITMQ_URL": BROKER_URL_PREFIX + vhost,
        }
    finally:
        rabbitmqctl("delete_vhost", vhost)


@contextlib.contextmanager
def running_system(environment: Mapping[str, str], cwd: Path) -> Iterator[None]:
    """``portcert up`` until the block ends, then Ctrl-C; its output on failure."""
    lines: list[str] = []
    ready = threading.Event()
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("portcert")), "up"],
        cwd=cwd,
        env=dict(environment),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )

    def drain() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if line.startswith(READY_LINE):
                ready.set()
        ready.set()

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        if not ready.wait(START_TIMEOUT_SECONDS) or process.poll() is not None:
            sys.exit("portcert up did not start; its output:\n" + "".join(lines))
        yield
    finally:
        stop(process)
        reader.join(STOP_TIMEOUT_SECONDS)


def stop(process: subprocess.Popen[str]) -> None:
    """Ctrl-C the system's process group; SIGKILL it if it does not stop."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def run_pipeline(
    environment: Mapping[str, str], requests: int, concurrency: int
) -> dict[str, Any]:
    """Run ``pipeline.py`` against the system and return its JSON result."""
    result = subprocess.run(
        [
            sys.executable,
            str(PIPELINE),
            f"--requests={requests}",
            f"--concurrency={concurrency}",
            f"--request={PROJECT_ROOT / 'examples' / 'passing.json'}",
        ],
        env=dict(environment),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if result.returncode != 0:
        sys.exit(f"pipeline.py failed:\n{result.stdout}{result.stderr}")
    outcome: dict[str, Any] = json.loads(result.stdout)
    return outcome


def measure(
    queue: contextlib.AbstractContextManager[dict[str, str]],
    options: argparse.Namespace,
) -> dict[str, Any]:
    """Warm one fresh system on ``queue`` up, then measure it."""
    workdir = Path(tempfile.mkdtemp(prefix="portcert-bench-", dir="/tmp"))
    try:
        with queue as settings:
            environment = system_environment(workdir, settings)
            with running_system(environment, workdir):
                run_pipeline(environment, options.warmup, options.concurrency)
                return run_pipeline(environment, options.requests, options.concurrency)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _cell(value: object) -> str:
    if isinstance(value, list):
        return ",".join(str(v).removeprefix("VERIFICATION_STATUS_") for v in value)
    return str(value)


def side_by_side(outcomes: OutcomeTable) -> str:
    """The outcomes as a table: one row per figure, one column per queue."""
    names = list(outcomes)
    figures = list(outcomes[names[0]])
    cells = {
        (figure, name): _cell(outcomes[name][figure])
        for figure in figures
        for name in names
    }
    label_width = max(len(figure) for figure in figures)
    widths = {
        name: max(len(name), *(len(cells[figure, name]) for figure in figures))
        for name in names
    }
    header = " " * label_width + "".join(f"  {n:>{widths[n]}}" for n in names)
    rows = [
        f"{figure:<{label_width}}"
        + "".join(f"  {cells[figure, n]:>{widths[n]}}" for n in names)
        for figure in figures
    ]
    return "\n".join([header, *rows])


def main() -> None:
    """Measure both queues and print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument(
        "--warmup",
        type=int,
        default=20,
        help="requests sent, and not measured, before the measured run",
    )
    options = parser.parse_args()
    outcomes: OutcomeTable = {
        "postgres": measure(postgres_queue(), options),
        "rabbitmq": measure(rabbitmq_queue(), options),
    }
    print(side_by_side(outcomes))


if __name__ == "__main__":
    main()
