"""The ``portcert`` command."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import datetime
from pathlib import Path

import click
import grpc
import uvloop

from portcert_cli.dead_letters import dlq
from portcert_runtime.auth import Role
from portcert_runtime.bootstrap import (
    development_issuer,
    direct_database_url,
    open_blob_store,
    open_database,
)
from portcert_runtime.logs import configure_logging
from portcert_runtime.settings import Settings, SettingsError, load_settings


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as err:
        raise click.ClickException(str(err)) from err


class _Commands(click.Group):
    """Reports a bad or missing setting as a one-line error, not a traceback."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except SettingsError as err:
            raise click.ClickException(str(err)) from err


@click.group(cls=_Commands)
def cli() -> None:
    """Container verification and certification for sea ports."""


@cli.command()
@click.option(
    "--services",
    default=",".join(("certifier", "verifier", "worker", "gateway")),
    show_default=True,
    help="Comma-separated services to run.",
)
def up(services: str) -> None:
    """Start the whole system on this machine; Ctrl-C stops it."""
    from portcert_cli.supervisor import SERVICES, run_system

    settings = _settings()
    names = [name.strip() for name in services.split(",") if name.strip()]
    unknown = sorted(set(names) - set(SERVICES))
    if unknown:
        raise click.BadParameter(f"unknown services {unknown}; choose from {SERVICES}")
    configure_logging("supervisor", settings.log_level)
    uvloop.run(run_system(settings, names, os.environ))


@cli.command()
@click.argument(
    "service", type=click.Choice(["verifier", "worker", "certifier", "gateway"])
)
def serve(service: str) -> None:
    """Run one service in the foreground (what Kubernetes pods run)."""
    from gateway.config import GatewayConfigError

    settings = _settings()
    configure_logging(service, settings.log_level)
    try:
        uvloop.run(_serve(service, settings))
    except GatewayConfigError as err:
        raise click.ClickException(str(err)) from err


async def _serve(service: str, settings: Settings) -> None:
    import signal

    from certifier.app import run_certifier
    from gateway.app import run_gateway
    from portcert_runtime.metrics import serving_metrics
    from verifier.app import run_verifier, run_worker

    runners = {
        "verifier": run_verifier,
        "worker": run_worker,
        "certifier": run_certifier,
        "gateway": run_gateway,
    }
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    # Envoy keeps the gateway's statistics; its Python side has none to show.
    metrics_port = 0 if service == "gateway" else settings.metrics_port
    async with serving_metrics(settings.host, metrics_port):
        await runners[service](settings, stop)


@cli.command()
def migrate() -> None:
    """Apply pending schema migrations to the writer, bypassing any pooler."""
    from portcert_runtime.database import migrate as apply_migrations

    settings = _settings()
    applied = asyncio.run(apply_migrations(direct_database_url(settings)))
    click.echo(f"applied {len(applied)} migration(s): {', '.join(applied) or 'none'}")


@cli.command()
@click.option(
    "--role",
    "roles",
    multiple=True,
    required=True,
    type=click.Choice([role.value.lower() for role in Role], case_sensitive=False),
    help="Role to grant; repeat for several.",
)
@click.option("--subject", default="dev-user", show_default=True)
@click.option(
    "--lifetime",
    default=3600,
    show_default=True,
    type=click.IntRange(min=1, max=86400),
    help="Seconds.",
)
def token(roles: tuple[str, ...], subject: str, lifetime: int) -> None:
    """Mint a development bearer token (embedded default only)."""
    issuer = development_issuer(_settings())
    click.echo(issuer.mint(subject, [Role(r.upper()) for r in roles], lifetime))


@cli.command()
@click.argument("request_file", type=click.Path(path_type=Path))
@click.option("--token", "bearer", help="Bearer token (default PORTCERT_TOKEN).")
@click.option("--follow/--no-follow", default=True, show_default=True)
@click.option(
    "--ca-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="CA of the gateway's certificate, when it serves TLS.",
)
def submit(
    request_file: Path, bearer: str | None, follow: bool, ca_file: Path | None
) -> None:
    """Submit a verification request from a JSON file and follow its status.

    With --follow the exit status is 0 only when the request was certified.
    """
    from portcert_cli.client import (
        Followed,
        describe_rpc_error,
        load_request,
        submit_and_follow,
    )

    settings = _settings()
    request = load_request(request_file)
    gateway_ca = ca_file.read_bytes() if ca_file else None
    if not bearer and settings.token is not None:
        bearer = settings.token.get_secret_value()
    if not bearer:
        bearer = development_issuer(settings).mint("dev-operator", [Role.OPERATOR])

    followed = Followed() if follow else None

    async def run() -> None:
        async for line in submit_and_follow(
            f"{settings.gateway_host}:{settings.gateway_port}",
            gateway_ca,
            bearer,
            request,
            followed,
        ):
            click.echo(line)

    try:
        asyncio.run(run())
    except grpc.aio.AioRpcError as err:
        click.echo(describe_rpc_error(err), err=True)
        sys.exit(1)
    if followed is not None and not followed.passed:
        sys.exit(1)


@cli.group()
def audit() -> None:
    """Audit log maintenance."""


@audit.command("verify")
def audit_verify() -> None:
    """Recompute the audit log's hash chain and report the first break."""
    from portcert_runtime.audit import seal_pending, verify_chain

    async def run() -> None:
        database = await open_database(_settings())
        try:
            await seal_pending(database.writer)
            report = await verify_chain(database.writer)
        finally:
            await database.close()
        if not report.intact:
            raise click.ClickException(
                f"chain broken at entry {report.first_broken_sequence}"
                f" after {report.entries_checked} intact entries"
            )
        click.echo(f"audit chain intact: {report.entries_checked} entries")

    asyncio.run(run())


cli.add_command(dlq)


@audit.command("export")
@click.option(
    "--day",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    required=True,
    help="UTC day to export, YYYY-MM-DD.",
)
def audit_export(day: datetime) -> None:
    """Write a day of sealed audit entries to audit-exports/ in the blob store."""
    from portcert_runtime.audit import seal_pending
    from portcert_runtime.audit_export import export_day

    async def run() -> None:
        settings = _settings()
        database = await open_database(settings)
        blobs = await open_blob_store(settings)
        try:
            await seal_pending(database.writer)
            result = await export_day(database.writer, blobs, day.date())
        finally:
            await blobs.close()
            await database.close()
        if result.entries:
            click.echo(f"exported {result.entries} entries to {result.uri}")
        else:
            click.echo(f"no sealed entries on {day:%Y-%m-%d}")

    asyncio.run(run())


@cli.group()
def blobs() -> None:
    """Blob store maintenance."""


@blobs.command("check")
def blobs_check() -> None:
    """Check the S3 bucket exists and turn on versioning where allowed."""
    from portcert_runtime.s3 import S3BlobStore

    async def run() -> None:
        store = await open_blob_store(_settings())
        try:
            if not isinstance(store, S3BlobStore):
                click.echo("local blob store: nothing to check")
                return
            report = await store.ensure_bucket()
        finally:
            await store.close()
        click.echo(f"bucket {report.bucket}: versioning {report.versioning}")
        for problem in report.problems:
            click.echo(f"  problem: {problem}")
        if report.problems:
            sys.exit(1)

    asyncio.run(run())


if __name__ == "__main__":
    cli()
