"""The kubeconfig setup writes: CA data, https to the first master, the token, a context."""

import base64

import yaml

from raftkube.client.kubeconfig import cluster_name, write_kubeconfig
from raftkube.pki import ensure_cluster_pki
from raftkube.remote.inventory import load_inventory


def test_kubeconfig_names_first_master_ca_and_token(tmp_path):
    (tmp_path / "lab1").mkdir()
    path = tmp_path / "lab1" / "inventory.ini"
    path.write_text("[masters]\nm1 ansible_host=10.0.0.1 raftkube_api_port=7443\nm2 ansible_host=10.0.0.2\n")
    inv = load_inventory(path)
    ensure_cluster_pki(inv)
    written, changed = write_kubeconfig(inv, "secret")
    assert changed and written == inv.kubeconfig_path and written.stat().st_mode & 0o777 == 0o600
    config = yaml.safe_load(written.read_text())
    assert config["current-context"] == "lab1" == cluster_name(inv)
    cluster = config["clusters"][0]["cluster"]
    assert cluster["server"] == "https://10.0.0.1:7443"
    assert base64.b64decode(cluster["certificate-authority-data"]) == inv.ca_cert_path.read_bytes()
    assert config["users"][0]["user"] == {"token": "secret"}
    assert config["contexts"][0]["context"]["cluster"] == "lab1"
    assert write_kubeconfig(inv, "secret")[1] is False


def test_cluster_name_from_variable_or_file_name(tmp_path):
    path = tmp_path / "prod.ini"
    path.write_text("[masters]\nm1\n")
    assert cluster_name(load_inventory(path)) == "prod"
    path.write_text("[masters]\nm1\n[all:vars]\nraftkube_cluster_name=blue\n")
    assert cluster_name(load_inventory(path)) == "blue"
