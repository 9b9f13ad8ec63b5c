"""Reading the HS 2022 nomenclature as published by UN Comtrade."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass

# Comtrade totals that share the file with real codes but classify nothing.
_PSEUDO_CODES = frozenset({"99", "9999", "999999", "TOTAL"})


@dataclass(frozen=True)
class HsCodes:
    """The headings (4 digits) and subheadings (6 digits) of the nomenclature."""

    headings: frozenset[str]
    subheadings: frozenset[str]


def read_hs_codes(lines: Iterable[str], source: str) -> HsCodes:
    """Read headings and subheadings from the rows of the nomenclature file.

    Args:
        lines: The file's lines, byte-order mark already removed.
        source: The file's name, used in error messages.

    Returns:
        Every heading and subheading, pseudo-codes dropped.

    Raises:
        ValueError: A row's code does not fit its level.
    """
    headings: set[str] = set()
    subheadings: set[str] = set()
    reader = csv.DictReader(lines)
    for row in reader:
        code, level = row["hscode"], row["level"]
        if code in _PSEUDO_CODES:
            continue
        if not _fits_level(code, level):
            raise ValueError(
                f"{source} line {reader.line_num}: hscode {code!r} "
                f"is not a level {level} code"
            )
        if level == "4":
            headings.add(code)
        elif level == "6":
            subheadings.add(code)
    return HsCodes(headings=frozenset(headings), subheadings=frozenset(subheadings))


def _fits_level(code: str, level: str) -> bool:
    return (
        level in ("2", "4", "6")
        and len(code) == int(level)
        and code.isascii()
        and code.isdigit()
    )
