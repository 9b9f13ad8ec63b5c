"""Kubernetes figures the seed design requires (shared/seed, sections 3.3 and 6.2).

The seed's verification service both answered requests and processed the
queue; portcert splits that into the verifier and the worker, and each keeps
the seed's 3-50 bounds.
"""

REPLICA_BOUNDS = {
    "gateway": (3, 10),
    "verifier": (3, 50),
    "worker": (3, 50),
    "certifier": (2, 30),
}

MIN_AVAILABLE = {"verifier": 2, "certifier": 1}

PROBE_TIMINGS = {
    "livenessProbe": {
        "initialDelaySeconds": 30,
        "periodSeconds": 10,
        "timeoutSeconds": 5,
        "failureThreshold": 3,
    },
    "readinessProbe": {
        "initialDelaySeconds": 10,
        "periodSeconds": 5,
        "timeoutSeconds": 3,
        "failureThreshold": 3,
    },
}

CPU_UTILIZATION_TARGET = 70

QUEUE_DEPTH_PER_POD = "100"
