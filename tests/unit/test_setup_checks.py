"""What setup decides without touching a host: inventory checks, capacity, service manager."""

import dataclasses
import json
import os
import subprocess
import sys

import pytest

from raftkube.errors import UserError
from raftkube.remote.hostprep import _FACTS_SCRIPT, HostFacts, capacity
from raftkube.remote.inventory import load_inventory
from raftkube.remote.setup_master import master_config, service_manager
from raftkube.setup import setup_cluster

FACTS = HostFacts(python=(3, 11, 2), cpu=8, memory=16 * 2**30, systemd=False, forwarding_was_on=True, forwarding_was_persisted=True,
                  kernel="6.1.0", architecture="x86_64", os_image="Debian GNU/Linux 12 (bookworm)")


def test_capacity_is_read_from_the_host_unless_overridden(tmp_path):
    path = tmp_path / "hosts.ini"
    path.write_text("[nodes]\nplain\nbig raftkube_cpu=32 raftkube_memory=128Gi raftkube_max_pods=250\n")
    inv = load_inventory(path)
    plain = capacity(inv.host("plain"), FACTS)
    assert (plain.cpu, plain.memory, plain.pods) == ("8", f"{16 * 2**20}Ki", "110")
    big = capacity(inv.host("big"), FACTS)
    assert (big.cpu, big.memory, big.pods) == ("32", "128Gi", "250")


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "lists no hosts"),
        ("[nodes]\nNode_1\n", "'Node_1' is not a valid Node name"),
        ("[nodes]\nn1 raftkube_cpu=lots\n", "host n1: raftkube_cpu: "),
        ("[nodes]\nn1 raftkube_memory=-1Gi\n", "host n1: raftkube_memory: "),
        ("[nodes]\nn1 raftkube_max_pods=1.5\n", "raftkube_max_pods must be a whole number"),
        ("[masters]\nm1 raftkube_service_manager=init\n", "host m1: raftkube_service_manager must be systemd or daemon"),
    ],
)
def test_bad_inventories_are_refused_before_any_host_is_contacted(tmp_path, text, message):
    path = tmp_path / "hosts.ini"
    path.write_text(text)
    with pytest.raises(UserError, match=message):
        setup_cluster(path, lambda line: None)
    assert not (tmp_path / "hosts.ini.token").exists()


def test_service_manager(tmp_path):
    path = tmp_path / "hosts.ini"
    path.write_text("[masters]\nauto\nforced raftkube_service_manager=daemon\nlab raftkube_lab=l1\nbad raftkube_service_manager=init\n")
    inv = load_inventory(path)
    with_systemd = dataclasses.replace(FACTS, systemd=True)
    assert service_manager(inv.host("auto"), with_systemd) == "systemd"
    assert service_manager(inv.host("auto"), FACTS) == "daemon"
    assert service_manager(inv.host("forced"), with_systemd) == "daemon"
    assert service_manager(inv.host("lab"), with_systemd) == "daemon"
    with pytest.raises(UserError, match="must be systemd or daemon"):
        service_manager(inv.host("bad"), FACTS)


def test_facts_script_leaves_a_host_with_too_old_a_python_untouched(tmp_path):
    # The script setup runs on each host, run here with this machine's python3.
    dirs = [str(tmp_path / "state"), str(tmp_path / "state" / "pods")]
    too_old = subprocess.run([sys.executable, "-c", _FACTS_SCRIPT, "99.0", "node", "", *dirs],
                             capture_output=True, text=True, check=True)
    assert json.loads(too_old.stdout) == {"python": list(sys.version_info[:3])}
    assert not (tmp_path / "state").exists()
    ok = subprocess.run([sys.executable, "-c", _FACTS_SCRIPT, "3.9", "other", "", *dirs],
                        capture_output=True, text=True, check=True)
    facts = json.loads(ok.stdout)
    assert facts["cpu"] >= 1 and facts["memory"] > 0 and facts["forwarding_was_on"] is None
    assert all(os.path.isdir(d) for d in dirs)


def test_master_config_names_a_missing_key_file(tmp_path):
    path = tmp_path / "hosts.ini"
    path.write_text("[masters]\nm1\n[nodes]\nn1 ansible_ssh_private_key_file=keys/gone\n")
    inv = load_inventory(path)
    with pytest.raises(UserError, match=f"cannot read ssh key file {tmp_path}/keys/gone to copy to the masters"):
        master_config(inv, inv.host("m1"), "token", "raft-secret", "digest")
