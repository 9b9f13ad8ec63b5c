"""The reference data the checks consult, loaded once from the package."""

from __future__ import annotations

import functools
import io
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType

import pycountry

from verifier.model import DocumentKind
from verifier.reference._hs import read_hs_codes
from verifier.reference._issuers import normalise_issuer, read_trusted_issuers

logger = logging.getLogger(__name__)

_HS_FILE = "hs-harmonized-system-2022.csv"
_ISSUERS_FILE = "trusted-issuers.csv"

# ISO 4217 lists these, but neither can carry a declared value: XTS is
# reserved for testing and XXX means "no currency".
_NON_MONETARY_CURRENCIES = frozenset({"XTS", "XXX"})


@dataclass(frozen=True)
class ReferenceData:
    """Public reference data: HS 2022, trusted issuers, ISO 4217 currencies.

    Attributes:
        hs_headings: Every 4-digit HS 2022 heading.
        hs_subheadings: Every 6-digit HS 2022 subheading.
        trusted_issuers: Normalised names of the organisations trusted to issue
            each document kind; kinds without a list are absent.
        currencies: ISO 4217 alphabetic codes that can carry a value.
    """

    hs_headings: frozenset[str]
    hs_subheadings: frozenset[str]
    trusted_issuers: Mapping[DocumentKind, frozenset[str]]
    currencies: frozenset[str]

    @classmethod
    def load(cls) -> ReferenceData:
        """Load the data shipped with the package, once per process.

        Returns:
            The same instance on every call.

        Raises:
            ValueError: A packaged file is malformed.
        """
        return _load_packaged()

    def is_hs_heading(self, code: str) -> bool:
        """Whether a 4-digit code is an HS 2022 heading."""
        return code in self.hs_headings

    def is_hs_subheading(self, code: str) -> bool:
        """Whether a 6-digit code is an HS 2022 subheading."""
        return code in self.hs_subheadings

    def hs_subheadings_of(self, heading: str) -> tuple[str, ...]:
        """The subheadings under a heading, in code order."""
        return tuple(sorted(c for c in self.hs_subheadings if c[:4] == heading))

    def is_trusted_issuer(self, kind: DocumentKind, issuer: str) -> bool:
        """Whether an organisation is trusted to issue a kind of document.

        Names are compared without regard to case or runs of whitespace. A kind
        with no list trusts nobody; the caller decides which kinds need one.

        Args:
            kind: The document kind.
            issuer: The issuer's name as written on the document.

        Returns:
            True when the name is on the kind's list.
        """
        trusted = self.trusted_issuers.get(kind, frozenset())
        return normalise_issuer(issuer) in trusted

    def is_currency(self, code: str) -> bool:
        """Whether a code is an ISO 4217 currency, spelt in capitals."""
        return code in self.currencies


@functools.cache
def _load_packaged() -> ReferenceData:
    started = time.perf_counter()
    package = resources.files(__package__)
    hs_text = package.joinpath(_HS_FILE).read_text(encoding="utf-8-sig")
    hs_codes = read_hs_codes(io.StringIO(hs_text, newline=""), _HS_FILE)
    issuers_text = package.joinpath(_ISSUERS_FILE).read_text(encoding="utf-8")
    issuers = read_trusted_issuers(io.StringIO(issuers_text, newline=""), _ISSUERS_FILE)
    currencies = frozenset(c.alpha_3 for c in pycountry.currencies)
    reference = ReferenceData(
        hs_headings=hs_codes.headings,
        hs_subheadings=hs_codes.subheadings,
        trusted_issuers=MappingProxyType(issuers),
        currencies=currencies - _NON_MONETARY_CURRENCIES,
    )
    logger.debug(
        "reference data loaded",
        extra={
            "duration_ms": round((time.perf_counter() - started) * 1000, 1),
            "hs_subheadings": len(reference.hs_subheadings),
        },
    )
    return reference
