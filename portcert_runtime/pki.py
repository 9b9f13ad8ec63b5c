"""A development certificate authority for mTLS between portcert's processes.

``ensure_development_pki`` keeps, under one directory, a CA and one ECDSA P-256
certificate per process:

    ca.crt, ca.key                      the CA (never leaves this directory)
    verifier.crt, certifier.crt         servers: DNS:<name>, DNS:localhost,
                                        IP:127.0.0.1, serverAuth
    gateway.crt                         client: DNS:<name>, clientAuth
    verification-worker.crt             both: a client of the certifier and
                                        the server of its own health port, so
                                        the server names and both usages

Every leaf also carries the URI SAN ``spiffe://portcert.local/<name>``, the
identity a peer should check. Files that exist and are still good are reused;
a missing, expiring or foreign file, or one whose usages differ from those
asked for, is replaced. Private keys are written 0600 through a temporary file
and a rename, so no reader ever sees half a key.

This is for one machine and for tests. Production certificates come from the
platform (cert-manager, a mesh, a real CA) as files with the same layout.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import ipaddress
import logging
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

logger = logging.getLogger(__name__)

TRUST_DOMAIN = "portcert.local"
SERVER_NAMES = ("verifier", "certifier", "verification-worker")
CLIENT_NAMES = ("gateway", "verification-worker")

_CA_LIFETIME = datetime.timedelta(days=5 * 365)
_LEAF_LIFETIME = datetime.timedelta(days=365)
# Files closer than this to expiry are replaced at the next start.
_RENEW_BEFORE = datetime.timedelta(days=30)
# Tolerates clocks of other machines that run slightly behind.
_BACKDATE = datetime.timedelta(minutes=5)
# Names become file names, DNS names and SPIFFE path segments.
_SERVICE_NAME = re.compile(r"[a-z][a-z0-9-]{0,62}\Z")


def spiffe_id(name: str) -> str:
    """Return the SPIFFE-style identity that ``name``'s certificate carries."""
    return f"spiffe://{TRUST_DOMAIN}/{name}"


@dataclass(frozen=True)
class TlsMaterial:
    """Paths of the PEM files one process needs for mTLS."""

    ca_cert: Path
    cert: Path
    key: Path


@dataclass(frozen=True)
class DevelopmentPki:
    """The CA and the certificates ``ensure_development_pki`` keeps."""

    directory: Path
    ca_cert: Path
    names: tuple[str, ...]

    def for_service(self, name: str) -> TlsMaterial:
        """Return the CA, certificate and key of one process.

        Raises:
            ValueError: ``name`` has no certificate in this PKI.
        """
        if name not in self.names:
            known = ", ".join(self.names)
            raise ValueError(f"service name {name!r} is not one of: {known}")
        return TlsMaterial(
            ca_cert=self.ca_cert,
            cert=self.directory / f"{name}.crt",
            key=self.directory / f"{name}.key",
        )


@dataclass(frozen=True)
class _KeyPair:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey


def ensure_development_pki(
    directory: Path,
    *,
    server_names: tuple[str, ...] = SERVER_NAMES,
    client_names: tuple[str, ...] = CLIENT_NAMES,
) -> DevelopmentPki:
    """Create or reuse the development CA and certificates under ``directory``.

    Safe to call from several processes at once: they take turns on a lock file.

    Args:
        directory: Where the PEM files live; created (0700) when missing.
        server_names: Processes that get a server certificate.
        client_names: Processes that get a client certificate; a name in both
            lists gets one certificate valid for both.

    Returns:
        The PKI, to look up each process's files with ``for_service``.

    Raises:
        ValueError: A name is not a lower-case DNS label such as ``verifier``,
            or is ``ca``.
    """
    names = tuple(dict.fromkeys((*server_names, *client_names)))
    for name in names:
        if not _SERVICE_NAME.match(name) or name == "ca":
            raise ValueError(
                f"service name {name!r}: must be a lower-case DNS label "
                "(letters, digits, hyphens; starting with a letter) other than 'ca'"
            )
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    with _exclusive_lock(directory / ".lock"):
        issuer = _ensure_ca(directory)
        for name in names:
            usages = frozenset(
                usage
                for usage, holders in (
                    (ExtendedKeyUsageOID.SERVER_AUTH, server_names),
                    (ExtendedKeyUsageOID.CLIENT_AUTH, client_names),
                )
                if name in holders
            )
            _ensure_leaf(directory, issuer, name, usages)
    return DevelopmentPki(
        directory=directory, ca_cert=directory / "ca.crt", names=names
    )


