"""What setup ships to a master: secrets apart, only the variables raftkube reads, 0600."""

import pytest

from raftkube.pki import ensure_cluster_pki
from raftkube.remote.inventory import load_inventory
from raftkube.remote.raft_firewall import ruleset
from raftkube.remote.setup_master import REMOTE_INVENTORY, master_config
from raftkube.state.secrets import SecretError, check_apart, ensure_secret, read_secret


def _inventory(tmp_path):
    path = tmp_path / "hosts.ini"
    path.write_text("[masters]\nm1 ansible_host=10.0.0.1 ansible_password=hunter2\n"
                    "[nodes]\nn1 ansible_host=10.0.0.2 raftkube_cpu=2\n"
                    "[all:vars]\nansible_become_password=s3cret\nansible_user=ops\nsome_playbook_var=x\n")
    return load_inventory(path)


def test_master_inventory_copy_keeps_only_what_raftkube_reads(tmp_path):
    inv = _inventory(tmp_path)
    ensure_cluster_pki(inv)
    config = master_config(inv, inv.host("m1"), "token", "raft-secret", "digest")
    rendered, mode = config.files[REMOTE_INVENTORY]
    text = rendered.decode()
    assert mode == 0o600
    assert "hunter2" not in text and "s3cret" not in text and "some_playbook_var" not in text
    assert "ansible_user=ops" in text and "raftkube_cpu=2" in text and "ansible_host=10.0.0.2" in text
    assert config.files[f"{REMOTE_INVENTORY}.raft-secret"] == (b"raft-secret\n", 0o600)
    assert config.files[f"{REMOTE_INVENTORY}.token"] == (b"token\n", 0o600)


def test_raft_secret_is_created_private_and_kept(tmp_path):
    path = tmp_path / "inv.ini.raft-secret"
    value, created = ensure_secret(path)
    assert created and len(value) == 64 and (path.stat().st_mode & 0o777) == 0o600
    assert ensure_secret(path) == (value, False)
    assert read_secret(path) == value
    with pytest.raises(SecretError, match="same as the API token"):
        check_apart(value, value)


def test_inventory_names_the_raft_secret_file(tmp_path):
    inv = _inventory(tmp_path)
    assert inv.raft_secret_path == tmp_path / "hosts.ini.raft-secret"


def test_firewall_accepts_raft_port_only_from_masters():
    script = ruleset(2380, ["10.0.0.3", "10.0.0.1", "fd00::2"])
    assert "delete table inet raftkube_raft" in script
    assert "tcp dport 2380 ip saddr { 10.0.0.1, 10.0.0.3 } accept" in script
    assert "tcp dport 2380 ip6 saddr { fd00::2 } accept" in script
    assert script.index("accept\n        tcp dport 2380 reject with tcp reset") > 0
