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


def test_nothing_moves_when_every_master_answers_or_an_address_is_no_masters():
    mixed = [subset(["10.0.0.1", "192.168.9.9"], ["10.0.0.2", "192.168.9.8"])]
    heard = {"10.0.0.1": True, "10.0.0.2": False}
    assert dns_subsets(mixed, heard) == mixed  # the loop compares and writes nothing


def test_every_master_silent_leaves_only_not_ready_addresses():
    assert dns_subsets([subset(["10.0.0.1"])], {"10.0.0.1": False}) == [subset([], ["10.0.0.1"])]
