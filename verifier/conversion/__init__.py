"""Conversion between the verification contract, the domain model and JSON.

``submission_from_proto`` is the edge of the SubmitVerification RPC: it checks
the shape of every field and reports all violations at once, each under its
proto path. Rules about meaning (ISO 6346 check digits, HS codes that exist,
ISO 4217 membership, missing documents, date order, totals) belong to the
worker's checks, so a request that breaks only those is accepted here and fails
visibly later.

The ``*_to_proto`` functions render domain objects for responses; the
``*_to_json``/``*_from_json`` pairs give the form stored in PostgreSQL.
"""

from verifier.conversion._json import (
    JsonInput,
    JsonObject,
    outcome_from_json,
    outcome_to_json,
    submission_from_json,
    submission_to_json,
)
from verifier.conversion._proto import (
    outcome_to_proto,
    status_to_proto,
    submission_to_proto,
)
from verifier.conversion._submission import MAX_MANIFEST_ITEMS, submission_from_proto

__all__ = [
    "MAX_MANIFEST_ITEMS",
    "JsonInput",
    "JsonObject",
    "outcome_from_json",
    "outcome_to_json",
    "outcome_to_proto",
    "status_to_proto",
    "submission_from_json",
    "submission_from_proto",
    "submission_to_json",
    "submission_to_proto",
]
