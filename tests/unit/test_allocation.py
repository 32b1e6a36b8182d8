"""Addresses allocated inside the state machine: pod CIDRs, pod IPs, ClusterIPs, NodePorts."""

import itertools
import pickle

import pytest

from raftkube.state import allocation
from raftkube.state.commands import ClusterState
from raftkube.state.objects import validate

NOW = "2026-01-01T00:00:00Z"
_ids = itertools.count()


def create(state, obj):
    n = next(_ids)
    return state.apply({"op": "create", "rid": f"r{n}", "object": validate(obj), "uid": f"uid-{n}", "now": NOW})


def update(state, obj):
    return state.apply({"op": "update", "rid": f"r{next(_ids)}", "object": obj, "now": NOW})


def delete(state, kind, ns, name):
    # grace 0: a bound pod is removed at once (a plain delete only marks it terminating)
    return state.apply({"op": "delete", "rid": f"r{next(_ids)}", "kind": kind, "namespace": ns, "name": name,
                        "gracePeriodSeconds": 0})


def node(name, **spec):
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}, "spec": spec}


def pod(name, node_name=None):
    spec = {"containers": [{"name": "c", "image": "busybox"}]}
    if node_name:
        spec["nodeName"] = node_name
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


def service(name, **spec):
    spec.setdefault("ports", [{"port": 80}])
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": spec}


@pytest.fixture
def state():
    s = ClusterState()
    assert create(s, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}})["ok"]
    return s


def ok(result):
    assert result["ok"], result
    return result["object"]


def test_nodes_get_distinct_24s_lowest_first_and_keep_them(state):
    a = ok(create(state, node("a")))
    b = ok(create(state, node("b")))
    assert a["spec"]["podCIDR"] == "10.244.0.0/24" and a["spec"]["podCIDRs"] == ["10.244.0.0/24"]
    assert b["spec"]["podCIDR"] == "10.244.1.0/24"
    # A status write that omits spec (setup's patch, a loop) keeps the range.
    again = ok(update(state, {**b, "spec": {}, "status": {"phase": "Running"}}))
    assert again["spec"]["podCIDR"] == "10.244.1.0/24"
    changed = update(state, {**again, "spec": {"podCIDR": "10.244.9.0/24"}})
    assert changed["reason"] == "Invalid" and "immutable" in changed["message"]
    ok(delete(state, "Node", "", "a"))
    assert ok(create(state, node("c")))["spec"]["podCIDR"] == "10.244.0.0/24"  # released with the node


def test_node_cidr_from_annotation_and_given_ones_checked(state):
    annotated = node("a")
    annotated["metadata"]["annotations"] = {allocation.CLUSTER_CIDR_ANNOTATION: "10.50.0.0/23"}
    assert ok(create(state, annotated))["spec"]["podCIDR"] == "10.50.0.0/24"
    clash = create(state, node("b", podCIDR="10.50.0.0/25"))
    assert clash["reason"] == "Invalid" and "overlaps 10.50.0.0/24" in clash["message"]
    second = node("c")
    second["metadata"]["annotations"] = {allocation.CLUSTER_CIDR_ANNOTATION: "10.50.0.0/23"}
    assert ok(create(state, second))["spec"]["podCIDR"] == "10.50.1.0/24"
    third = node("d")
    third["metadata"]["annotations"] = {allocation.CLUSTER_CIDR_ANNOTATION: "10.50.0.0/23"}
    full = create(state, third)
    assert full["reason"] == "Invalid" and "no pod CIDR left" in full["message"]


def test_pod_gets_an_ip_when_bound_and_keeps_it(state):
    ok(create(state, node("a")))
    unbound = ok(create(state, pod("p")))
    assert "podIP" not in unbound.get("status", {})
    bound = ok(update(state, {**unbound, "spec": {**unbound["spec"], "nodeName": "a"}}))
    assert bound["status"]["podIP"] == "10.244.0.2" and bound["status"]["podIPs"] == [{"ip": "10.244.0.2"}]
    # A status rewrite from a host report that knows nothing of the IP cannot drop or change it.
    rewritten = ok(update(state, {**bound, "status": {"phase": "Running", "podIP": "10.244.0.99"}}))
    assert rewritten["status"] == {"phase": "Running", "podIP": "10.244.0.2", "podIPs": [{"ip": "10.244.0.2"}]}
    unchanged = update(state, rewritten)
    assert unchanged["object"]["metadata"]["resourceVersion"] == rewritten["metadata"]["resourceVersion"]


def test_pod_ips_are_never_shared_and_released_with_the_pod(state):
    ok(create(state, node("a")))
    ok(create(state, node("b")))
    ips = [ok(create(state, pod(f"p{i}", "a")))["status"]["podIP"] for i in range(3)]
    assert ips == ["10.244.0.2", "10.244.0.3", "10.244.0.4"]
    assert ok(create(state, pod("q", "b")))["status"]["podIP"] == "10.244.1.2"
    ok(delete(state, "Pod", "default", "p1"))
    assert ok(create(state, pod("r", "a")))["status"]["podIP"] == "10.244.0.3"
    assert ok(create(state, pod("s", "a")))["status"]["podIP"] == "10.244.0.5"


def test_client_written_pod_ip_is_ignored_until_bound(state):
    obj = pod("p")
    obj["status"] = {"podIP": "10.244.0.7"}
    assert "podIP" not in ok(create(state, obj))["status"]
    # A node without a pod CIDR yet: no IP until it has one.
    assert "podIP" not in ok(create(state, pod("q", "nowhere"))).get("status", {})


