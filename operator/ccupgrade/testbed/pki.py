"""Certificates and keys for a loopback control plane: a CA, the API server's serving cert,
an admin client cert (group system:masters) and the service-account signing key."""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_VALIDITY = dt.timedelta(days=365)


@dataclass(frozen=True)
class Pki:
    """The files of one run's PKI: CA, API serving pair, admin client pair, ServiceAccount signing keys."""

    ca_cert: Path
    ca_key: Path
    serving_cert: Path
    serving_key: Path
    admin_cert: Path
    admin_key: Path
    sa_key: Path
    sa_pub: Path


def _name(common_name: str, organization: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attrs)


def _pem_key(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    path.chmod(0o600)
    return path


def _issue(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    signing_key: ec.EllipticCurvePrivateKey,
    *,
    is_ca: bool = False,
    server_names: list[str] | None = None,
    client: bool = False,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
    )
    if is_ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    if server_names:
        alt: list[x509.GeneralName] = []
        for name in server_names:
            try:
                alt.append(x509.IPAddress(ipaddress.ip_address(name)))
            except ValueError:
                alt.append(x509.DNSName(name))
        builder = builder.add_extension(x509.SubjectAlternativeName(alt), critical=False)
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
    if client:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False)
    return builder.sign(signing_key, hashes.SHA256())


def _pem_cert(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def issue_serving_pair(
    ca_cert_path: Path, ca_key_path: Path, names: list[str], cert_path: Path, key_path: Path
) -> None:
    """A server certificate signed by an existing CA (the simulator's HTTPS mode uses it too)."""
    ca_cert = x509.load_pem_x509_certificate(ca_cert_path.read_bytes())
    ca_key = serialization.load_pem_private_key(ca_key_path.read_bytes(), password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _issue(_name(names[0]), ca_cert.subject, key.public_key(), ca_key, server_names=names)
    _write(cert_path, _pem_cert(cert))
    _write(key_path, _pem_key(key))


def create_ca(directory: Path, common_name: str) -> tuple[Path, Path]:
    """A new self-signed CA in `directory` (ca.crt, ca.key); answers their paths."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(common_name)
    cert = _issue(name, name, key.public_key(), key, is_ca=True)
    return (
        _write(directory / "ca.crt", _pem_cert(cert)),
        _write(directory / "ca.key", _pem_key(key)),
    )


def create_pki(directory: Path, extra_names: list[str] | None = None) -> Pki:
    """A fresh CA and every credential the control plane needs; `extra_names` join the serving SANs."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_cert, ca_key = create_ca(directory, "ccupgrade-testbed-ca")
    names = ["127.0.0.1", "localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"]
    names += [n for n in extra_names or [] if n not in names]
    issue_serving_pair(ca_cert, ca_key, names, directory / "apiserver.crt", directory / "apiserver.key")

    ca = x509.load_pem_x509_certificate(ca_cert.read_bytes())
    ca_private = serialization.load_pem_private_key(ca_key.read_bytes(), password=None)
    assert isinstance(ca_private, ec.EllipticCurvePrivateKey)
    admin_key = ec.generate_private_key(ec.SECP256R1())
    admin = _issue(
        _name("testbed-admin", "system:masters"), ca.subject, admin_key.public_key(), ca_private, client=True
    )
    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    sa_pub = sa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return Pki(
        ca_cert=ca_cert,
        ca_key=ca_key,
        serving_cert=directory / "apiserver.crt",
        serving_key=directory / "apiserver.key",
        admin_cert=_write(directory / "admin.crt", _pem_cert(admin)),
        admin_key=_write(directory / "admin.key", _pem_key(admin_key)),
        sa_key=_write(directory / "sa.key", _pem_key(sa_key)),
        sa_pub=_write(directory / "sa.pub", sa_pub),
    )


def issue_client_pair(
    ca_cert_path: Path, ca_key_path: Path, common_name: str, organization: str | None, cert_path: Path, key_path: Path
) -> None:
    """A client certificate signed by an existing CA (the node mode's kubelet, scheduler, proxy...)."""
    ca_cert = x509.load_pem_x509_certificate(ca_cert_path.read_bytes())
    ca_key = serialization.load_pem_private_key(ca_key_path.read_bytes(), password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _issue(_name(common_name, organization), ca_cert.subject, key.public_key(), ca_key, client=True)
    _write(cert_path, _pem_cert(cert))
    _write(key_path, _pem_key(key))
