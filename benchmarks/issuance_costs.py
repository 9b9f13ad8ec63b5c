"""Per-item CPU cost of the steps that issue a certification.

Run from the project root::

    .venv/bin/python benchmarks/issuance_costs.py [--iterations N]

Prints the mean CPU time of each step, in milliseconds, over N runs after
one warm-up run, on a realistic certification (four checks with one-line
details, a ~900-character JWS). CPU time rather than wall time, so that other
work on the machine inflates the figures less.
"""

from __future__ import annotations

import argparse
import sys
import time
import timeit
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import rfc8785
import zxingcpp

from certifier.model import (
    Certification,
    CheckSummary,
    new_certification,
    new_certification_claims,
)
from certifier.pdf import QR_ERROR_LEVEL, make_verification_qr, render_certificate_pdf
from certifier.signing import SigningKey, sign_claims, verify_signature

_CHECK_TYPES = (
    "DOCUMENT_COMPLETENESS",
    "DOCUMENT_AUTHENTICITY",
    "MANIFEST_VERIFICATION",
    "COMPLIANCE_CHECK",
)


def _sample(key: SigningKey) -> Certification:
    checks = [
        CheckSummary(name, True, "all rules satisfied, no findings")
        for name in _CHECK_TYPES
    ]
    claims = new_certification_claims(
        certification_id=uuid.uuid4(),
        container_id="CSQU3054383",
        request_id=uuid.uuid4(),
        issued_at=datetime.now(UTC),
        issued_by="Port of Rotterdam Authority",
        issuing_officer_id="officer-4711",
        checks=checks,
        risk_score=0.125,
        kid=key.key_id,
    )
    return new_certification(
        claims,
        checks=checks,
        issuing_officer="Anna de Vries",
        signature_algorithm=key.algorithm,
        digital_signature=sign_claims(claims.to_json_object(), key),
        pdf_uri="file:///certificates/sample.pdf",
    )


def _mean_ms(step: Callable[[], object], iterations: int) -> float:
    step()
    cpu_seconds = timeit.timeit(step, timer=time.process_time, number=iterations)
    return cpu_seconds / iterations * 1000


def main() -> None:
    """Measure each step and write one line per step to stdout."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=200)
    iterations = parser.parse_args().iterations

    key = SigningKey.generate()
    certification = _sample(key)
    claims = certification.signed_claims().to_json_object()
    jws = certification.digital_signature
    published = {key.key_id: key.public_key}
    steps: list[tuple[str, Callable[[], object]]] = [
        ("canonicalise claims (RFC 8785)", lambda: rfc8785.dumps(claims)),
        (
            "sign claims (canonicalise + Ed25519 + JWS)",
            lambda: sign_claims(claims, key),
        ),
        (
            "verify signature (JWS + Ed25519 + claims)",
            lambda: verify_signature(jws, published),
        ),
        ("QR code, fixed mask", lambda: make_verification_qr(jws)),
        (
            "QR code, automatic mask (for comparison)",
            lambda: zxingcpp.create_barcode(
                jws, zxingcpp.BarcodeFormat.QRCode, ec_level=QR_ERROR_LEVEL
            ),
        ),
        ("full PDF with QR code", lambda: render_certificate_pdf(certification)),
    ]

    modules, _ = make_verification_qr(jws).to_image(add_quiet_zones=False).shape
    sys.stdout.write(
        f"JWS {len(jws)} characters; QR {modules}x{modules} modules "
        f"(version {(modules - 17) // 4}), error level {QR_ERROR_LEVEL}; "
        f"PDF {len(render_certificate_pdf(certification))} bytes; "
        f"{iterations} iterations each\n"
    )
    for name, step in steps:
        sys.stdout.write(f"{name:<46} {_mean_ms(step, iterations):8.3f} ms\n")


if __name__ == "__main__":
    main()
