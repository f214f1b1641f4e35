"""A throwaway C2PA signing chain (root CA + signer), for tests and local trials only.

    >>> from stylecloak.rights.testing import make_signing_chain
    >>> chain = make_signing_chain(tmp_path)                                  # doctest: +SKIP
    >>> RightsPolicy(c2pa_cert=chain.cert, c2pa_key=chain.key)                # doctest: +SKIP

The signer certificate has what c2pa requires of one: a critical digitalSignature key usage, the
emailProtection extended key usage, subject and authority key identifiers, CA:false. Nothing trusts
its root unless told to (``trust_anchors=chain.root``), so manifests it signs read as "untrusted
signer" — exactly what a platform's real certificate from a recognised CA avoids.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

from stylecloak.errors import MissingExtraError


@dataclass(frozen=True, slots=True)
class SigningChain:
    cert: Path  # signer certificate, then the root (what c2pa_cert takes)
    key: Path  # signer private key, PKCS#8 PEM
    root: Path  # the root certificate alone (a trust anchor)


def make_signing_chain(folder: Path, *, name: str = "stylecloak test signer", days: int = 30) -> SigningChain:
    """Write ``chain.pem``, ``key.pem`` and ``root.pem`` (EC P-256, ES256) into ``folder``."""
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    except ImportError as exc:
        raise MissingExtraError("cryptography", "c2pa") from exc

    now = datetime.datetime.now(datetime.UTC)

    def subject(common_name: str) -> x509.Name:
        return x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "stylecloak tests"),
            ]
        )

    def usage(*, sign_certs: bool) -> x509.KeyUsage:
        return x509.KeyUsage(
            digital_signature=True,
            content_commitment=False,
            key_encipherment=False,
            data_encipherment=False,
            key_agreement=False,
            key_cert_sign=sign_certs,
            crl_sign=sign_certs,
            encipher_only=False,
            decipher_only=False,
        )

    root_key = ec.generate_private_key(ec.SECP256R1())
    root = (
        x509.CertificateBuilder()
        .subject_name(subject(f"{name} root"))
        .issuer_name(subject(f"{name} root"))
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(usage(sign_certs=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False)
        .sign(root_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    signer = (
        x509.CertificateBuilder()
        .subject_name(subject(name))
        .issuer_name(root.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage(sign_certs=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False)
        .sign(root_key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    pem = serialization.Encoding.PEM
    chain = SigningChain(cert=folder / "chain.pem", key=folder / "key.pem", root=folder / "root.pem")
    chain.cert.write_bytes(signer.public_bytes(pem) + root.public_bytes(pem))
    chain.root.write_bytes(root.public_bytes(pem))
    chain.key.write_bytes(key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    chain.key.chmod(0o600)
    return chain
