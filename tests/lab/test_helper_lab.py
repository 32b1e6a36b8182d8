"""The helper over real SSH on a lab node: shipped once, answers, fenced, gone on close."""

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest

from raftkube.remote import ssh
from raftkube.remote.connection import ConnectionLost, HelperError, HostConnection, RequestTimeout, StaleTermError
from raftkube.remote.inventory import load_inventory
from raftkube.remote.zipapp import helper_zipapp

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def lab(make_lab):
    return make_lab(nodes=1, masters=0, setup=False, prefix="hlp")


@pytest.fixture(scope="module")
def inventory(lab):
    inv = load_inventory(lab.inventory_path)
    ssh.connect(inv.host("node1"), inv.known_hosts_path, accept_new=True).close()
    return inv


@pytest.fixture
def conn(inventory):
    with HostConnection(inventory.host("node1"), inventory.known_hosts_path) as c:
        yield c


def _gone(pid: int, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.05)
    return False


def test_helper_answers_on_a_node(conn, lab):
    assert conn.call("ping", term=1)["pid"] == conn.helper_pid
    facts = conn.call("host_facts", term=1)
    assert facts["hostname"] == "node1"
    assert facts["cpus"] >= 1 and facts["memory_bytes"] > 0
    assert facts["docker_version"] and facts["python_version"].startswith("3.")
    assert conn.helper_pid in lab.sandbox("node1").pids()


def test_helper_is_cached_on_the_host_by_content_hash(conn, inventory, lab):
    conn.call("ping", term=1)
    listing = lab.exec("node1", ["ls", "-a", "/var/lib/raftkube/helper"], capture_output=True, text=True, check=True)
    assert sorted(listing.stdout.split()) == [".", "..", helper_zipapp().digest]
    stat = ["stat", "-c", "%Y %i", f"/var/lib/raftkube/helper/{helper_zipapp().digest}/__main__.py"]
    before = lab.exec("node1", stat, capture_output=True, text=True, check=True).stdout
    with HostConnection(inventory.host("node1"), inventory.known_hosts_path) as again:
        again.call("ping", term=1)
    assert lab.exec("node1", stat, capture_output=True, text=True, check=True).stdout == before


def test_stale_term_is_refused_on_the_host(conn, lab):
    conn.call("ping", term=50)
    with pytest.raises(StaleTermError, match="node1: ping: stale term 49 < 50"):
        conn.call("ping", term=49)
    term = lab.exec("node1", ["cat", "/var/lib/raftkube/term"], capture_output=True, text=True, check=True)
    assert term.stdout.strip() == "50"


def test_closing_the_connection_leaves_no_helper_on_the_host(inventory, lab):
    conn = HostConnection(inventory.host("node1"), inventory.known_hosts_path)
    conn.call("ping", term=100)
    pid = conn.helper_pid
    conn.close()
    assert _gone(pid)
    # The host's cgroup lists the process until its last thread has exited and sshd has reaped it.
    deadline = time.monotonic() + 10
    while pid in lab.sandbox("node1").pids() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert pid not in lab.sandbox("node1").pids()


def test_a_dropped_transport_kills_the_helper_and_the_next_call_reconnects(conn, lab):
    conn.call("ping", term=100)
    pid = conn.helper_pid
    # Cut the TCP connection under paramiko, as a network failure or a leader crash would.
    conn._conn.client.get_transport().sock.close()
    with pytest.raises(ConnectionLost):
        for _ in range(50):
            conn.call("ping", term=100, timeout=2)
            time.sleep(0.1)
    assert _gone(pid, timeout=10)
    assert conn.call("ping", term=100)["pid"] != pid


def test_an_unreachable_host_is_retried_with_back_off(inventory):
    closed = replace(inventory.host("node1"), port=1)
    conn = HostConnection(closed, inventory.known_hosts_path, connect_timeout=2)
    with pytest.raises(ssh.HostUnreachable, match="connection refused"):
        conn.call("ping", term=1)
    with pytest.raises(ssh.HostUnreachable, match="next attempt in"):
        conn.call("ping", term=1)
    conn.close()


def test_helper_dies_with_its_sshd_session(inventory, lab):
    conn = HostConnection(inventory.host("node1"), inventory.known_hosts_path)
    try:
        conn.call("ping", term=100)
        pid = conn.helper_pid
        with open(f"/proc/{pid}/stat") as f:
            parent = int(f.read().rsplit(")", 1)[1].split()[1])
        lab.exec("node1", ["kill", "-KILL", str(parent)], check=True)
        assert _gone(pid)
    finally:
        conn.close()


def test_a_host_without_the_python_named_says_so(inventory):
    missing = replace(inventory.host("node1"), python="/nonexistent/python3")
    with HostConnection(missing, inventory.known_hosts_path) as conn:
        with pytest.raises(ConnectionLost, match="the helper did not start: .*/nonexistent/python3"):
            conn.call("ping", term=100)


def test_a_partitioned_host_times_out_and_answers_again_after_healing(conn, lab):
    conn.call("ping", term=100)
    lab.partition("node1")
    try:
        with pytest.raises(RequestTimeout, match="node1: ping timed out after 1s"):
            conn.call("ping", term=100, timeout=1)
    finally:
        lab.heal("node1")
    # Same connection, same helper: TCP retransmits once the link is back.
    assert conn.call("ping", term=100, timeout=30)["pid"] == conn.helper_pid


def test_large_requests_from_many_threads_arrive_whole(conn):
    # Larger than one SSH packet (32 KiB): without one writer at a time, the pieces of two
    # requests interleave on the channel and both arrive as garbage.
    def call(i: int) -> str:
        try:
            conn.call("ping", {"delay": 0, "pad": str(i) * 100_000}, term=100, timeout=20)
        except HelperError as exc:
            return exc.kind
        return "ok"

    with ThreadPoolExecutor(max_workers=8) as pool:
        kinds = list(pool.map(call, range(16)))
    assert kinds == ["bad_request"] * 16  # ping takes no `pad`: each answered, none lost
