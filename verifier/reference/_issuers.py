"""Reading the curated list of organisations trusted to issue each document."""

from __future__ import annotations

import csv
from collections.abc import Iterable

from verifier.model import DocumentKind


def normalise_issuer(name: str) -> str:
    """Reduce an issuer name to the form names are compared in.

    Case and runs of whitespace carry no meaning in an organisation's name, so
    " maersk   LINE" and "Maersk Line" compare equal.

    Args:
        name: The issuer as written.

    Returns:
        The name case-folded, with single spaces between words.
    """
    return " ".join(name.split()).casefold()


def read_trusted_issuers(
    lines: Iterable[str], source: str
) -> dict[DocumentKind, frozenset[str]]:
    """Read the trusted issuers of each document kind.

    Args:
        lines: The file's lines.
        source: The file's name, used in error messages.

    Returns:
        The normalised issuer names of each kind that has any.

    Raises:
        ValueError: A row names an unknown kind or has no issuer.
    """
    by_kind: dict[DocumentKind, set[str]] = {}
    reader = csv.DictReader(lines)
    for row in reader:
        try:
            kind = DocumentKind(row["kind"])
        except ValueError as err:
            raise ValueError(
                f"{source} line {reader.line_num}: unknown kind {row['kind']!r}"
            ) from err
        issuer = normalise_issuer(row["issuer"])
        if not issuer:
            raise ValueError(f"{source} line {reader.line_num}: empty issuer")
        by_kind.setdefault(kind, set()).add(issuer)
    return {kind: frozenset(names) for kind, names in by_kind.items()}
