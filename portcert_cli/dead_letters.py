"""``portcert dlq``: list, inspect and requeue verification jobs that gave up.

On RabbitMQ the dead letters are the messages of ``DLQ.verification.requests``;
on the PostgreSQL queue they are the jobs pgqueuer holds as failed. Requeueing
first moves the request from ERROR back to PENDING (with an audit entry), so
the worker processes it again, and only then puts the job back in its queue
with its retries reset.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

import asyncpg
import click
from pgqueuer import AsyncpgDriver, Job, Queries
from pgqueuer.types import JobId

from portcert_runtime.audit import Actor, AuditLog, EventType
from portcert_runtime.bootstrap import direct_database_url, open_database
from portcert_runtime.database import Database
from portcert_runtime.queue import ENTRYPOINT, VerificationJob
from portcert_runtime.rabbitmq import DeadLetter, RabbitJobQueue, Reopen
from portcert_runtime.settings import SettingsError, load_settings

_TOOL = "portcert-cli"
_CONNECT_TIMEOUT_SECONDS = 10.0
_SHOW_SCAN_LIMIT = 10_000
_T = TypeVar("_T")
_REOPEN = """
    UPDATE verification_requests
    SET status = 'PENDING', error_message = NULL, updated_at = now()
    WHERE request_id = $1 AND status = 'ERROR'
    RETURNING container_id
