"""A throwaway certificate authority for the twin's TLS endpoints (Cloud SQL, gRPC)."""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

_DAY = datetime.timedelta(days=1)


class CertificateAuthority:
    """A throwaway CA: the instance's server certificate and the clients' ephemeral ones."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Cloud SQL twin CA")])
        self.certificate = (
            self._builder(name, self.key.public_key(), _DAY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.name = name

    def _builder(
        self, subject: x509.Name, public_key: Any, valid_for: datetime.timedelta
    ) -> x509.CertificateBuilder:
        now = datetime.datetime.now(datetime.UTC)
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(getattr(self, "name", subject))
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + valid_for)
        )

    @property
    def pem(self) -> str:
        """The CA certificate in PEM."""
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode()

    def sign(self, public_key_pem: str, common_name: str, hours: int = 1) -> str:
        """An ephemeral client certificate for ``public_key_pem``, in PEM."""
        public_key = serialization.load_pem_public_key(public_key_pem.encode())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        certificate = self._builder(subject, public_key, datetime.timedelta(hours=hours)).sign(
            self.key, hashes.SHA256()
        )
        return certificate.public_bytes(serialization.Encoding.PEM).decode()

    def server_files(
        self, directory: Path, *, ip_address: str | None = None, dns_names: tuple[str, ...] = ()
    ) -> tuple[Path, Path]:
        """A server certificate and key for an address or host names, PEM files in ``directory``."""
        key = ec.generate_private_key(ec.SECP256R1())
        names: list[x509.GeneralName] = [x509.DNSName(name) for name in dns_names]
        if ip_address:
            names.append(x509.IPAddress(ipaddress.ip_address(ip_address)))
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ip_address or dns_names[0])])
        certificate = (
            self._builder(subject, key.public_key(), _DAY)
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        cert_file, key_file = directory / "server.pem", directory / "server.key"
        cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        return cert_file, key_file
