"""The cluster's certificates: a CA beside the inventory and a serving certificate per master.

`raftkube setup` and the integration tests' loopback masters both call
`ensure_cluster_pki`, so the masters always serve https with a certificate the clients
can check against the inventory's CA. Everything is check-then-ensure: a certificate
that is still valid for long enough, names the same addresses and comes from the
current CA is kept (a new one would restart the master for nothing).

Files (beside the inventory, like the token; `Inventory.ca_cert_path` & co. name them):
  INVENTORY.ca.crt            the CA certificate (0644; what clients trust)
  INVENTORY.ca.key            the CA key (0600)
  INVENTORY.pki/NAME.crt|key  each master's serving certificate and key (0700 dir, 0600 key)
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from raftkube.errors import UserError
from raftkube.remote.inventory import Host, Inventory

CA_LIFETIME = datetime.timedelta(days=3650)
CERT_LIFETIME = datetime.timedelta(days=365)
# Setup renews a certificate that expires within this; running setup monthly keeps masters valid.
RENEW_BEFORE = datetime.timedelta(days=30)


class PkiError(UserError):
    """A certificate or key file cannot be read or written."""


@dataclass(frozen=True)
class MasterCert:
    """One master's serving certificate files and what `ensure_cluster_pki` did with them."""

    name: str
    cert_path: Path
    key_path: Path
    expires: datetime.datetime
    action: str  # "issued", "renewed", "reissued" (SANs or CA changed) or "kept"


def serving_names(host: Host) -> list[str]:
    """Every name a client may use for this master: address, host name, loopback, `raftkube_api_sans`."""
    extra = str(host.vars.get("raftkube_api_sans", "") or "")
    names = [host.address, host.name, "localhost", "127.0.0.1",
             *(part.strip() for part in extra.replace(" ", ",").split(","))]
    unique: list[str] = []
    for name in names:
        if name and name not in unique:
            unique.append(name)
    return unique


def ensure_cluster_pki(inventory: Inventory, now: datetime.datetime | None = None) -> tuple[bool, list[MasterCert]]:
    """Make the CA if missing and a valid serving certificate for every master.

    Returns whether the CA was created and, per master, its certificate and what was done.
    """
    now = now or datetime.datetime.now(datetime.timezone.utc)
    ca_cert, ca_key, created = _ensure_ca(inventory.ca_cert_path, inventory.ca_key_path, inventory.path.stem, now)
    results = []
    for host in inventory.masters:
        cert_path, key_path = inventory.master_cert_paths(host.name)
        results.append(_ensure_serving(ca_cert, ca_key, cert_path, key_path, host, now))
    return created, results


def certificate_expiry(pem: bytes) -> datetime.datetime:
    return x509.load_pem_x509_certificate(pem).not_valid_after_utc


def _ensure_ca(cert_path: Path, key_path: Path, cluster: str, now: datetime.datetime):
    if cert_path.exists() and key_path.exists():
        try:
            cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
            key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        except (OSError, ValueError) as exc:
            raise PkiError(f"cannot read the cluster CA {cert_path}: {exc}") from None
        return cert, key, False
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"raftkube-ca {cluster}")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject).issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + CA_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write(key_path, _key_pem(key), 0o600)
    _write(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    return cert, key, True


def _ensure_serving(ca_cert, ca_key, cert_path: Path, key_path: Path, host: Host, now: datetime.datetime) -> MasterCert:
    names = serving_names(host)
    action = "issued"
    if cert_path.exists() and key_path.exists():
        try:
            current = x509.load_pem_x509_certificate(cert_path.read_bytes())
        except (OSError, ValueError):
            current = None
        if current is None:
            action = "reissued"
        elif not _issued_by(current, ca_cert) or _sans(current) != set(names):
            action = "reissued"
        elif current.not_valid_after_utc - now < RENEW_BEFORE:
            action = "renewed"
        else:
            return MasterCert(host.name, cert_path, key_path, current.not_valid_after_utc, "kept")
    key = ec.generate_private_key(ec.SECP256R1())
    alt_names = []
    for name in names:
        try:
            alt_names.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alt_names.append(x509.DNSName(name))
    expires = now + CERT_LIFETIME
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"raftkube-master {host.name}")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(expires)
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    _write(key_path, _key_pem(key), 0o600)
    _write(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    return MasterCert(host.name, cert_path, key_path, cert.not_valid_after_utc, action)


def _issued_by(cert, ca_cert) -> bool:
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _sans(cert) -> set[str]:
    try:
        extension = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    return {str(name.value) for name in extension}


def _key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _write(path: Path, data: bytes, mode: int) -> None:
    """Atomically, created with `mode` (a key is never readable by others, even briefly)."""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except OSError as exc:
        raise PkiError(f"cannot write {path}: {exc.strerror}") from None
