"""What the end-to-end systems run on: the embedded default or external servers.

``E2E_BACKENDS`` chooses, once per test session. ``embedded`` (the default)
runs each system on what ``portcert up`` brings along: PostgreSQL from the
wheel, the job queue in that database, blobs under the data directory, rate
limits in the verifier process. ``external`` gives each system servers of its
own on this machine, set up as an operator would: a database on the PostgreSQL
at 127.0.0.1:5432 migrated with ``portcert migrate`` (``portcert up`` never
migrates an external database), a RabbitMQ vhost, a bucket on the session's
moto S3 server and an unused Redis database for the shared rate limit. All of
it is removed once the system has stopped.

The variable is outside the ``PORTCERT_`` prefix on purpose: the settings
loader refuses ``PORTCERT_`` variables it does not know.
"""

from __future__ import annotations

import contextlib
import enum
import os
import random
import subprocess
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import botocore.session
import pytest
import redis
from moto.server import ThreadedMotoServer

BACKENDS_VARIABLE = "E2E_BACKENDS"
ADMIN_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DATABASE_URL_PREFIX = "postgresql://postgres@127.0.0.1:5432/"
BROKER_URL_PREFIX = "amqp://guest:guest@127.0.0.1:5672/"
REDIS_URL_PREFIX = "redis://127.0.0.1:6379/"
# Database 0 is where everyone's ad-hoc keys land; 1 to 15 are Redis's others.
REDIS_DATABASES = range(1, 16)
S3_REGION = "us-east-1"
# The systems' AWS credential chain finds these keys and nothing else: no
# profile, no shared files, no instance metadata.
AWS_TEST_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}
COMMAND_TIMEOUT_SECONDS = 60


class BackendKind(enum.StrEnum):
    """The two ways a system can be run."""

    EMBEDDED = "embedded"
    EXTERNAL = "external"


def selected_backends(environ: Mapping[str, str]) -> BackendKind:
    """The kind that ``E2E_BACKENDS`` names, embedded when it is unset.

    Raises:
        pytest.UsageError: the variable names neither kind.
    """
    value = environ.get(BACKENDS_VARIABLE, BackendKind.EMBEDDED.value)
    try:
        return BackendKind(value)
    except ValueError:
        kinds = ", ".join(kind.value for kind in BackendKind)
        raise pytest.UsageError(
            f"{BACKENDS_VARIABLE}={value!r}: must be one of {kinds}"
        ) from None


@dataclass(frozen=True)
class ExternalBackends:
    """The servers one system uses besides its data directory."""

    database: str
    vhost: str
    redis_database: int
    s3_endpoint: str
    bucket: str

    @property
    def database_url(self) -> str:
        """The system's database on the machine's PostgreSQL."""
        return DATABASE_URL_PREFIX + self.database

    def environment(self) -> dict[str, str]:
        """The variables that point a portcert process at these servers."""
        return {
            "PORTCERT_DATABASE_URL": self.database_url,
            "PORTCERT_QUEUE_BACKEND": "rabbitmq",
            "PORTCERT_RABBITMQ_URL": BROKER_URL_PREFIX + self.vhost,
            "PORTCERT_BLOB_BACKEND": "s3",
            "PORTCERT_S3_BUCKET": self.bucket,
            "PORTCERT_S3_REGION": S3_REGION,
            "PORTCERT_S3_ENDPOINT_URL": self.s3_endpoint,
            "PORTCERT_REDIS_URL": f"{REDIS_URL_PREFIX}{self.redis_database}",
            **AWS_TEST_ENVIRONMENT,
        }

    def object_uri(self, key: str) -> str:
        """The ``s3://`` URI under which the blob store keeps ``key``."""
        return f"s3://{self.bucket}/{key}"

    def read_object(self, key: str) -> bytes:
        """The bytes stored under ``key`` in the system's bucket."""
        body = s3_client(self.s3_endpoint).get_object(Bucket=self.bucket, Key=key)
        return bytes(body["Body"].read())

    def queue_names(self) -> set[str]:
        """The queues declared in the system's vhost."""
        listing = run_tool(
            "rabbitmqctl",
            "list_queues",
            "--quiet",
            "--no-table-headers",
            "-p",
            self.vhost,
            "name",
        )
        return set(listing.split())

    def rate_limit_keys(self, user: str) -> list[str]:
        """Keys in the system's Redis database that mention ``user``."""
        with redis_client(self.redis_database) as client:
            return [key.decode() for key in client.scan_iter(match=f"*{user}*")]

    def open_sessions(self) -> int:
        """How many server sessions are connected to the system's database."""
        count = psql(
            f"SELECT count(*) FROM pg_stat_activity WHERE datname = '{self.database}'"
        )
        return int(count)


