"""Test PKI made on the spot with ``cryptography``: a CA, a server certificate for localhost/127.0.0.1, a client.

    pki = make_pki(tmp_path)   # {"ca", "cert", "key", "client_cert", "client_key", "other_key"} -> PEM files
"""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path


def make_pki(folder: Path, *, valid_days: float = 1.0) -> dict[str, Path]:
    """A CA, a server certificate for localhost/127.0.0.1 and a client certificate (EC P-256).

    Certificates are valid ``valid_days`` from now; ``valid_days`` < 0 gives a server certificate that
    expired that long ago. ``other_key`` is a key that belongs to no server certificate (the client's).
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def name(cn):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def cert(subject, key, issuer_key, ca=False, san=None, days=1.0):
        start = min(now, now + datetime.timedelta(days=days)) - datetime.timedelta(days=1)
        b = (x509.CertificateBuilder().subject_name(name(subject)).issuer_name(name("test-ca"))
             .public_key(key.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(start).not_valid_after(now + datetime.timedelta(days=days))
             .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if san:
            b = b.add_extension(x509.SubjectAlternativeName(san), critical=False)
        return b.sign(issuer_key, hashes.SHA256())

    def write(path, obj):
        if isinstance(obj, ec.EllipticCurvePrivateKey):
            data = obj.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption())
        else:
            data = obj.public_bytes(serialization.Encoding.PEM)
        path.write_bytes(data)
        return path

    ca_key, srv_key, cli_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    ca = cert("test-ca", ca_key, ca_key, ca=True)
    srv = cert("localhost", srv_key, ca_key, days=valid_days,
               san=[x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    cli = cert("client-1", cli_key, ca_key)
    return {"ca": write(folder / "ca.pem", ca), "cert": write(folder / "server.pem", srv),
            "key": write(folder / "server.key", srv_key), "client_cert": write(folder / "client.pem", cli),
            "client_key": write(folder / "client.key", cli_key), "other_key": write(folder / "other.key", cli_key)}
