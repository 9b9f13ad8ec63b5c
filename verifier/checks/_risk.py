"""Risk score: how likely a container needs a closer look, from 0 to 1.

The model is small, deterministic and meant to be read. Each source of risk
has a weight between 0 and 1, read as the chance that this source alone calls
for an inspection. Sources combine as independent chances (a "noisy OR"):

    risk = 1 - (1 - w1) * (1 - w2) * ...

so the score stays within [0, 1], adding a source never lowers it, and the
order of the sources does not matter. The sources and their weights:

- every container: 0.05, the floor no paperwork removes;
- each failed check, once however many findings it has: document
  completeness 0.50, document authenticity 0.60 (a forged or lapsed document
  is worse than a missing field), manifest verification 0.50, compliance 0.50;
- expedited priority: 0.05, since rushing clearance is a known way to avoid
  scrutiny;
- high declared value: 0.10 when the manifest total reaches the threshold of
  its currency (``HIGH_VALUE_THRESHOLDS``).

A clean standard request scores 0.05 and a clean request with both signals
about 0.19; any failed check brings the score to at least 0.525. The score is
rounded to four decimals so that it reads the same after storage.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from verifier.model import CheckOutcome, CheckType, Priority, Submission

BASE_WEIGHT = 0.05
EXPEDITED_WEIGHT = 0.05
HIGH_VALUE_WEIGHT = 0.10

FAILED_CHECK_WEIGHTS = {
    CheckType.DOCUMENT_COMPLETENESS: 0.50,
    CheckType.DOCUMENT_AUTHENTICITY: 0.60,
    CheckType.MANIFEST_VERIFICATION: 0.50,
    CheckType.COMPLIANCE_CHECK: 0.50,
}

# NOTE: round figures of about one million US dollars, not exchange rates. A
# currency without an entry never raises the signal.
HIGH_VALUE_THRESHOLDS = {
    "USD": Decimal(1_000_000),
    "EUR": Decimal(1_000_000),
    "GBP": Decimal(800_000),
    "CHF": Decimal(900_000),
    "CNY": Decimal(7_000_000),
    "HKD": Decimal(8_000_000),
    "JPY": Decimal(150_000_000),
    "KRW": Decimal(1_400_000_000),
    "SGD": Decimal(1_300_000),
}


def score_risk(submission: Submission, checks: Iterable[CheckOutcome]) -> float:
    """Combine failed checks and request signals into one score.

    Args:
        submission: The request the checks ran on.
        checks: The outcome of each check.

    Returns:
        The risk between 0 and 1, rounded to four decimals.
    """
    weights = [BASE_WEIGHT]
    weights.extend(
        FAILED_CHECK_WEIGHTS[check.check_type] for check in checks if not check.passed
    )
    if submission.priority is Priority.EXPEDITED:
        weights.append(EXPEDITED_WEIGHT)
    if _has_high_value(submission):
        weights.append(HIGH_VALUE_WEIGHT)
    clear = 1.0
    for weight in weights:
        clear *= 1.0 - weight
    return round(1.0 - clear, 4)


def _has_high_value(submission: Submission) -> bool:
    total = submission.manifest.total_value
    threshold = HIGH_VALUE_THRESHOLDS.get(total.currency_code)
    return threshold is not None and total.amount >= threshold
