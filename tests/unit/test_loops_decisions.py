"""The controllers' pure decisions: scheduling filters and scorers, the replication
manager's create/delete choice and status, the garbage collector, node lifecycle."""


from raftkube.loops import placement
from raftkube.loops.gc import dependent_action, owner_action
from raftkube.loops.kubelet import fingerprint, needs_ensure
from raftkube.loops.nodes import node_verdict, pause_evictions
from raftkube.loops.replication import deletion_rank, plan, pod_from_template, rc_status

GI = 2**30


def node(name, cpu="2", memory="4Gi", pods="110", ready=True, unschedulable=False, labels=None):
    obj = {"kind": "Node", "metadata": {"name": name, "labels": labels or {}},
           "spec": {"unschedulable": unschedulable},
           "status": {"allocatable": {"cpu": cpu, "memory": memory, "pods": pods},
                      "conditions": [{"type": "Ready", "status": "True" if ready else "Unknown"}]}}
    return placement.node_info(obj)


def request(cpu=0, memory=0, ports=(), owner=None, selector=()):
    return placement.PodRequest(cpu, memory, frozenset(ports), owner, tuple(selector))


def test_each_filter_says_why_a_node_cannot_take_the_pod():
    assert placement.node_ready(request(), node("a", ready=False)) == "node(s) were not ready"
    assert placement.node_schedulable(request(), node("a", unschedulable=True)) == "node(s) were unschedulable"
    assert placement.node_selector(request(selector=[("disk", "ssd")]), node("a")) is not None
    assert placement.node_selector(request(selector=[("disk", "ssd")]), node("a", labels={"disk": "ssd"})) is None
    assert placement.enough_memory(request(memory=5 * GI), node("a")) == "Insufficient memory"
    assert placement.enough_memory(request(memory=4 * GI), node("a")) is None
    assert placement.enough_cpu(request(cpu=2500), node("a")) == "Insufficient cpu"
    full = node("a", pods="1")
    full.usage.add(request())
    assert placement.pod_count(request(), full) == "Too many pods"
    used = node("a")
    used.usage.add(request(ports=[(8080, "TCP", "")]))
    assert placement.free_host_ports(request(ports=[(8080, "TCP", "")]), used) is not None
    assert placement.free_host_ports(request(ports=[(8080, "UDP", "")]), used) is None


def test_unschedulable_message_counts_reasons_per_node():
    nodes = [node("a", memory="1Gi"), node("b", memory="1Gi"), node("c", ready=False)]
    result = placement.place(request(memory=2 * GI), nodes)
    assert result.node is None
    assert result.message == "0/3 nodes are available: 2 Insufficient memory, 1 node(s) were not ready."
    assert placement.place(request(), []).message.startswith("0/0 nodes are available")


def test_node_filters_run_once_per_batch_and_still_count_in_the_message():
    nodes = [node("a", memory="1Gi"), node("b", unschedulable=True), node("c", ready=False), node("d")]
    batch = placement.candidates(nodes)
    assert [n.name for n in batch.nodes] == ["a", "d"]
    assert placement.place(request(), batch, start=1, enough=1).node == "d"
    result = placement.place(request(memory=8 * GI), batch)
    assert result.message == ("0/4 nodes are available: 2 Insufficient memory, 1 node(s) were not ready, "
                              "1 node(s) were unschedulable.")
    assert placement.place(request(memory=8 * GI), nodes).message == result.message  # the same verdict unbatched
    assert batch.failures == {"node(s) were not ready": 1, "node(s) were unschedulable": 1}  # not mutated


def test_spread_beats_least_requested_then_least_requested_decides():
    a, b = node("a", memory="8Gi"), node("b")
    a.usage.add(request(owner="rc1"))
    assert placement.place(request(owner="rc1"), [a, b]).node == "b"  # spread wins over a's free memory
    assert placement.place(request(memory=GI, owner="rc2"), [a, b]).node == "a"  # then the emptier node


def test_pods_of_one_controller_spread_evenly_when_placed_one_by_one():
    nodes = [node(n) for n in "abc"]
    for _ in range(6):
        chosen = placement.place(request(owner="rc"), nodes)
        next(n for n in nodes if n.name == chosen.node).usage.add(request(owner="rc"))
    assert [n.usage.pods for n in nodes] == [2, 2, 2]


def test_search_stops_after_enough_feasible_nodes():
    nodes = [node(f"n{i}") for i in range(10)]
    assert placement.place(request(), nodes, start=7, enough=1).node == "n7"


