"""kube-dns' Endpoints follow the masters the leader hears (loops/clusterdns.py)."""

from raftkube.loops.clusterdns import dns_subsets

PORTS = [{"name": "dns", "port": 53, "protocol": "UDP"}, {"name": "dns-tcp", "port": 53, "protocol": "TCP"}]


def subset(ready, not_ready=()):
    result = {"ports": PORTS}
    if ready:
        result["addresses"] = [{"ip": ip} for ip in ready]
    if not_ready:
        result["notReadyAddresses"] = [{"ip": ip} for ip in not_ready]
    return result


def test_a_silent_master_is_left_out_and_comes_back_when_heard():
    everyone = [subset(["10.0.0.1", "10.0.0.2", "10.0.0.3"])]
    silent = dns_subsets(everyone, {"10.0.0.1": True, "10.0.0.2": False, "10.0.0.3": True})
    assert silent == [subset(["10.0.0.1", "10.0.0.3"], ["10.0.0.2"])]
    back = dns_subsets(silent, {"10.0.0.1": True, "10.0.0.2": True, "10.0.0.3": True})
    assert back == [subset(["10.0.0.1", "10.0.0.3", "10.0.0.2"])]


def test_nothing_moves_when_each_master_is_where_it_belongs_or_an_address_is_no_masters():
    mixed = [subset(["10.0.0.1", "192.168.9.9"], ["10.0.0.2", "192.168.9.8"])]
    heard = {"10.0.0.1": True, "10.0.0.2": False}
    assert dns_subsets(mixed, heard) == mixed  # the loop compares and writes nothing


def test_every_master_silent_leaves_only_not_ready_addresses():
    assert dns_subsets([subset(["10.0.0.1"])], {"10.0.0.1": False}) == [subset([], ["10.0.0.1"])]


def test_setup_sees_no_change_in_endpoints_the_leader_rearranged():
    from raftkube.setup import _differs, _dns_shape

    def endpoints(subsets):
        return {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "kube-dns"}, "subsets": subsets}

    wanted = endpoints([subset(["10.0.0.1", "10.0.0.2", "10.0.0.3"])])
    moved = endpoints([subset(["10.0.0.1", "10.0.0.3"], ["10.0.0.2"])])
    back = endpoints([subset(["10.0.0.1", "10.0.0.3", "10.0.0.2"])])
    assert not _differs(_dns_shape(wanted), _dns_shape(moved))
    assert not _differs(_dns_shape(wanted), _dns_shape(back))
    assert _differs(_dns_shape(wanted), _dns_shape(endpoints([subset(["10.0.0.1", "10.0.0.2"])])))


def test_a_master_left_out_comes_back_only_after_being_heard_throughout_the_hold():
    from types import SimpleNamespace

    from raftkube.loops.clusterdns import HOLD, ClusterDns

    heard = {"10.0.0.1": True, "10.0.0.2": True}
    loop = ClusterDns(SimpleNamespace(cache=None, masters_heard=lambda silence: dict(heard)))
    assert loop.verdicts(100.0) == {"10.0.0.1": True, "10.0.0.2": True}
    heard["10.0.0.2"] = False
    assert loop.verdicts(101.0)["10.0.0.2"] is False
    heard["10.0.0.2"] = True
    assert loop.verdicts(101.0 + HOLD - 1)["10.0.0.2"] is False  # heard again, not for long enough
    assert loop.verdicts(101.0 + HOLD)["10.0.0.2"] is True
