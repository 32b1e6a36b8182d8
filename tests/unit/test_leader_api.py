"""The leader's API address the masters forward pods/log and pods/exec to (an IPv6 one bracketed)."""

from raftkube.loops.runner import Loops
from raftkube.remote.inventory import load_inventory


class _Status:
    """Only Store.raft_status(): the leader's raft address as pysyncobj reports it."""

    def __init__(self, leader):
        self.leader = leader

    def raft_status(self):
        return {"leader": self.leader}


def test_leader_api_brackets_ipv6_and_uses_the_api_port(tmp_path):
    path = tmp_path / "inv.ini"
    path.write_text("[masters]\nm1 ansible_host=fd00::1 raftkube_api_port=7443\nm2 ansible_host=10.0.0.2\n")
    inventory = load_inventory(path)
    assert Loops(_Status("fd00::1:2380"), "m2", inventory).leader_api() == "[fd00::1]:7443"
    assert Loops(_Status("10.0.0.2:2380"), "m1", inventory).leader_api() == "10.0.0.2:6443"
    assert Loops(_Status(None), "m1", inventory).leader_api() is None
