"""Reference data shipped with the verifier, with its sources in SOURCES.md.

``ReferenceData.load()`` reads the HS 2022 nomenclature and the trusted-issuer
list from this package and the ISO 4217 currencies from ``pycountry``.
"""

from verifier.reference._reference_data import ReferenceData

__all__ = ["ReferenceData"]