BackendProvisioner = Callable[
    [], contextlib.AbstractContextManager[ExternalBackends | None]
]


def embedded_backends() -> contextlib.AbstractContextManager[None]:
    """Nothing to set up: ``portcert up`` starts what it needs itself."""
    return contextlib.nullcontext()


@contextlib.contextmanager
def external_backends(s3_endpoint: str) -> Iterator[ExternalBackends]:
    """A database, vhost, bucket and Redis database for one system; removed after.

    The database is created empty: the caller migrates it, as an operator does.
    Redis is not cleaned: rate-limit keys expire a minute after their last use.
    """
    suffix = uuid.uuid4().hex[:12]
    backends = ExternalBackends(
        database=f"portcert_e2e_{suffix}",
        vhost=f"portcert_e2e_{suffix}",
        redis_database=unused_redis_database(),
        s3_endpoint=s3_endpoint,
        bucket=f"portcert-e2e-{suffix}",
    )
    with contextlib.ExitStack() as cleanup:
        psql(f'CREATE DATABASE "{backends.database}"')
        # FORCE: a system that was killed may leave sessions behind for a moment.
        cleanup.callback(psql, f'DROP DATABASE "{backends.database}" WITH (FORCE)')
        run_tool("rabbitmqctl", "add_vhost", backends.vhost)
        cleanup.callback(run_tool, "rabbitmqctl", "delete_vhost", backends.vhost)
        run_tool(
            "rabbitmqctl",
            "set_permissions",
            "-p",
            backends.vhost,
            "guest",
            ".*",
            ".*",
            ".*",
        )
        s3_client(s3_endpoint).create_bucket(Bucket=backends.bucket)
        cleanup.callback(remove_bucket, s3_endpoint, backends.bucket)
        yield backends


@contextlib.contextmanager
def running_moto_server() -> Iterator[str]:
    """A moto S3 server on a free loopback port; yields its endpoint."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def unused_redis_database() -> int:
    """A Redis database, among 1 to 15, that holds no keys at all."""
    for number in random.sample(REDIS_DATABASES, len(REDIS_DATABASES)):
        with redis_client(number) as client:
            if client.dbsize() == 0:
                return number
    raise AssertionError(
        f"every Redis database in {REDIS_DATABASES} holds keys; "
        "one must be empty for a system's rate limits"
    )


def redis_client(number: int) -> redis.Redis:
    """A client of Redis database ``number``."""
    return redis.Redis.from_url(f"{REDIS_URL_PREFIX}{number}")


def s3_client(endpoint: str) -> Any:
    """A plain S3 client of ``endpoint`` with the test keys."""
    return botocore.session.Session().create_client(
        "s3",
        region_name=S3_REGION,
        endpoint_url=endpoint,
        aws_access_key_id=AWS_TEST_ENVIRONMENT["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=AWS_TEST_ENVIRONMENT["AWS_SECRET_ACCESS_KEY"],
    )


def remove_bucket(endpoint: str, bucket: str) -> None:
    """Delete every object of ``bucket``, then the bucket."""
    client = s3_client(endpoint)
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for listed in page.get("Contents", []):
            client.delete_object(Bucket=bucket, Key=listed["Key"])
    client.delete_bucket(Bucket=bucket)


def psql(statement: str) -> str:
    """Run one SQL statement on the machine's PostgreSQL; return its bare output."""
    return run_tool(
        "psql",
        ADMIN_DATABASE_URL,
        "--no-psqlrc",
        "--tuples-only",
        "--no-align",
        "--set=ON_ERROR_STOP=1",
        f"--command={statement}",
    ).strip()


def run_tool(*command: str) -> str:
    """Run an administration command; fail with what it said if it fails."""
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_SECONDS,
        check=False,
    )
    if result.returncode != 0:
        raise AssertionError(
            f"`{' '.join(command)}` exited with {result.returncode}:\n"
            + result.stdout
            + result.stderr
        )
    return result.stdout
