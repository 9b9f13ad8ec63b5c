"""Building the shared parts of a service process from its settings."""

from __future__ import annotations

import json

from portcert_runtime.auth import DevelopmentTokenIssuer, TokenVerifier
from portcert_runtime.blobs import BlobStore, LocalBlobStore
from portcert_runtime.database import Database, running_embedded_postgres_url
from portcert_runtime.pki import TlsMaterial, ensure_development_pki
from portcert_runtime.queue import JobQueue, PostgresJobQueue
from portcert_runtime.rabbitmq import RabbitJobQueue
from portcert_runtime.s3 import S3BlobStore
from portcert_runtime.settings import Settings, SettingsError


def database_url(settings: Settings) -> str:
    """The writer URL: the configured one, or the running embedded server's.

    `portcert up` sets PORTCERT_DATABASE_URL for the services it starts; other
    commands on the same machine find its embedded PostgreSQL by its data
    directory.
    """
    if settings.database_url is not None:
        return settings.database_url.get_secret_value()
    url = running_embedded_postgres_url(settings.embedded_database_dir)
    if url is None:
        raise SettingsError(
            "PORTCERT_DATABASE_URL: not set, and no embedded PostgreSQL is running "
            f"in {settings.embedded_database_dir}; start `portcert up` or set it"
        )
    return url


def direct_database_url(settings: Settings) -> str:
    """The writer URL for single connections that keep session state.

    LISTEN, the job-queue consumer and the session lock of migrations need a
    server session of their own, which a transaction-pooling proxy does not
    give; the pools, which keep none, use :func:`database_url`.
    """
    direct = settings.database_direct_url
    return direct.get_secret_value() if direct else database_url(settings)


async def open_database(settings: Settings) -> Database:
    """Connect the writer pool and, when configured, the reader pool."""
    reader = settings.database_reader_url
    return await Database.connect(
        database_url(settings),
        reader.get_secret_value() if reader else None,
        size=settings.database_pool_size,
        statement_cache_size=settings.database_statement_cache_size,
    )


def open_job_queue(settings: Settings, database_url: str) -> JobQueue:
    """The job queue that ``queue_backend`` names: PostgreSQL or RabbitMQ.

    Nothing connects yet. A RabbitMQ queue also needs its outbox relay run in
    the process that enqueues (:meth:`RabbitJobQueue.run_relay`).
    """
    if settings.queue_backend == "postgres":
        return PostgresJobQueue(database_url)
    # The settings validator guarantees a URL whenever the backend is rabbitmq.
    assert settings.rabbitmq_url is not None
    return RabbitJobQueue(
        settings.rabbitmq_url.get_secret_value(),
        database_url,
        prefetch=settings.rabbitmq_prefetch,
    )


async def open_blob_store(settings: Settings) -> BlobStore:
    """The blob store that ``blob_backend`` names: a local directory or S3."""
    if settings.blob_backend == "local":
        return LocalBlobStore(settings.blob_dir)
    # The settings validator guarantees a bucket whenever the backend is s3.
    assert settings.s3_bucket is not None
    return await S3BlobStore.open(
        settings.s3_bucket,
        settings.s3_region,
        settings.s3_endpoint_url,
        kms_key_id=settings.s3_kms_key_id,
        key_prefix=settings.s3_key_prefix,
        presign_seconds=settings.s3_presign_seconds,
    )


def development_issuer(settings: Settings) -> DevelopmentTokenIssuer:
    """The local token issuer of the embedded default."""
    return DevelopmentTokenIssuer(
        settings.development_token_key_file,
        issuer=settings.token_issuer,
        audience=settings.token_audience,
    )


def token_verifier(settings: Settings) -> TokenVerifier:
    """Checks tokens against the configured JWKS, or the development issuer's."""
    if settings.jwks_file is not None:
        jwks = json.loads(settings.jwks_file.read_text())
    else:
        jwks = development_issuer(settings).jwks()
    return TokenVerifier(
        jwks, issuer=settings.token_issuer, audience=settings.token_audience
    )


# Processes that hold a certificate: the servers, and their clients. The worker
# is both: a client of the certifier and the server of its health port. The
# "operations" identity is for people and tools that reach a service directly
# (health checks from `portcert up`, grpcurl).
SERVER_IDENTITIES = ("verifier", "certifier", "verification-worker")
CLIENT_IDENTITIES = ("gateway", "verification-worker", "operations")


def tls_material(settings: Settings, identity: str) -> TlsMaterial:
    """The CA, certificate and key a process presents for mTLS.

    With ``PORTCERT_TLS_DIR`` the files must already be there (issued by the
    platform's CA); without it a development CA under the data directory
    issues them on first use.
    """
    if settings.tls_dir is None:
        pki = ensure_development_pki(
            settings.data_dir / "pki",
            server_names=SERVER_IDENTITIES,
            client_names=CLIENT_IDENTITIES,
        )
        return pki.for_service(identity)
    material = TlsMaterial(
        ca_cert=settings.tls_dir / "ca.crt",
        cert=settings.tls_dir / f"{identity}.crt",
        key=settings.tls_dir / f"{identity}.key",
    )
    for path in (material.ca_cert, material.cert, material.key):
        if not path.is_file():
            raise SettingsError(f"PORTCERT_TLS_DIR: {path} is missing")
    return material