"""


class _DeadLetters(Protocol):
    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]: ...

    async def requeue_dead_letters(
        self, request_id: uuid.UUID | None, reopen: Reopen
    ) -> list[DeadLetter]: ...


@click.group("dlq")
def dlq() -> None:
    """Verification jobs that exhausted their retries (the dead-letter queue)."""


@dlq.command("list")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 10_000))
def list_command(limit: int) -> None:
    """List dead letters, oldest first."""
    letters = _run(lambda store, _: store.dead_letters(limit))
    if not letters:
        click.echo("no dead letters")
        return
    click.echo(
        f"{'REQUEST':36}  {'PRIORITY':9}  {'RETRIES':7}  {'FAILED AT':25}  REASON"
    )
    for letter in letters:
        click.echo(
            f"{_request_of(letter):36}  {_priority_of(letter):9}  "
            f"{letter.retries:<7}  {_when(letter):25}  {letter.reason[:80]}"
        )


@dlq.command("show")
@click.argument("request_id")
def show_command(request_id: str) -> None:
    """Show the dead letters of one request."""
    wanted = _parse_request_id(request_id)
    letters = [
        letter
        for letter in _run(lambda store, _: store.dead_letters(_SHOW_SCAN_LIMIT))
        if letter.job is not None and letter.job.request_id == wanted
    ]
    if not letters:
        raise click.ClickException(f"no dead letter for request {wanted}")
    for letter in letters:
        click.echo(f"request:    {_request_of(letter)}")
        click.echo(f"priority:   {_priority_of(letter)}")
        click.echo(f"message id: {letter.message_id or '-'}")
        click.echo(f"retries:    {letter.retries}")
        click.echo(f"requeues:   {letter.requeues}")
        click.echo(f"failed at:  {_when(letter)}")
        click.echo(f"reason:     {letter.reason}")


@dlq.command("requeue")
@click.argument("request_id", required=False)
@click.option("--all", "everything", is_flag=True, help="Requeue every dead letter.")
def requeue_command(request_id: str | None, everything: bool) -> None:
    """Put the dead letters of REQUEST_ID (or, with --all, every one) back to work."""
    if everything == (request_id is not None):
        raise click.UsageError("give either REQUEST_ID or --all, not both or neither")
    wanted = None if request_id is None else _parse_request_id(request_id)
    moved = _run(lambda store, reopen: store.requeue_dead_letters(wanted, reopen))
    if wanted is not None and not moved:
        raise click.ClickException(f"no dead letter for request {wanted}")
    for letter in moved:
        click.echo(f"requeued {_request_of(letter)} ({_priority_of(letter)})")
    click.echo(f"{len(moved)} dead letter(s) requeued")


def _run(operation: Callable[[_DeadLetters, Reopen], Awaitable[_T]]) -> _T:
    try:
        settings = load_settings()
        url = direct_database_url(settings)
    except SettingsError as err:
        raise click.ClickException(str(err)) from err
    store: _DeadLetters = _HeldJobs(url)
    if settings.queue_backend == "rabbitmq":
        assert settings.rabbitmq_url is not None
        store = RabbitJobQueue(
            settings.rabbitmq_url.get_secret_value(),
            url,
            connect_timeout=_CONNECT_TIMEOUT_SECONDS,
        )

    async def run() -> _T:
        database = await open_database(settings)
        try:
            return await operation(store, lambda job: _reopen(database, job))
        finally:
            await database.close()

    try:
        return asyncio.run(run())
    except TimeoutError:
        raise click.ClickException(
            f"no connection to the broker within {_CONNECT_TIMEOUT_SECONDS:.0f} s; "
            "check PORTCERT_RABBITMQ_URL and that RabbitMQ is up"
        ) from None


async def _reopen(database: Database, job: VerificationJob) -> None:
    async with database.transaction() as connection:
        container_id = await connection.fetchval(_REOPEN, job.request_id)
        if container_id is not None:
            await AuditLog(_TOOL).record(
                connection,
                EventType.VERIFICATION_REQUEST_SUBMITTED,
                Actor.system(_TOOL),
                container_id=container_id,
                request_id=job.request_id,
                details={"resubmitted_from": "dead-letter queue"},
            )


class _HeldJobs:
    """The PostgreSQL queue's dead letters: jobs pgqueuer holds as failed."""

    def __init__(self, url: str) -> None:
        self._url = url

    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        connection = await asyncpg.connect(self._url)
        try:
            queries = Queries(AsyncpgDriver(connection))
            jobs = await queries.list_failed_jobs(limit, order="ASC")
            return [
                await _letter_of_held(queries, job)
                for job in jobs
                if job.entrypoint == ENTRYPOINT
            ]
        finally:
            await connection.close()

    async def requeue_dead_letters(
        self, request_id: uuid.UUID | None, reopen: Reopen
    ) -> list[DeadLetter]:
        moved = []
        connection = await asyncpg.connect(self._url)
        try:
            queries = Queries(AsyncpgDriver(connection))
            for letter in await self.dead_letters(_SHOW_SCAN_LIMIT):
                job = letter.job
                if job is None or (
                    request_id is not None and job.request_id != request_id
                ):
                    continue
                await reopen(job)
                await queries.requeue_jobs([JobId(int(str(letter.message_id)))])
                moved.append(letter)
        finally:
            await connection.close()
        return moved


async def _letter_of_held(queries: Queries, job: Job) -> DeadLetter:
    history = await queries.job_log_history(job.id)
    errors = [entry.traceback for entry in history if entry.traceback]
    reason = (
        f"{errors[-1].exception_type}: {errors[-1].exception_message}"
        if errors
        else "unknown"
    )
    return DeadLetter(
        message_id=str(job.id),
        job=_job_of_held(job.payload),
        reason=reason,
        retries=job.attempts,
        failed_at=job.updated,
        requeues=0,
    )


def _job_of_held(payload: bytes | None) -> VerificationJob | None:
    request_id, _, priority = (payload or b"").decode(errors="replace").partition(":")
    try:
        return VerificationJob(uuid.UUID(request_id), priority or "STANDARD")
    except ValueError:
        return None


def _parse_request_id(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise click.BadParameter(
            f"must be a UUID, got {raw[:64]!r}", param_hint="REQUEST_ID"
        ) from None


def _request_of(letter: DeadLetter) -> str:
    return str(letter.job.request_id) if letter.job else "(unreadable)"


def _priority_of(letter: DeadLetter) -> str:
    return letter.job.priority if letter.job else "-"


def _when(letter: DeadLetter) -> str:
    return letter.failed_at.isoformat(timespec="seconds") if letter.failed_at else "-"
