"""TLS files checked at start-up, so a bad one is named instead of failing as "cannot listen".

gRPC takes PEM bytes and reports any problem with them only when it binds the port, as an
unspecific failure. :func:`server_credentials` therefore loads the certificate chain, the private
key and the client CA with Python's ``ssl`` module first (the same OpenSSL checks, including
"the key does not belong to the certificate"), and says which file is wrong and why: unreadable,
not PEM, a key that does not match, or a certificate that has expired.

Expiry: an expired server certificate is refused (every client that verifies it would fail
its handshake, so the server could only look healthy while serving no one); a certificate that
is not valid yet (a clock difference) or expires within :data:`EXPIRY_WARNING_DAYS` days is
logged as a warning. The dates are read with the ``cryptography`` package when it is installed
(the ``dev`` extra has it); without it the expiry check is skipped, and the rest still runs.
"""

from __future__ import annotations

import datetime as dt
import logging
import ssl
from pathlib import Path

import grpc

from translate.errors import ConfigError

log = logging.getLogger(__name__)

EXPIRY_WARNING_DAYS = 14
_CERT_MARK = b"-----BEGIN CERTIFICATE-----"
_KEY_MARKS = (b"-----BEGIN PRIVATE KEY-----", b"-----BEGIN RSA PRIVATE KEY-----", b"-----BEGIN EC PRIVATE KEY-----",
              b"-----BEGIN ENCRYPTED PRIVATE KEY-----")


def _read(path: str, flag: str, what: str) -> bytes:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"{flag} {path}: cannot read the {what} ({exc.strerror or exc})") from exc
    return data


def _no_password() -> bytes:
    raise ConfigError("encrypted")  # load_cert_chain must never prompt on the terminal


def _check_dates(cert_pem: bytes, path: str) -> None:
    """Refuse an expired certificate, warn about one not valid yet or expiring soon."""
    try:
        from cryptography import x509
    except ImportError:  # optional: the ssl checks above already ran
        log.debug("cryptography is not installed; not checking the certificate's dates")
        return
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)  # the first certificate: the server's own
    except ValueError as exc:
        raise ConfigError(f"--tls-cert {path}: the certificate cannot be parsed ({exc})") from exc
    now = dt.datetime.now(dt.timezone.utc)
    not_after, not_before = cert.not_valid_after_utc, cert.not_valid_before_utc
    if not_after < now:
        raise ConfigError(f"--tls-cert {path}: the certificate expired on {not_after:%Y-%m-%d %H:%M} UTC; clients "
                          "would refuse it. Renew it (or issue a new one) and restart")
    if not_before > now:
        log.warning("--tls-cert %s is not valid before %s UTC (is this machine's clock right?); clients will "
                    "refuse it until then", path, f"{not_before:%Y-%m-%d %H:%M}")
    elif not_after - now < dt.timedelta(days=EXPIRY_WARNING_DAYS):
        log.warning("--tls-cert %s expires on %s UTC; renew it soon", path, f"{not_after:%Y-%m-%d %H:%M}")


def check_files(cert: str, key: str, client_ca: str | None = None) -> tuple[bytes, bytes, bytes | None]:
    """Read and check the server's TLS files; returns (certificate chain, key, client CA) PEM bytes.

    Raises ConfigError naming the flag and file that is wrong.
    """
    cert_pem = _read(cert, "--tls-cert", "certificate")
    key_pem = _read(key, "--tls-key", "private key")
    ca_pem = _read(client_ca, "--tls-client-ca", "client CA bundle") if client_ca else None
    if _CERT_MARK not in cert_pem:
        hint = " (it holds a private key: are --tls-cert and --tls-key swapped?)" if any(
            m in cert_pem for m in _KEY_MARKS) else ""
        raise ConfigError(f"--tls-cert {cert}: not a PEM certificate (no '-----BEGIN CERTIFICATE-----' line){hint}")
    if not any(m in key_pem for m in _KEY_MARKS):
        hint = " (it holds a certificate: are --tls-cert and --tls-key swapped?)" if _CERT_MARK in key_pem else ""
        raise ConfigError(f"--tls-key {key}: not a PEM private key (no '-----BEGIN ... PRIVATE KEY-----' line){hint}")
    if b"ENCRYPTED" in key_pem.split(b"-----END", 1)[0]:
        raise ConfigError(f"--tls-key {key}: the private key is encrypted with a passphrase; gRPC needs an "
                          "unencrypted key (e.g. openssl pkey -in KEY -out plain.key), readable only by the server")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(cert, key, password=_no_password)
    except ssl.SSLError as exc:
        reason = getattr(exc, "reason", "") or ""
        if "KEY_VALUES_MISMATCH" in reason or "key values mismatch" in str(exc):
            raise ConfigError(f"--tls-key {key} does not belong to the certificate in --tls-cert {cert} (the key "
                              "and the certificate's public key differ); pass the key the certificate was issued "
                              "for") from exc
        raise ConfigError(f"--tls-cert {cert} / --tls-key {key}: OpenSSL cannot load them ({reason or exc}); check "
                          "that the certificate is PEM (chain: server certificate first) and the key is its "
                          "unencrypted PEM key") from exc
    except ConfigError:
        raise
    except OSError as exc:
        raise ConfigError(f"--tls-cert {cert} / --tls-key {key}: cannot load them ({exc})") from exc
    if ca_pem is not None:
        if _CERT_MARK not in ca_pem:
            raise ConfigError(f"--tls-client-ca {client_ca}: not a PEM certificate bundle (no "
                              "'-----BEGIN CERTIFICATE-----' line)")
        try:
            ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_verify_locations(cafile=client_ca)
        except (ssl.SSLError, OSError) as exc:
            raise ConfigError(f"--tls-client-ca {client_ca}: OpenSSL cannot load the CA certificates "
                              f"({getattr(exc, 'reason', '') or exc})") from exc
    _check_dates(cert_pem, cert)
    return cert_pem, key_pem, ca_pem


def server_credentials(cert: str, key: str, client_ca: str | None = None) -> grpc.ServerCredentials:
    """Checked gRPC server credentials; with ``client_ca`` clients must present a certificate it signed."""
    cert_pem, key_pem, ca_pem = check_files(cert, key, client_ca)
    return grpc.ssl_server_credentials([(key_pem, cert_pem)], root_certificates=ca_pem,
                                       require_client_auth=ca_pem is not None)