def grpc_server_credentials(material: TlsMaterial) -> grpc.ServerCredentials:
    """Build server credentials that demand a client certificate from the CA."""
    return grpc.ssl_server_credentials(
        [(material.key.read_bytes(), material.cert.read_bytes())],
        root_certificates=material.ca_cert.read_bytes(),
        require_client_auth=True,
    )


def grpc_channel_credentials(material: TlsMaterial) -> grpc.ChannelCredentials:
    """Build channel credentials that present the client certificate."""
    return grpc.ssl_channel_credentials(
        root_certificates=material.ca_cert.read_bytes(),
        private_key=material.key.read_bytes(),
        certificate_chain=material.cert.read_bytes(),
    )


@contextlib.contextmanager
def _exclusive_lock(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _ensure_ca(directory: Path) -> _KeyPair:
    cert_path, key_path = directory / "ca.crt", directory / "ca.key"
    existing = _load_pair(cert_path, key_path)
    if existing is not None and _is_fresh(existing.cert):
        return existing
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "portcert"),
            x509.NameAttribute(NameOID.COMMON_NAME, "portcert development CA"),
        ]
    )
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + _CA_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    _write_pair(cert_path, key_path, cert, key)
    logger.info("created development CA", extra={"path": str(cert_path)})
    return _KeyPair(cert=cert, key=key)


def _ensure_leaf(
    directory: Path,
    issuer: _KeyPair,
    name: str,
    usages: frozenset[x509.ObjectIdentifier],
) -> None:
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    existing = _load_pair(cert_path, key_path)
    if (
        existing is not None
        and _is_fresh(existing.cert)
        and _is_issued_by(existing.cert, issuer.cert)
        and _extended_usages(existing.cert) == usages
    ):
        return
    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = [
        x509.DNSName(name),
        x509.UniformResourceIdentifier(spiffe_id(name)),
    ]
    if ExtendedKeyUsageOID.SERVER_AUTH in usages:
        sans += [
            x509.DNSName("localhost"),
            x509.IPAddress(ipaddress.IPv4Address("127.0.0.1")),
        ]
    now = datetime.datetime.now(datetime.UTC)
    ca_public_key = issuer.key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "portcert"),
                    x509.NameAttribute(NameOID.COMMON_NAME, name),
                ]
            )
        )
        .issuer_name(issuer.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + _LEAF_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(sorted(usages, key=lambda oid: oid.dotted_string)),
            critical=False,
        )
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_public_key),
            critical=False,
        )
        .sign(issuer.key, hashes.SHA256())
    )
    _write_pair(cert_path, key_path, cert, key)
    logger.info("issued development certificate", extra={"service": name})


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _load_pair(cert_path: Path, key_path: Path) -> _KeyPair | None:
    """Load a certificate and its key, or None when either is missing or unusable."""
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError):
        return None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        return None
    if key.public_key() != cert.public_key():
        return None
    return _KeyPair(cert=cert, key=key)


def _extended_usages(cert: x509.Certificate) -> frozenset[x509.ObjectIdentifier]:
    try:
        usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    except x509.ExtensionNotFound:
        return frozenset()
    return frozenset(usage.value)


def _is_fresh(cert: x509.Certificate) -> bool:
    now = datetime.datetime.now(datetime.UTC)
    return cert.not_valid_after_utc - _RENEW_BEFORE > now


def _is_issued_by(cert: x509.Certificate, ca_cert: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _write_pair(
    cert_path: Path,
    key_path: Path,
    cert: x509.Certificate,
    key: ec.EllipticCurvePrivateKey,
) -> None:
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _write_atomically(key_path, key_pem, mode=0o600)
    _write_atomically(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)


def _write_atomically(path: Path, data: bytes, mode: int) -> None:
    # mkstemp creates the file 0600, so a key is never readable by others, not
    # even before the chmod.
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
