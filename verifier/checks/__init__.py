"""The four verification checks and the risk score they add up to.

``run_checks`` runs document completeness, document authenticity, manifest
verification and compliance, always all four and in that order. Each finding
names a stable rule id:

- completeness: ``documents.required``, ``documents.field_required``;
- authenticity: ``documents.issuer_untrusted``, ``documents.signature_format``,
  ``documents.issued_in_future``, ``documents.expiry_before_issue``,
  ``documents.expired``;
- manifest: ``hs.code_format``, ``hs.code_unknown``,
  ``manifest.total_weight_mismatch``, ``manifest.currency_mismatch``,
  ``manifest.total_value_mismatch``;
- compliance: ``iso6346.format``, ``iso6346.owner_code``, ``iso6346.category``,
  ``iso6346.check_digit``, ``iso4217.currency_unknown``.
"""

from verifier.checks._run import run_checks

__all__ = ["run_checks"]
