"""The cluster CA and serving certificates: made once, kept while valid, renewed before expiry."""

import datetime
import ssl

from cryptography import x509

from raftkube.pki import CERT_LIFETIME, ensure_cluster_pki, serving_names
from raftkube.remote.inventory import load_inventory


def inventory(tmp_path, extra=""):
    path = tmp_path / "prod.ini"
    path.write_text(f"[masters]\nm1 ansible_host=10.0.0.1 {extra}\nm2 ansible_host=10.0.0.2\n[nodes]\nn1\n")
    return load_inventory(path)


def sans(path):
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    return {str(n.value) for n in cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value}


def test_first_run_makes_ca_and_a_certificate_per_master(tmp_path):
    inv = inventory(tmp_path, "raftkube_api_sans=api.example.org,10.9.9.9")
    created, certs = ensure_cluster_pki(inv)
    assert created and [c.name for c in certs] == ["m1", "m2"] and {c.action for c in certs} == {"issued"}
    assert inv.ca_key_path.stat().st_mode & 0o777 == 0o600
    cert, key = inv.master_cert_paths("m1")
    assert key.stat().st_mode & 0o777 == 0o600 and key.parent.stat().st_mode & 0o777 == 0o700
    assert sans(cert) == {"10.0.0.1", "m1", "localhost", "127.0.0.1", "api.example.org", "10.9.9.9"}
    # It verifies against the CA for its IP address (what the clients check).
    context = ssl.create_default_context(cafile=str(inv.ca_cert_path))
    context.load_cert_chain(cert, key)  # the key matches the certificate


def test_second_run_keeps_everything(tmp_path):
    inv = inventory(tmp_path)
    ensure_cluster_pki(inv)
    before = inv.master_cert_paths("m1")[0].read_bytes()
    created, certs = ensure_cluster_pki(inv)
    assert not created and {c.action for c in certs} == {"kept"}
    assert inv.master_cert_paths("m1")[0].read_bytes() == before


def test_certificate_near_expiry_is_renewed(tmp_path):
    inv = inventory(tmp_path)
    ensure_cluster_pki(inv)
    later = datetime.datetime.now(datetime.timezone.utc) + CERT_LIFETIME - datetime.timedelta(days=10)
    _, certs = ensure_cluster_pki(inv, now=later)
    assert {c.action for c in certs} == {"renewed"}
    assert all(c.expires > later + datetime.timedelta(days=300) for c in certs)


def test_changed_sans_or_ca_reissue(tmp_path):
    inv = inventory(tmp_path)
    ensure_cluster_pki(inv)
    inv2 = inventory(tmp_path, "raftkube_api_sans=lb.local")
    _, certs = ensure_cluster_pki(inv2)
    assert [c.action for c in certs] == ["reissued", "kept"]
    inv2.ca_cert_path.unlink()
    inv2.ca_key_path.unlink()
    created, certs = ensure_cluster_pki(inv2)
    assert created and {c.action for c in certs} == {"reissued"}


def test_serving_names_are_unique_and_skip_blanks(tmp_path):
    inv = inventory(tmp_path, "raftkube_api_sans='localhost, ,m1'")
    assert serving_names(inv.host("m1")) == ["10.0.0.1", "m1", "localhost", "127.0.0.1"]
