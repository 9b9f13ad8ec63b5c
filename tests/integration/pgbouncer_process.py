"""A PgBouncer in transaction-pooling mode in front of one database.

PgBouncer comes from the distribution's package (``apt-get install
pgbouncer``). It refuses to run as root, so as root it runs as the same
unprivileged user as the test's own PostgreSQL servers.
"""

from __future__ import annotations

import contextlib
import csv
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .postgres_processes import POSTGRES_BIN, free_port, owned_temporary_directory

_START_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class PgBouncer:
    """A running PgBouncer and how to reach it."""

    port: int

    def url(self, database: str) -> str:
        """URL of ``database`` through the pooler."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def show(self, what: str) -> list[dict[str, str]]:
        """Rows of the admin console's ``SHOW what`` (it speaks only simple query)."""
        psql = str(POSTGRES_BIN / "psql")
        connection = ["-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres"]
        completed = subprocess.run(
            [psql, *connection, "-d", "pgbouncer", "--csv", "-c", f"SHOW {what}"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
        return list(csv.DictReader(completed.stdout.splitlines()))


def _binary() -> str:
    search = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin"])
    found = shutil.which("pgbouncer", path=search)
    if found is None:
        raise RuntimeError("pgbouncer is not installed: apt-get install pgbouncer")
    return found


@contextlib.contextmanager
def transaction_pooler(
    database: str, server_port: int, server_connections: int
) -> Iterator[PgBouncer]:
    """PgBouncer for ``database`` on 127.0.0.1:``server_port``, pooling by transaction.

    At most ``server_connections`` server sessions serve all its clients.
    """
    with owned_temporary_directory("portcert-pgbouncer-") as (root, user):
        pooler = PgBouncer(free_port())
        (root / "userlist.txt").write_text('"postgres" ""\n')
        config = root / "pgbouncer.ini"
        config.write_text(
            "[databases]\n"
            f"{database} = host=127.0.0.1 port={server_port} dbname={database}\n"
            "[pgbouncer]\n"
            "listen_addr = 127.0.0.1\n"
            f"listen_port = {pooler.port}\n"
            "unix_socket_dir =\n"
            "auth_type = trust\n"
            f"auth_file = {root / 'userlist.txt'}\n"
            "admin_users = postgres\n"
            "pool_mode = transaction\n"
            f"default_pool_size = {server_connections}\n"
            "max_client_conn = 500\n"
            f"logfile = {root / 'pgbouncer.log'}\n"
        )
        process = subprocess.Popen(
            [_binary(), str(config)],
            user=user,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_for_port(pooler.port, process, root / "pgbouncer.log")
            yield pooler
        finally:
            process.terminate()
            process.wait(timeout=10)


def _wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + _START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            said = log.read_text() if log.exists() else ""
            raise RuntimeError(f"pgbouncer exited at start:\n{said}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"pgbouncer did not listen on port {port}")
