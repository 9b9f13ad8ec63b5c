"""Starting and stopping the real system the way a user does, with `portcert up`.

``PortcertProcess`` owns one ``portcert up`` process in its own session, so
that a crash can be simulated by killing its whole process group. Its output
is drained by a thread from the start, which keeps the pipe from filling and
lets a failed start show everything the process said.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from portcert_runtime.auth import DevelopmentTokenIssuer, Role
from portcert_runtime.settings import Settings

from .backends import BackendProvisioner, ExternalBackends, embedded_backends

PROJECT_ROOT = Path(__file__).resolve().parents[2]
EXAMPLES_DIR = PROJECT_ROOT / "examples"
READY_LINE = "portcert is running"
START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 40.0
SESSIONS_CLOSE_SECONDS = 10.0
TOKEN_ISSUER = "portcert-development"
TOKEN_AUDIENCE = "portcert"
ENVOY_LOG_LINES = 40
EPHEMERAL_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
# Above the ports that services conventionally claim.
LOWEST_PORT = 20000
PORT_CANDIDATES = 20
# Every port setting with a fixed default, so that a system never collides with
# another one or with a `make up` running on the same machine.
PORT_SETTINGS = tuple(
    sorted(
        name
        for name, field in Settings.model_fields.items()
        if name.endswith("_port") and field.default
    )
)


def portcert_command() -> list[str]:
    """The installed ``portcert`` script beside this interpreter."""
    script = Path(sys.executable).with_name("portcert")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "portcert_cli.main"]


def free_ports(count: int) -> list[int]:
    """Distinct loopback ports that nothing listens on, below the ephemeral range.

    The kernel hands out ephemeral ports for port-0 binds and for outgoing
    connections; choosing below that range keeps another process from being
    given one of these between this check and the moment a service binds it.
    """
    ephemeral_start = int(EPHEMERAL_RANGE_FILE.read_text().split()[0])
    candidates = random.sample(range(LOWEST_PORT, ephemeral_start), PORT_CANDIDATES)
    free = [port for port in candidates if _can_bind(port)]
    assert len(free) >= count, f"only {len(free)} free ports among {candidates}"
    return free[:count]


def _can_bind(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@dataclass(frozen=True)
class SystemLayout:
    """Where one system keeps its data, listens, and finds its backing servers.

    Attributes:
        workdir: The system's working directory.
        ports: The port of each setting in ``PORT_SETTINGS``, by setting name.
        external: The system's own database, broker vhost, bucket and Redis
            database, or None on the embedded default.
    """

    workdir: Path
    ports: Mapping[str, int]
    external: ExternalBackends | None = None

    @property
    def data_dir(self) -> Path:
        """``PORTCERT_DATA_DIR``: keys, certificates and any embedded data."""
        return self.workdir / "data"

    @property
    def gateway_address(self) -> str:
        """host:port where clients reach every service, REST or gRPC."""
        return f"127.0.0.1:{self.ports['gateway_port']}"

    @property
    def database_url(self) -> str:
        """The system's database: its own on the machine's server, or embedded.

        The embedded PostgreSQL is reached through its unix socket.
        """
        if self.external is not None:
            return self.external.database_url
        return f"postgresql://postgres:@/postgres?host={self.data_dir / 'postgres'}"

    def stored_blob(self, key: str) -> tuple[str, bytes]:
        """The URI the blob store gives ``key``, and the bytes stored under it."""
        if self.external is not None:
            return self.external.object_uri(key), self.external.read_object(key)
        path = self.data_dir / "blobs" / key
        return path.resolve().as_uri(), path.read_bytes()

    def environment(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """The process environment of a command run against this system.

        Inherited ``PORTCERT_`` and ``AWS_`` variables are dropped so that
        nothing from the calling shell leaks in, and the embedded PostgreSQL
        keeps its lock file under this system's working directory.
        """
        environment = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("PORTCERT_", "AWS_"))
        }
        environment.update(
            {f"PORTCERT_{name.upper()}": str(port) for name, port in self.ports.items()}
        )
        environment.update(
            {
                "PORTCERT_DATA_DIR": str(self.data_dir),
                "XDG_RUNTIME_DIR": str(self.workdir / "run"),
                "PYTHONUNBUFFERED": "1",
            }
        )
        if self.external is not None:
            environment.update(self.external.environment())
        environment.update(extra or {})
        return environment

    def mint_token(self, *roles: Role, subject: str = "e2e-user") -> str:
        """A development token, signed with this system's issuer key."""
        issuer = DevelopmentTokenIssuer(
            self.data_dir / "keys" / "development-token-issuer.pem",
            issuer=TOKEN_ISSUER,
            audience=TOKEN_AUDIENCE,
        )
        return issuer.mint(subject, roles)

    def run_cli(
        self,
        arguments: Sequence[str],
        extra_environment: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``portcert ARGUMENTS`` from the project root against this system."""
        return subprocess.run(
            [*portcert_command(), *arguments],
            cwd=PROJECT_ROOT,
            env=self.environment(extra_environment),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )


class PortcertProcess:
    """One ``portcert up`` process, from start to exit."""

    def __init__(self, layout: SystemLayout, services: Iterable[str] = ()) -> None:
        """Prepare to run on ``layout``; no ``services`` means all of them."""
        self.layout = layout
        self._services = ",".join(services)
        self._lines: list[str] = []
        self._ready = threading.Event()
        self._process: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None

    @property
    def output(self) -> str:
        """Everything the process has written so far."""
        return "".join(self._lines)

    def diagnostics(self, since_line: int = 0) -> str:
        """Output from line ``since_line`` on, and the end of the gateway's log."""
        envoy_log = self.layout.data_dir / "gateway" / "envoy.log"
        envoy_tail = (
            envoy_log.read_text(errors="replace").splitlines()[-ENVOY_LOG_LINES:]
            if envoy_log.exists()
            else []
        )
        return "".join(self._lines[since_line:]) + "\n".join(
            ["--- end of the gateway's Envoy log ---", *envoy_tail]
        )

    @property
    def line_count(self) -> int:
        """How many lines the process has written so far."""
        return len(self._lines)

    @property
    def returncode(self) -> int | None:
        """The exit code, or None while it runs."""
        assert self._process is not None
        return self._process.poll()

    def start(self, timeout: float = START_TIMEOUT_SECONDS) -> None:
        """Start and wait for the ready line; fail with the output if it never comes."""
        command = [*portcert_command(), "up"]
        if self._services:
            command += ["--services", self._services]
        self._process = subprocess.Popen(
            command,
            cwd=self.layout.workdir,
            env=self.layout.environment(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()
        if not self._ready.wait(timeout) or self.returncode is not None:
            self.kill()
            raise AssertionError(
                f"`{' '.join(command)}` did not report {READY_LINE!r} within "
                f"{timeout:.0f} s (exit code {self.returncode}); its output:\n"
                + self.output
            )

    def _drain(self) -> None:
        assert self._process is not None
        assert self._process.stdout is not None
        for line in self._process.stdout:
            self._lines.append(line)
            if line.startswith(READY_LINE):
                self._ready.set()
        # End of output: the process is gone, so nobody should wait any longer.
        self._ready.set()

    def interrupt(self, timeout: float = STOP_TIMEOUT_SECONDS) -> int:
        """Press Ctrl-C: SIGINT to the process group; return the exit code."""
        assert self._process is not None
        os.killpg(self._process.pid, signal.SIGINT)
        try:
            code = self._process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(
                f"portcert up did not stop within {timeout:.0f} s of SIGINT; "
                f"its output:\n{self.output}"
            ) from None
        self._join_reader()
        return code

    def kill(self) -> None:
        """SIGKILL the whole process group, as a crash or power cut would."""
        assert self._process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._process.pid, signal.SIGKILL)
        self._process.wait(STOP_TIMEOUT_SECONDS)
        self._join_reader()

    def _join_reader(self) -> None:
        assert self._process is not None
        assert self._process.stdout is not None
        if self._reader is not None:
            self._reader.join(STOP_TIMEOUT_SECONDS)
        self._process.stdout.close()


Launcher = Callable[..., PortcertProcess]


def stop_cleanly(process: PortcertProcess) -> None:
    """Ctrl-C the system; it must exit 0 and let go of its database.

    An embedded PostgreSQL must have stopped with it; an external one must have
    no session of the system's left.
    """
    code = process.interrupt()
    assert code == 0, f"portcert up exited with {code}; its output:\n{process.output}"
    assert "portcert stopped" in process.output
    external = process.layout.external
    if external is None:
        assert not database_is_running(process.layout), process.output
    else:
        # The server notices a closed connection a moment after the client.
        poll_until(
            lambda: external.open_sessions() == 0,
            SESSIONS_CLOSE_SECONDS,
            "the system's database sessions to close",
        )


@contextlib.contextmanager
def fresh_layout(
    provision: BackendProvisioner = embedded_backends,
) -> Iterator[SystemLayout]:
    """A fresh system layout with the servers ``provision`` sets up; removed after.

    The working directory is new and empty, the ports free, and an external
    database is migrated before the layout is handed out.

    The directory is made directly under /tmp rather than in the root user's
    home: run as root, the embedded PostgreSQL opens traverse permission on
    every parent of its data directory.
    """
    workdir = Path(tempfile.mkdtemp(prefix="portcert-e2e-", dir="/tmp"))
    ports = dict(zip(PORT_SETTINGS, free_ports(len(PORT_SETTINGS)), strict=True))
    try:
        with provision() as external:
            layout = SystemLayout(workdir, ports, external)
            if external is not None:
                migrate(layout)
            try:
                yield layout
            finally:
                stop_leftover_database(layout)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def migrate(layout: SystemLayout) -> None:
    """Apply the schema to the system's database with ``portcert migrate``."""
    result = layout.run_cli(["migrate"])
    assert result.returncode == 0, (
        f"portcert migrate exited with {result.returncode}:\n"
        + result.stdout
        + result.stderr
    )


def database_is_running(layout: SystemLayout) -> bool:
    """Whether the embedded PostgreSQL still holds its data directory.

    PostgreSQL removes ``postmaster.pid`` when it shuts down cleanly, and a
    ``pg_ctl`` started server outlives a killed ``portcert up``.
    """
    return (layout.data_dir / "postgres" / "postmaster.pid").exists()


def stop_leftover_database(
    layout: SystemLayout, timeout: float = STOP_TIMEOUT_SECONDS
) -> None:
    """Fast-shut-down an embedded PostgreSQL that its supervisor left behind."""
    pid_file = layout.data_dir / "postgres" / "postmaster.pid"
    try:
        pid = int(pid_file.read_text().split()[0])
        command_line = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, IndexError, ValueError):
        return
    if str(pid_file.parent).encode() not in command_line:
        # A stale pid file whose number now belongs to another process.
        return
    try:
        os.kill(pid, signal.SIGINT)
    except ProcessLookupError:
        return
    # The postmaster is not our child, so it cannot be waited for; its pid
    # file disappearing is the sign that shutdown finished.
    poll_until(lambda: not pid_file.exists(), timeout, "PostgreSQL to shut down")


def poll_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Check ``condition`` every 0.1 s until it holds; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what} after {timeout:.0f} s")
        time.sleep(0.1)
