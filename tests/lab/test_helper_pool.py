"""Fan-out to several lab nodes through one pool of helper connections."""

from dataclasses import replace

import pytest

from raftkube.remote import ssh
from raftkube.remote.inventory import load_inventory
from raftkube.remote.pool import HostPool, UnknownHost

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def inventory(make_lab):
    lab = make_lab(nodes=3, masters=0, setup=False, prefix="pool")
    inv = load_inventory(lab.inventory_path)
    for host in inv.nodes:
        ssh.connect(host, inv.known_hosts_path, accept_new=True).close()
    return inv


def test_call_all_reaches_every_node_with_one_helper_each(inventory):
    with HostPool(inventory.nodes, inventory.known_hosts_path, max_workers=2) as pool:
        first = pool.call_all("host_facts", term=1)
        assert {name: o.result["hostname"] for name, o in first.items()} == {"node1": "node1", "node2": "node2", "node3": "node3"}
        pids = {name: pool.connection(name).helper_pid for name in pool.names}
        pool.call_all("ping", term=1)
        assert {name: pool.connection(name).helper_pid for name in pool.names} == pids
    assert all(pid is None for pid in (pool.connection(name).helper_pid for name in pool.names))


def test_one_unreachable_host_does_not_hide_the_others(inventory):
    hosts = [*inventory.nodes[:2], replace(inventory.nodes[2], port=1)]
    with HostPool(hosts, inventory.known_hosts_path) as pool:
        outcomes = pool.call_all("ping", term=1)
        assert outcomes["node1"].ok and outcomes["node2"].ok
        assert not outcomes["node3"].ok and isinstance(outcomes["node3"].error, ssh.HostUnreachable)
        with pytest.raises(UnknownHost, match="no host named 'node9'"):
            pool.call("node9", "ping")
