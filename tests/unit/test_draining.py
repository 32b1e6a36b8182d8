"""drain's choice of pods, and what each node's pods request (nodes -o wide)."""

import datetime

from raftkube.client.draining import node_requests, plan_drain, pod_requests, refusal_message
from raftkube.client.printing import format_objects
from raftkube.state.kinds import kind_info

NOW = datetime.datetime(2026, 11, 27, 12, 0, 0, tzinfo=datetime.timezone.utc)


def pod(name, node="node1", owner=True, phase="Running", cpu=None, memory=None, init=None, deleting=False):
    resources = {"requests": {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v is not None}}
    meta = {"name": name, "namespace": "default", "uid": f"uid-{name}"}
    if owner:
        meta["ownerReferences"] = [{"kind": "ReplicationController", "name": "web", "uid": "rc", "controller": True}]
    if deleting:
        meta["deletionTimestamp"] = "2026-11-27T12:00:00Z"
    spec = {"nodeName": node, "containers": [{"name": "c", "image": "busybox", "resources": resources}]}
    if init:
        spec["initContainers"] = [{"name": "i", "image": "busybox", "resources": {"requests": init}}]
    return {"kind": "Pod", "metadata": meta, "spec": spec, "status": {"phase": phase}}


def test_controller_pods_go_and_lone_pods_are_refused():
    pods = [pod("a"), pod("lone", owner=False), pod("done", owner=False, phase="Succeeded"), pod("b", node="node2")]
    plan = plan_drain(pods, "node1")
    assert [p["metadata"]["name"] for p in plan.delete] == ["a", "done"]
    assert [p["metadata"]["name"] for p, _ in plan.refused] == ["lone"]
    assert refusal_message(plan) == \
        "cannot delete Pods that declare no controller (use --force to override): default/lone"
    forced = plan_drain(pods, "node1", force=True)
    assert [p["metadata"]["name"] for p in forced.delete] == ["a", "lone", "done"] and not forced.refused


def test_an_owner_that_is_not_the_controller_does_not_count():
    lone = pod("x", owner=False)
    lone["metadata"]["ownerReferences"] = [{"kind": "ReplicationController", "name": "w", "uid": "u"}]
    assert plan_drain([lone], "node1").refused and not plan_drain([pod("y", owner=False, deleting=True)], "node1").refused


def test_requests_sum_containers_and_respect_init_containers():
    assert pod_requests(pod("a", cpu="250m", memory="64Mi")) == (250, 64 * 2**20)
    assert pod_requests(pod("a", cpu="100m", init={"cpu": "1"})) == (1000, 0)
    totals = node_requests([pod("a", cpu="250m", memory="64Mi"), pod("b", cpu="0.5", memory="64Mi"),
                            pod("gone", cpu="4", phase="Failed"), pod("c", node="node2", memory="1Gi"),
                            pod("pending", node=None, cpu="1")])
    assert totals == {"node1": (750, 128 * 2**20), "node2": (0, 2**30)}


def test_nodes_wide_shows_requested_of_allocatable():
    node = {"kind": "Node", "metadata": {"name": "node1", "creationTimestamp": "2026-11-27T11:00:00Z"},
            "status": {"allocatable": {"cpu": "2", "memory": "1Gi", "pods": "110"},
                       "nodeInfo": {"kubeletVersion": "raftkube-0.1.0"},
                       "conditions": [{"type": "Ready", "status": "True"}],
                       "addresses": [{"type": "InternalIP", "address": "10.213.1.101"}]}}
    bare = {"kind": "Node", "metadata": {"name": "node2", "creationTimestamp": "2026-11-27T11:00:00Z"},
            "spec": {"unschedulable": True}, "status": {}}
    text = format_objects([node, bare], "wide", kind_info("nodes"), NOW, requests={"node1": (750, 2**28)})
    assert text == (
        "NAME    STATUS                       ROLES    AGE   VERSION          INTERNAL-IP    EXTERNAL-IP"
        "   OS-IMAGE    KERNEL-VERSION   CONTAINER-RUNTIME   CPU(REQ/ALLOC)   MEMORY(REQ/ALLOC)\n"
        "node1   Ready                        <none>   60m   raftkube-0.1.0   10.213.1.101   <none>"
        "        <unknown>   <unknown>        <unknown>           750m/2 (37%)     256Mi/1Gi (25%)\n"
        "node2   Unknown,SchedulingDisabled   <none>   60m   <none>           <none>         <none>"
        "        <unknown>   <unknown>        <unknown>           0/<none>         0/<none>")


def test_durations_as_kubectl_takes_them():
    import pytest

    from raftkube.client.commands import parse_duration
    from raftkube.errors import UserError

    assert [parse_duration(t) for t in ("90", "1.5", "30s", "5m", "1h", "1m30s", "500ms")] == \
        [90, 1.5, 30, 300, 3600, 90, 0.5]
    for bad in ("soon", "5 m", "1d", "", "m5"):
        with pytest.raises(UserError, match="invalid duration"):
            parse_duration(bad)
