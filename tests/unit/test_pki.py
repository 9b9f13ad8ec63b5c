"""The development PKI gives a process that is client and server one certificate."""

from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from portcert_runtime.pki import ensure_development_pki

BOTH = {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}


def _certificate(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _usages(path: Path) -> set[x509.ObjectIdentifier]:
    extension = _certificate(path).extensions.get_extension_for_class(
        x509.ExtendedKeyUsage
    )
    return set(extension.value)


def _sans(path: Path) -> set[str]:
    extension = _certificate(path).extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    )
    return {str(name.value) for name in extension.value}


def test_a_name_listed_as_server_and_client_gets_one_certificate_for_both(
    tmp_path: Path,
) -> None:
    pki = ensure_development_pki(
        tmp_path, server_names=("probed",), client_names=("probed", "caller")
    )

    material = pki.for_service("probed")

    assert pki.names == ("probed", "caller")
    assert _usages(material.cert) == BOTH
    assert _sans(material.cert) == {
        "probed",
        "localhost",
        "127.0.0.1",
        "spiffe://portcert.local/probed",
    }
    assert _usages(pki.for_service("caller").cert) == {ExtendedKeyUsageOID.CLIENT_AUTH}


def test_a_client_certificate_is_reissued_when_its_holder_becomes_a_server(
    tmp_path: Path,
) -> None:
    client_only = ensure_development_pki(
        tmp_path, server_names=(), client_names=("verification-worker",)
    ).for_service("verification-worker")
    before = client_only.cert.read_bytes()

    both = ensure_development_pki(tmp_path).for_service("verification-worker")

    assert both.cert.read_bytes() != before
    assert _usages(both.cert) == BOTH
    assert "127.0.0.1" in _sans(both.cert)


def test_a_certificate_with_the_usages_asked_for_is_kept(tmp_path: Path) -> None:
    first = ensure_development_pki(tmp_path).for_service("verification-worker")
    before = first.cert.read_bytes()

    again = ensure_development_pki(tmp_path).for_service("verification-worker")

    assert again.cert.read_bytes() == before
