import pytest

from verifier.reference import ReferenceData


@pytest.fixture(scope="session")
def reference() -> ReferenceData:
    return ReferenceData.load()
