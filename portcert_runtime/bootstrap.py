"""Building the shared parts of a service process from its settings."""

from __future__ import annotations

import json

from portcert_runtime.auth import DevelopmentTokenIssuer, TokenVerifier
from portcert_runtime.database import Database
from portcert_runtime.settings import Settings, SettingsError


def database_url(settings: Settings) -> str:
    """The writer URL; services need one even on the embedded default."""
    if settings.database_url is None:
        raise SettingsError(
            "PORTCERT_DATABASE_URL: required to run a single service; "
            "`portcert up` sets it for the services it starts"
        )
    return settings.database_url.get_secret_value()


async def open_database(settings: Settings) -> Database:
    """Connect the writer pool and, when configured, the reader pool."""
    reader = settings.database_reader_url
    return await Database.connect(
        database_url(settings),
        reader.get_secret_value() if reader else None,
        size=settings.database_pool_size,
        statement_cache_size=settings.database_statement_cache_size,
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
