"""The whole data path works through PgBouncer pooling by transaction.

The services' pools reach PostgreSQL through a real PgBouncer in transaction
mode with the statement cache off; the connections that keep session state
(LISTEN for status streams, the job-queue consumer) use the direct URL. Three
server sessions serve every pool of every service, so one client connection's
consecutive transactions run on whichever server session is free.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from portcert.certification.v1 import certification_service_pb2 as cert_pb
from portcert.verification.v1 import verification_pb2 as pb
from portcert.verification.v1 import verification_service_pb2 as service_pb
from portcert_runtime.auth import Role

from .inprocess_system import load_example, running_system
from .pgbouncer_process import transaction_pooler
from .postgres_processes import MACHINE_POSTGRES, scratch_database

SERVER_CONNECTIONS = 3
EXAMPLES = {
    "passing.json": pb.VERIFICATION_STATUS_PASSED,
    "bad-check-digit.json": pb.VERIFICATION_STATUS_FAILED,
    "missing-document.json": pb.VERIFICATION_STATUS_FAILED,
}
ROUNDS = 4
pytestmark = pytest.mark.timeout(180)


async def test_requests_are_processed_and_read_back_through_pgbouncer(
    tmp_path: Path,
) -> None:
    names = list(EXAMPLES) * ROUNDS
    async with scratch_database() as database:
        with transaction_pooler(database, 5432, SERVER_CONNECTIONS) as pooler:
            variables = {
                "PORTCERT_DATABASE_URL": pooler.url(database),
                "PORTCERT_DATABASE_DIRECT_URL": f"{MACHINE_POSTGRES}/{database}",
                "PORTCERT_DATABASE_STATEMENT_CACHE_SIZE": "0",
            }
            async with running_system(tmp_path, variables, with_worker=True) as system:
                operator = system.bearer(Role.OPERATOR)

                submitted = await asyncio.gather(
                    *(
                        system.verification.SubmitVerification(
                            load_example(name), metadata=operator
                        )
                        for name in names
                    )
                )
                finals = [
                    (await system.watch_to_end(answer.request_id))[-1]
                    for answer in submitted
                ]
                looked_up = [
                    await system.verification.GetVerificationStatus(
                        service_pb.GetVerificationStatusRequest(
                            request_id=answer.request_id
                        ),
                        metadata=operator,
                    )
                    for answer in submitted
                ]
                certifications = [
                    await system.certification.GetCertification(
                        cert_pb.GetCertificationRequest(
                            certification_id=final.certification_id
                        ),
                        metadata=system.bearer(Role.VIEWER),
                    )
                    for final in finals
                    if final.status == pb.VERIFICATION_STATUS_PASSED
                ]
                clients = pooler.show("CLIENTS")
                servers = pooler.show("SERVERS")
                stats = {row["database"]: row for row in pooler.show("STATS")}

    assert [final.status for final in finals] == [EXAMPLES[name] for name in names]
    assert [answer.state for answer in looked_up] == finals
    assert sorted(c.certification.request_id for c in certifications) == sorted(
        final.request_id
        for final in finals
        if final.status == pb.VERIFICATION_STATUS_PASSED
    )
    assert len(servers) <= SERVER_CONNECTIONS < len(clients)
    assert int(stats[database]["total_xact_count"]) > len(names) * 3
