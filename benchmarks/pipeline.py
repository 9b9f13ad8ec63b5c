"""Submit many requests to a running portcert and measure the pipeline.

It goes through the gateway, as clients do, spreading the requests over enough
users to stay under the per-user rate limit. Prints submissions per second
(time to have every request accepted) and the latency from acceptance to final
status (taken from the server's timestamps), for example:

    .venv/bin/python benchmarks/pipeline.py --requests 500 --concurrency 32
"""

import argparse
import asyncio
import json
import statistics
import time
import uuid
from pathlib import Path

import grpc
from google.protobuf import json_format

from portcert.verification.v1 import verification_pb2 as pb
from portcert.verification.v1 import verification_service_pb2 as service_pb
from portcert.verification.v1 import verification_service_pb2_grpc as service_grpc
from portcert_runtime.auth import Role
from portcert_runtime.bootstrap import development_issuer
from portcert_runtime.settings import load_settings

FINAL = {
    pb.VERIFICATION_STATUS_PASSED,
    pb.VERIFICATION_STATUS_FAILED,
    pb.VERIFICATION_STATUS_ERROR,
}


async def _submit_all(stub, request, count, concurrency, tokens):
    semaphore = asyncio.Semaphore(concurrency)

    async def submit_one(index):
        async with semaphore:
            message = service_pb.SubmitVerificationRequest()
            message.CopyFrom(request)
            message.idempotency_key = f"bench-{uuid.uuid4()}-{index}"
            token = tokens[index % len(tokens)]
            response = await stub.SubmitVerification(
                message, metadata=(("authorization", f"Bearer {token}"),)
            )
            return response.request_id

    return await asyncio.gather(*(submit_one(i) for i in range(count)))


async def _await_final(stub, request_ids, metadata, concurrency):
    semaphore = asyncio.Semaphore(concurrency)

    async def follow(request_id):
        async with semaphore:
            call = stub.WatchVerificationStatus(
                service_pb.WatchVerificationStatusRequest(request_id=request_id),
                metadata=metadata,
            )
            async for update in call:
                if update.state.status in FINAL:
                    return update.state
            raise RuntimeError(f"stream for {request_id} ended without a final state")

    return await asyncio.gather(*(follow(r) for r in request_ids))


async def main(options):
    """Run the benchmark against the system the settings describe."""
    settings = load_settings()
    issuer = development_issuer(settings)
    users = options.requests // (settings.submissions_per_minute // 2) + 1
    run = uuid.uuid4().hex[:8]
    tokens = [
        issuer.mint(f"benchmark-{run}-{n}", [Role.OPERATOR]) for n in range(users)
    ]
    metadata = (("authorization", f"Bearer {tokens[0]}"),)
    request = json_format.Parse(
        Path(options.request).read_text(),  # noqa: ASYNC240 - once, before timing
        service_pb.SubmitVerificationRequest(),
    )
    address = f"{settings.gateway_host}:{settings.gateway_port}"
    async with grpc.aio.insecure_channel(address) as channel:
        stub = service_grpc.VerificationServiceStub(channel)
        started = time.perf_counter()
        request_ids = await _submit_all(
            stub, request, options.requests, options.concurrency, tokens
        )
        submitted = time.perf_counter() - started
        states = await _await_final(
            stub, request_ids, metadata, options.concurrency * 4
        )
        finished = time.perf_counter() - started
    latencies = sorted(
        (s.updated_at.ToDatetime() - s.submitted_at.ToDatetime()).total_seconds()
        for s in states
    )
    outcome = {
        "requests": options.requests,
        "submissions_per_second": round(options.requests / submitted, 1),
        "final_per_second": round(options.requests / finished, 1),
        "latency_p50_ms": round(statistics.median(latencies) * 1000, 1),
        "latency_p95_ms": round(latencies[int(len(latencies) * 0.95) - 1] * 1000, 1),
        "latency_max_ms": round(latencies[-1] * 1000, 1),
        "statuses": sorted({pb.VerificationStatus.Name(s.status) for s in states}),
    }
    print(json.dumps(outcome, indent=2))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--request", default="examples/passing.json")
    asyncio.run(main(parser.parse_args()))
