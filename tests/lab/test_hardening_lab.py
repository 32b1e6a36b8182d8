"""Issue 11 on real hosts: the Raft port is the masters' alone, secrets on a master are
private, and a hung helper channel is noticed and replaced within the node grace period."""

from __future__ import annotations

import os
import signal
import sys
import time

import pytest

from raftkube.loops.controller import LoopSettings
from raftkube.remote.connection import ConnectionLost, HostConnection
from raftkube.remote.inventory import load_inventory
from raftkube.setup import setup_cluster

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def lab(make_lab):
    lab = make_lab(nodes=1, masters=1, prefix="hrd")
    # An inventory with a password in it, as Ansible users have: it must stay here.
    text = lab.inventory_path.read_text()
    assert text.rstrip().splitlines()[-1].startswith("raftkube_lab=")  # the [all:vars] section is last
    lab.inventory_path.write_text(text.rstrip() + "\nansible_become_password=hunter2\n")
    setup_cluster(lab.inventory_path, echo=lambda line: None)
    return lab


@pytest.fixture(scope="module")
def inventory(lab):
    return load_inventory(lab.inventory_path)


def _connect(lab, host: str, address: str, port: int):
    probe = f"import socket; socket.create_connection(({address!r}, {port}), timeout=5).close()"
    return lab.exec(host, [sys.executable, "-c", probe], capture_output=True, text=True)


def test_a_node_cannot_open_a_raft_connection(lab, inventory):
    master = inventory.host("master1")
    refused = _connect(lab, "node1", master.address, master.raft_port)
    assert refused.returncode != 0 and "ConnectionRefusedError" in refused.stderr, refused.stderr[-500:]
    # The master itself still reaches its port (the firewall is not just closing it).
    assert _connect(lab, "master1", "127.0.0.1", master.raft_port).returncode in (0, 1)
    assert _connect(lab, "master1", master.address, master.raft_port).returncode == 0
    # And the API port stays open to everyone.
    assert _connect(lab, "node1", master.address, master.api_port).returncode == 0


def test_secrets_on_a_master_are_private(lab):
    state = "/var/lib/raftkube"
    listing = lab.exec("master1", ["find", state, "-maxdepth", "3", "(", "-type", "f", "-o", "-type", "d", ")",
                                   "-printf", "%m %y %p\n"], capture_output=True, text=True, check=True).stdout
    modes = {path: (mode, kind) for mode, kind, path in (line.split(" ", 2) for line in listing.splitlines())}
    private_files = [f"{state}/inventory.ini", f"{state}/inventory.ini.token", f"{state}/inventory.ini.raft-secret",
                     f"{state}/master/raft.journal", f"{state}/master/raft.journal.meta"]
    private_files += [p for p in modes if p.startswith(f"{state}/ssh/") or p.endswith((".key", "raft.dump"))]
    for path in private_files:
        assert modes.get(path, ("missing",))[0] == "600", (path, modes.get(path))
    for path in {state, f"{state}/ssh", f"{state}/master", *(p.rsplit("/", 1)[0] for p in private_files)}:
        assert modes[path] == ("700", "d"), (path, modes[path])
    assert any(p.endswith(".key") for p in private_files)  # the master's TLS key
    copy = lab.exec("master1", ["cat", f"{state}/inventory.ini"], capture_output=True, text=True, check=True).stdout
    assert "hunter2" not in copy and "ansible_become_password" not in copy
    assert "raftkube_lab=" in copy


def test_a_hung_helper_is_noticed_and_replaced_within_the_node_grace(inventory):
    conn = HostConnection(inventory.host("node1"), inventory.known_hosts_path)
    try:
        term = conn.connect()["term"]  # the lab's leader drives node1 too: never fence it out
        conn.call("ping", term=term)
        pid = conn.helper_pid
        os.kill(pid, signal.SIGSTOP)  # lab hosts share the machine's pid space
        try:
            stopped = time.monotonic()
            while conn.helper_pid == pid and time.monotonic() - stopped < 30:
                time.sleep(0.1)
            noticed = time.monotonic() - stopped
            assert conn.helper_pid != pid, "a stopped helper still looked alive after 30 s"
            assert noticed < LoopSettings.node_grace, noticed
            assert conn.call("ping", term=term, timeout=10)["pid"] != pid
        finally:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass  # its session was closed: sshd's end took it
    finally:
        conn.close()


def test_a_call_after_close_never_opens_a_connection(inventory):
    conn = HostConnection(inventory.host("node1"), inventory.known_hosts_path)
    term = conn.connect()["term"]
    conn.call("ping", term=term)
    conn.close()
    with pytest.raises(ConnectionLost):
        conn.call("ping", term=term)
    assert conn.helper_pid is None
