"""Document completeness: every document present with its identifying fields."""

from __future__ import annotations

from collections.abc import Iterator

from verifier.model import Document, DocumentKind, Finding, Submission

# The shipper's packing list describes the cargo and does not lapse.
_EXPIRY_OPTIONAL = frozenset({DocumentKind.PACKING_LIST})


def check_completeness(submission: Submission) -> tuple[Finding, ...]:
    """Report missing documents and empty identifying fields.

    Args:
        submission: The request to check.

    Returns:
        One finding per missing document or empty field, in request order.
    """
    findings: list[Finding] = []
    for kind in DocumentKind:
        path = f"documentation.{kind.value}"
        document = submission.documents.get(kind)
        if document is None:
            label = kind.value.replace("_", " ")
            findings.append(
                Finding(
                    rule="documents.required",
                    field=path,
                    message=f"the {label} is missing",
                    expected=f"a {label}",
                )
            )
            continue
        findings.extend(_empty_fields(kind, document, path))
    return tuple(findings)


def _empty_fields(
    kind: DocumentKind, document: Document, path: str
) -> Iterator[Finding]:
    present = {
        "document_id": bool(document.document_id.strip()),
        "uri": bool(document.uri.strip()),
        "issuer": bool(document.issuer.strip()),
        "issued_date": document.issued_date is not None,
        "expiration_date": (
            document.expiration_date is not None or kind in _EXPIRY_OPTIONAL
        ),
        "signature": bool(document.signature.strip()),
    }
    for name, is_present in present.items():
        if not is_present:
            yield Finding(
                rule="documents.field_required",
                field=f"{path}.{name}",
                message=f"{name} is required",
                expected=f"a {name}",
            )
