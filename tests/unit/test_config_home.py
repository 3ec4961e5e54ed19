"""`cloudai init`: a private home, a CA-signed server certificate with the right names, no silent overwrite."""
from __future__ import annotations

import ipaddress
import stat

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from cloudai_tasks.security.config_home import init_home
from cloudai_tasks.settings import ROLES


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_home_is_private(tmp_path):
    report = init_home(tmp_path / "home")
    assert _mode(report.home) == 0o700 and _mode(report.home / "tls") == 0o700
    for path in report.created:
        assert _mode(path) == 0o600, path
    conf = (report.home / "redis.conf").read_text()
    assert "\nport 0\n" in conf and "tls-auth-clients yes" in conf and 'tls-protocols "TLSv1.2 TLSv1.3"' in conf


def test_certificates_chain_to_the_ca_with_the_right_names(tmp_path):
    tls = init_home(tmp_path / "home", hosts=["broker.internal", "10.1.2.3"]).home / "tls"
    ca = x509.load_pem_x509_certificate((tls / "ca.pem").read_bytes())
    server = x509.load_pem_x509_certificate((tls / "redis.pem").read_bytes())
    server.verify_directly_issued_by(ca)
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(san.get_values_for_type(x509.DNSName)) == {"localhost", "broker.internal"}
    assert set(san.get_values_for_type(x509.IPAddress)) == {ipaddress.ip_address("127.0.0.1"),
                                                             ipaddress.ip_address("10.1.2.3")}
    for role in ROLES:
        cert = x509.load_pem_x509_certificate((tls / f"{role}.pem").read_bytes())
        cert.verify_directly_issued_by(ca)
        usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]


def test_rerun_keeps_keys_unless_forced(tmp_path):
    home = tmp_path / "home"
    init_home(home)
    before = (home / "tls" / "ca-key.pem").read_bytes()
    again = init_home(home)
    assert again.created == [] and (home / "tls" / "ca-key.pem").read_bytes() == before
    forced = init_home(home, force=True)
    assert (home / "tls" / "ca-key.pem").read_bytes() != before and forced.created


def test_a_missing_leaf_is_reissued_from_the_existing_ca(tmp_path):
    home = tmp_path / "home"
    init_home(home)
    ca = (home / "tls" / "ca-key.pem").read_bytes()
    (home / "tls" / "worker.pem").unlink()
    report = init_home(home)
    assert home / "tls" / "worker.pem" in report.created
    assert (home / "tls" / "ca-key.pem").read_bytes() == ca
