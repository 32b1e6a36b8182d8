"""SSH to lab hosts: host keys recorded on first contact, a changed key refused."""

import dataclasses
import subprocess

import pytest

from raftkube.remote import ssh
from raftkube.remote.inventory import load_inventory

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def bare_lab(make_lab):
    return make_lab(nodes=1, masters=0, setup=False, prefix="ssh")


@pytest.fixture
def inventory(bare_lab):
    inv = load_inventory(bare_lab.inventory_path)
    inv.known_hosts_path.unlink(missing_ok=True)
    return inv


def test_unknown_key_refused_unless_accepting_new(inventory):
    host = inventory.host("node1")
    with pytest.raises(ssh.HostKeyUnknown, match="node1 .* has no key recorded"):
        ssh.connect(host, inventory.known_hosts_path)
    ssh.connect(host, inventory.known_hosts_path, accept_new=True).close()
    lines = inventory.known_hosts_path.read_text().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{host.address} ")
    # Now known: an ordinary connect succeeds and records nothing more.
    conn = ssh.connect(host, inventory.known_hosts_path)
    assert ssh.run(conn, ["echo", "it's; $HOME"]).stdout == "it's; $HOME\n"
    conn.close()
    ssh.connect(host, inventory.known_hosts_path, accept_new=True).close()
    assert inventory.known_hosts_path.read_text().splitlines() == lines


def test_changed_key_is_refused_even_when_accepting_new(inventory, tmp_path):
    host = inventory.host("node1")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "other")], check=True)
    impostor = (tmp_path / "other.pub").read_text().split()[:2]
    inventory.known_hosts_path.write_text(f"{host.address} {' '.join(impostor)}\n")
    for accept_new in (False, True):
        with pytest.raises(ssh.HostKeyChanged) as info:
            ssh.connect(host, inventory.known_hosts_path, accept_new=accept_new)
        message = str(info.value)
        assert f"host node1 ({host.address}:22) presented a different ssh-ed25519 key" in message
        assert str(inventory.known_hosts_path) in message and "remove its line" in message


def test_unreachable_host_names_host_and_address(inventory):
    host = inventory.host("node1")
    closed_port = dataclasses.replace(host, port=1)
    with pytest.raises(ssh.HostUnreachable, match=r"node1 \(.*:1\) is unreachable: connection refused"):
        ssh.connect(closed_port, inventory.known_hosts_path, accept_new=True, timeout=3)


def test_remote_failure_is_a_user_error(inventory):
    conn = ssh.connect(inventory.host("node1"), inventory.known_hosts_path, accept_new=True)
    try:
        with pytest.raises(ssh.RemoteCommandFailed, match="`ls /nonexistent` failed: .*No such file"):
            ssh.run(conn, ["ls", "/nonexistent"])
        result = ssh.run(conn, ["sh", "-c", 'echo "$X"'], env={"X": "a b'c"})
        assert result.stdout == "a b'c\n"
    finally:
        conn.close()


def test_a_key_of_another_type_is_refused_even_when_accepting_new(inventory, tmp_path):
    # The lab's sshd has only an ed25519 key: an ecdsa record makes it look like an impostor
    # that lacks the recorded key and offers a new type instead; accept-new must not record it.
    host = inventory.host("node1")
    subprocess.run(["ssh-keygen", "-q", "-t", "ecdsa", "-N", "", "-f", str(tmp_path / "other")], check=True)
    recorded = f"{host.address} {' '.join((tmp_path / 'other.pub').read_text().split()[:2])}\n"
    inventory.known_hosts_path.write_text(recorded)
    for accept_new in (False, True):
        with pytest.raises(ssh.HostKeyChanged, match="remove its line"):
            ssh.connect(host, inventory.known_hosts_path, accept_new=accept_new)
    assert inventory.known_hosts_path.read_text() == recorded


def test_a_broken_connection_is_a_one_line_error(inventory):
    conn = ssh.connect(inventory.host("node1"), inventory.known_hosts_path, accept_new=True)
    try:
        conn.client.get_transport().sock.close()  # as a network failure would
        with pytest.raises(ssh.RemoteCommandFailed, match="`true` failed: "):
            ssh.run(conn, ["true"])
        with pytest.raises(ssh.RemoteCommandFailed, match="`cat` failed: "):
            ssh.feed(conn, ["cat"], [b"data"])
    finally:
        conn.close()