def test_pod_request_sums_containers():
    pod = {"metadata": {"ownerReferences": [{"uid": "u", "controller": True}]},
           "spec": {"nodeSelector": {"a": "b"}, "containers": [
               {"resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}, "ports": [{"containerPort": 80, "hostPort": 8080}]},
               {"resources": {"requests": {"cpu": "0.5"}}}]}}
    assert placement.pod_request(pod) == placement.PodRequest(600, 64 * 2**20, frozenset({(8080, "TCP", "")}), "u",
                                                              (("a", "b"),))


# -- replication ------------------------------------------------------------------------

RC = {"kind": "ReplicationController",
      "metadata": {"name": "web", "namespace": "default", "uid": "rc-uid", "generation": 3},
      "spec": {"replicas": 3, "selector": {"app": "web"},
               "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}}


def rc_pod(name, owner="rc-uid", labels=None, node=None, phase=None, ready=False, created="2026-01-01T00:00:00Z",
           deleting=False):
    meta = {"name": name, "namespace": "default", "uid": f"u-{name}", "labels": labels or {"app": "web"},
            "creationTimestamp": created}
    if owner:
        meta["ownerReferences"] = [{"kind": "ReplicationController", "name": "web", "uid": owner, "controller": True}]
    if deleting:
        meta["deletionTimestamp"] = created
    status = {"phase": phase} if phase else {}
    if ready:
        status["conditions"] = [{"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}]
    return {"kind": "Pod", "metadata": meta, "spec": {"nodeName": node} if node else {}, "status": status}


def with_replicas(n):
    return {**RC, "spec": {**RC["spec"], "replicas": n}}


def test_creates_what_is_missing_ignoring_terminating_and_finished_pods():
    pods = [rc_pod("a", node="n1", phase="Running"), rc_pod("b", deleting=True), rc_pod("c", phase="Failed")]
    step = plan(RC, pods)
    assert step.create == 2 and not step.delete and [p["metadata"]["name"] for p in step.active] == ["a"]


def test_adopts_matching_orphans_and_releases_pods_that_stopped_matching():
    pods = [rc_pod("orphan", owner=None), rc_pod("moved", labels={"app": "other"}),
            rc_pod("other-owner", owner="x"), rc_pod("unrelated", owner=None, labels={"app": "db"})]
    step = plan(RC, pods)
    assert [p["metadata"]["name"] for p in step.adopt] == ["orphan"]
    assert [p["metadata"]["name"] for p in step.release] == ["moved"]
    assert step.create == 2


def test_scale_down_deletes_unscheduled_then_pending_then_not_ready_then_newest():
    pods = [rc_pod("old-ready", node="n", phase="Running", ready=True, created="2026-01-01T00:00:00Z"),
            rc_pod("new-ready", node="n", phase="Running", ready=True, created="2026-01-02T00:00:00Z"),
            rc_pod("not-ready", node="n", phase="Running"),
            rc_pod("pending", node="n", phase="Pending"),
            rc_pod("unscheduled")]
    assert [p["metadata"]["name"] for p in sorted(pods, key=deletion_rank)] == [
        "unscheduled", "pending", "not-ready", "new-ready", "old-ready"]
    step = plan(with_replicas(2), pods)
    assert [p["metadata"]["name"] for p in step.delete] == ["unscheduled", "pending", "not-ready"]
    assert step.create == 0


def test_status_counts_ready_and_available_after_min_ready_seconds():
    ready_at = 1767225600.0  # 2026-01-01T00:00:00Z
    rc = {**RC, "spec": {**RC["spec"], "minReadySeconds": 10}}
    pods = [rc_pod("a", ready=True), rc_pod("b")]
    status, wake = rc_status(rc, pods, ready_at + 4)
    assert status == {"replicas": 2, "fullyLabeledReplicas": 2, "readyReplicas": 1, "availableReplicas": 0,
                      "observedGeneration": 3}
    assert wake == 6
    status, wake = rc_status(rc, pods, ready_at + 10)
    assert status["availableReplicas"] == 1 and wake is None


def test_pod_from_template_is_owned_and_generated():
    pod = pod_from_template(RC)
    meta = pod["metadata"]
    assert meta["generateName"] == "web-" and meta["name"].startswith("web-") and len(meta["name"]) == 9
    assert meta["ownerReferences"] == [{"apiVersion": "v1", "kind": "ReplicationController", "name": "web",
                                        "uid": "rc-uid", "controller": True, "blockOwnerDeletion": True}]
    assert meta["labels"] == {"app": "web"} and pod["spec"] == RC["spec"]["template"]["spec"]


# -- garbage collection ---------------------------------------------------------------

def owner(finalizers=None, deleting=False):
    meta = {"name": "web", "uid": "rc-uid"}
    if finalizers:
        meta["finalizers"] = finalizers
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"kind": "ReplicationController", "metadata": meta}


def test_dependent_of_a_gone_owner_is_deleted():
    assert dependent_action(rc_pod("a"), {"rc-uid": None}) == ("delete", [])
    assert dependent_action(rc_pod("a"), {"rc-uid": owner()}) == ("none", [])
    assert dependent_action(rc_pod("a", deleting=True), {"rc-uid": None}) == ("none", [])


def test_dependent_keeps_living_owners_and_drops_gone_ones():
    pod = rc_pod("a")
    pod["metadata"]["ownerReferences"].append({"kind": "Service", "name": "s", "uid": "svc"})
    action, keep = dependent_action(pod, {"rc-uid": None, "svc": {"metadata": {"name": "s"}}})
    assert action == "keep-refs" and [r["uid"] for r in keep] == ["svc"]


def test_orphaning_owner_releases_and_foreground_owner_deletes_dependents():
    assert dependent_action(rc_pod("a"), {"rc-uid": owner(["orphan"], deleting=True)}) == ("keep-refs", [])
    assert dependent_action(rc_pod("a"), {"rc-uid": owner(["foregroundDeletion"], deleting=True)}) == ("delete", [])
    # the finalizer goes only once the owner has no dependents left
    assert owner_action(owner(["orphan"], deleting=True), [rc_pod("a")]) is None
    assert owner_action(owner(["orphan"], deleting=True), []) == "orphan"
    assert owner_action(owner(["foregroundDeletion"], deleting=True), []) == "foregroundDeletion"
    assert owner_action(owner(["orphan"]), []) is None


# -- node lifecycle and the kubelet -----------------------------------------------------

def test_node_verdict_from_silence():
    assert node_verdict(None, 5, 10) == "unheard"
    assert node_verdict(1.0, 5, 10) == "ready"
    assert node_verdict(5.5, 5, 10) == "unknown"
    assert node_verdict(15.5, 5, 10) == "evict"


def test_kubelet_ensures_missing_changed_or_forgotten_pods_only():
    pod = {"metadata": {"uid": "u"}, "spec": {"containers": [{"name": "c", "image": "i"}]}, "status": {"podIP": "10.0.0.2"}}
    seen = {"uid": "u", "ensured": True, "pause": {"state": "running"}, "containers": [{"name": "c", "state": "exited"}]}
    assert not needs_ensure(pod, seen, fingerprint(pod))
    assert needs_ensure(pod, None, fingerprint(pod))
    assert needs_ensure(pod, {**seen, "ensured": False}, fingerprint(pod))
    assert needs_ensure(pod, {**seen, "pause": {"state": "exited"}}, fingerprint(pod))
    assert needs_ensure(pod, seen, None)  # not ensured by this leader yet
    moved = {**pod, "status": {"podIP": "10.0.0.3"}}
    assert needs_ensure(moved, seen, fingerprint(pod))


# -- events ---------------------------------------------------------------------------

def test_events_expire_after_the_ttl_and_the_oldest_go_beyond_the_cap():
    from raftkube.loops.events import expired

    def event(name, at):
        return {"metadata": {"name": name}, "lastTimestamp": at}

    events = [event("new", "2026-01-01T01:00:00Z"), event("old", "2026-01-01T00:00:00Z"),
              event("mid", "2026-01-01T00:30:00Z")]
    now = 1767229200.0  # 2026-01-01T01:00:00Z
    assert [e["metadata"]["name"] for e in expired(events, now, 3000, 10)] == ["old"]
    assert [e["metadata"]["name"] for e in expired(events, now, 3000, 1)] == ["old", "mid"]
    assert expired(events, now, 7200, 10) == []


def test_evictions_pause_while_most_nodes_are_silent():
    # One of three nodes silent: its pods move. Two of three (a new leader still connecting
    # under load saw exactly this): the fault is more likely on the leader's side.
    assert not pause_evictions(["ready", "ready", "evict"])
    assert pause_evictions(["ready", "unknown", "evict"])
    assert pause_evictions(["evict"])
    assert pause_evictions(["unheard", "evict", "evict"])
    assert not pause_evictions(["ready"] * 5 + ["evict"] * 4)
    assert not pause_evictions([])


def test_events_are_best_effort_new_ones_dropped_while_the_backlog_is_full():
    from types import SimpleNamespace

    from raftkube.loops import events

    recorder = events.EventRecorder(SimpleNamespace(cache=None, holder="m1"))
    pods = [{"kind": "Pod", "metadata": {"name": f"p{n}", "namespace": "default", "uid": f"u{n}"}}
            for n in range(events.MAX_BACKLOG + 5)]
    for pod in pods:
        recorder.record(pod, "FailedScheduling", "0/0 nodes are available")
    assert len(recorder._entries) == events.MAX_BACKLOG and recorder._dropped == 5
    recorder.record(pods[0], "FailedScheduling", "0/0 nodes are available")  # a repeat still counts
    assert recorder._entries[("u0", "FailedScheduling", "0/0 nodes are available")].count == 2
