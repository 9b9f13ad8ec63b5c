"""Prometheus metrics shared by every process."""

from prometheus_client import Counter, Gauge, Histogram

RPC_DURATION = Histogram(
    "portcert_rpc_duration_seconds",
    "Time spent handling an RPC, by method and status code.",
    ["method", "code"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
VERIFICATIONS_COMPLETED = Counter(
    "portcert_verifications_completed_total",
    "Verification requests that reached a final status, by status.",
    ["status"],
)
VERIFICATION_DURATION = Histogram(
    "portcert_verification_duration_seconds",
    "Time from dequeue to final status of a verification request.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 15),
)
CERTIFICATIONS_ISSUED = Counter(
    "portcert_certifications_issued_total", "Certifications issued."
)
STATUS_WATCHERS = Gauge(
    "portcert_status_watchers", "Open WatchVerificationStatus streams."
)