def test_pod_ip_exhaustion_is_a_clear_error(state):
    ok(create(state, node("a", podCIDR="10.9.0.0/30")))  # .1 gateway, .2 the only pod address
    assert ok(create(state, pod("p", "a")))["status"]["podIP"] == "10.9.0.2"
    full = create(state, pod("q", "a"))
    assert full["reason"] == "Invalid" and "no pod IP left in 10.9.0.0/30" in full["message"]


def test_cluster_ips(state):
    first = ok(create(state, service("a")))
    assert first["spec"]["clusterIP"] == "10.96.0.16"
    assert ok(create(state, service("b")))["spec"]["clusterIP"] == "10.96.0.17"
    assert ok(create(state, service("dns", clusterIP="10.96.0.10")))["spec"]["clusterIP"] == "10.96.0.10"
    taken = create(state, service("c", clusterIP="10.96.0.10"))
    assert taken["reason"] == "Invalid"
    assert 'spec.clusterIP: Invalid value: "10.96.0.10": provided IP is already allocated' in taken["message"]
    outside = create(state, service("d", clusterIP="10.0.0.1"))
    assert outside["reason"] == "Invalid" and "not in the valid range" in outside["message"]
    assert ok(create(state, service("h", clusterIP="None", ports=[])))["spec"]["clusterIP"] == "None"
    # Re-applied without clusterIP: kept; changed: refused.
    kept = ok(update(state, {**first, "spec": {**first["spec"], "clusterIP": ""}}))
    assert kept["spec"]["clusterIP"] == "10.96.0.16"
    moved = update(state, {**first, "spec": {**first["spec"], "clusterIP": "10.96.0.99"}})
    assert moved["reason"] == "Invalid" and "immutable" in moved["message"]
    ok(delete(state, "Service", "default", "a"))
    assert ok(create(state, service("e")))["spec"]["clusterIP"] == "10.96.0.16"


def test_node_ports(state):
    a = ok(create(state, service("a", type="NodePort", ports=[{"port": 80, "name": "http"},
                                                              {"port": 53, "name": "dns", "protocol": "UDP"}])))
    assert [p["nodePort"] for p in a["spec"]["ports"]] == [30000, 30001]
    given = ok(create(state, service("b", type="NodePort", ports=[{"port": 80, "nodePort": 30080}])))
    assert given["spec"]["ports"][0]["nodePort"] == 30080
    taken = create(state, service("c", type="NodePort", ports=[{"port": 80, "nodePort": 30080}]))
    assert taken["reason"] == "Invalid" and "spec.ports[0].nodePort: Invalid value: 30080" in taken["message"]
    # A re-applied manifest without nodePorts keeps them.
    reapplied = {**a, "spec": {**a["spec"], "ports": [{k: v for k, v in p.items() if k != "nodePort"}
                                                       for p in a["spec"]["ports"]]}}
    assert [p["nodePort"] for p in ok(update(state, reapplied))["spec"]["ports"]] == [30000, 30001]


def test_allocation_survives_a_snapshot(state):
    ok(create(state, node("a")))
    ok(create(state, pod("p", "a")))
    copy = pickle.loads(pickle.dumps(state))
    assert ok(create(copy, pod("q", "a")))["status"]["podIP"] == "10.244.0.3"


def test_malformed_address_fields_are_refused_not_raised(state):
    result = state.apply({"op": "create", "rid": "m", "uid": "u", "now": NOW,
                          "object": {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "x"},
                                     "spec": {"podCIDR": "not-a-cidr"}}})
    assert result["ok"] is False and result["reason"] in ("BadRequest", "Invalid")


def test_pod_ip_index_follows_every_way_a_pod_goes(state):
    """The IPs in use are indexed, not read from every pod at each bind: the index must
    agree with the pods after binds, deletes, a namespace delete and an old snapshot."""
    ok(create(state, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "other"}}))
    ok(create(state, node("a")))
    held = {ok(create(state, pod(f"p{i}", "a")))["status"]["podIP"] for i in range(3)}
    elsewhere = pod("o", "a")
    elsewhere["metadata"]["namespace"] = "other"
    held.add(ok(create(state, elsewhere))["status"]["podIP"])
    assert set(state._pod_ips()) == held == {f"10.244.0.{n}" for n in range(2, 6)}
    ok(state.apply({"op": "delete", "rid": "ns", "kind": "Namespace", "namespace": "", "name": "other"}))
    assert "10.244.0.5" not in state._pod_ips()
    # A snapshot from before the index: rebuilt from the pods when first needed.
    old = pickle.loads(pickle.dumps(state))
    del old.__dict__["_pod_ip_holders"]
    assert ok(create(old, pod("q", "a")))["status"]["podIP"] == "10.244.0.5"
    assert set(old._pod_ips()) == {f"10.244.0.{n}" for n in range(2, 6)}


def test_node_cidrs_skip_given_ranges_small_and_wide(state):
    ok(create(state, node("small", podCIDR="10.244.0.128/25")))
    ok(create(state, node("wide", podCIDR="10.244.2.0/23")))
    names = [f"n{i}" for i in range(4)]
    cidrs = [ok(create(state, node(name)))["spec"]["podCIDR"] for name in names]
    assert cidrs == ["10.244.1.0/24", "10.244.4.0/24", "10.244.5.0/24", "10.244.6.0/24"]
