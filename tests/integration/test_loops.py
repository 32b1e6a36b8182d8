"""The leader's loops in real master processes, with Node objects that have no host
behind them (marked unmanaged, so node lifecycle leaves them alone): scheduling, the
replication manager, deletion and propagation policies, the lease across a leader kill."""

from __future__ import annotations

import time

import pytest

NS = "/api/v1/namespaces/default"


def node(name, memory="4Gi", ready=True, labels=None):
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": labels or {}, "annotations": {"raftkube.io/unmanaged": "true"}},
            "status": {"allocatable": {"cpu": "2", "memory": memory, "pods": "110"},
                       "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def rc(name, replicas, memory=None):
    container = {"name": "c", "image": "busybox"}
    if memory:
        container["resources"] = {"requests": {"memory": memory}}
    return {"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"app": name},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [container]}}}}


def wait_for(check, timeout=20.0, what="condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError(f"{what} not reached within {timeout}s; last: {last!r}")


def pods(cluster, master, app):
    code, body = cluster.request(master, "GET", f"{NS}/pods?labelSelector=app%3D{app}")
    assert code == 200, body
    return body["items"]


@pytest.fixture
def cluster(masters):
    leader = masters.leader()
    for name, memory, ready in (("n1", "4Gi", True), ("n2", "4Gi", True), ("n3", "1Gi", False)):
        code, body = masters.request(leader, "POST", "/api/v1/nodes", node(name, memory, ready))
        assert code == 201, body
    return masters


def test_rc_pods_are_created_spread_and_scaled(cluster):
    leader = cluster.leader()
    assert cluster.request(leader, "POST", f"{NS}/replicationcontrollers", rc("web", 4))[0] == 201

    def spread():
        items = pods(cluster, leader, "web")
        nodes = sorted(p["spec"].get("nodeName") or "-" for p in items)
        return items if nodes == ["n1", "n1", "n2", "n2"] else None

    items = wait_for(spread, what="4 pods on n1, n2")
    for pod in items:
        meta = pod["metadata"]
        assert meta["name"].startswith("web-") and meta["generateName"] == "web-"
        assert meta["ownerReferences"][0]["kind"] == "ReplicationController" and meta["ownerReferences"][0]["controller"]
        assert {"type": "PodScheduled", "status": "True"}.items() <= pod["status"]["conditions"][0].items()
    code, body = cluster.request(leader, "GET", f"{NS}/replicationcontrollers/web")
    assert body["status"]["replicas"] == 4 and body["status"]["observedGeneration"] == 1

    code, body = cluster.request(leader, "PATCH", f"{NS}/replicationcontrollers/web", {"spec": {"replicas": 1}},
                                 headers={"Content-Type": "application/merge-patch+json"})
    assert code == 200, body
    # Bound pods are deleted gracefully (no kubelet here to finish): 3 terminate, 1 stays.
    wait_for(lambda: sum(not p["metadata"].get("deletionTimestamp") for p in pods(cluster, leader, "web")) == 1,
             what="scale down to 1")
    assert wait_for(lambda: cluster.request(leader, "GET", f"{NS}/replicationcontrollers/web")[1]["status"]
                    .get("observedGeneration") == 2, what="observedGeneration 2")
    wanted = {"Scheduled", "SuccessfulCreate", "SuccessfulDelete"}
    wait_for(lambda: wanted <= {e["reason"] for e in cluster.request(leader, "GET", f"{NS}/events")[1]["items"]},
             what="events")


def test_pod_that_fits_nowhere_stays_pending_with_the_reason(cluster):
    leader = cluster.leader()
    assert cluster.request(leader, "POST", f"{NS}/replicationcontrollers", rc("big", 1, memory="8Gi"))[0] == 201

    def failed():
        items = pods(cluster, leader, "big")
        conditions = items[0].get("status", {}).get("conditions", []) if items else []
        return next((c for c in conditions if c["type"] == "PodScheduled" and c["status"] == "False"), None)

    condition = wait_for(failed, what="PodScheduled=False")
    message = "0/3 nodes are available: 2 Insufficient memory, 1 node(s) were not ready."
    assert condition["reason"] == "Unschedulable" and condition["message"] == message
    events = wait_for(lambda: [e for e in cluster.request(leader, "GET", f"{NS}/events")[1]["items"]
                               if e["reason"] == "FailedScheduling"], what="FailedScheduling event")
    assert events[0]["message"] == message and events[0]["type"] == "Warning"
    # a node with room appears: the pod is scheduled there
    assert cluster.request(leader, "POST", "/api/v1/nodes", node("n4", memory="16Gi"))[0] == 201
    wait_for(lambda: pods(cluster, leader, "big")[0]["spec"].get("nodeName") == "n4", what="bound to n4")


def test_delete_rc_background_orphan_foreground(cluster):
    leader = cluster.leader()
    for name in ("bg", "orph", "fg"):
        assert cluster.request(leader, "POST", f"{NS}/replicationcontrollers", rc(name, 2))[0] == 201
        wait_for(lambda: len(pods(cluster, leader, name)) == 2, what=f"{name} pods")

    # Background (kubectl's body): the RC goes now, its pods are deleted after.
    code, _ = cluster.request(leader, "DELETE", f"{NS}/replicationcontrollers/bg",
                              {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"})
    assert code == 200
    assert cluster.request(leader, "GET", f"{NS}/replicationcontrollers/bg")[0] == 404
    wait_for(lambda: all(p["metadata"].get("deletionTimestamp") for p in pods(cluster, leader, "bg")),
             what="bg pods terminating")

    # Orphan: the pods stay, without their owner reference; the RC is gone once released.
    code, body = cluster.request(leader, "DELETE", f"{NS}/replicationcontrollers/orph?propagationPolicy=Orphan")
    assert code == 200 and body["metadata"]["finalizers"] == ["orphan"]
    wait_for(lambda: cluster.request(leader, "GET", f"{NS}/replicationcontrollers/orph")[0] == 404, what="orph removed")
    items = pods(cluster, leader, "orph")
    assert len(items) == 2 and all("ownerReferences" not in p["metadata"] for p in items)
    assert not any(p["metadata"].get("deletionTimestamp") for p in items)

    # Foreground: the RC stays (finalizer) until its pods are gone; force them out.
    code, body = cluster.request(leader, "DELETE", f"{NS}/replicationcontrollers/fg",
                                 {"propagationPolicy": "Foreground"})
    assert code == 200 and body["metadata"]["finalizers"] == ["foregroundDeletion"]
    wait_for(lambda: all(p["metadata"].get("deletionTimestamp") for p in pods(cluster, leader, "fg")),
             what="fg pods terminating")
    assert cluster.request(leader, "GET", f"{NS}/replicationcontrollers/fg")[0] == 200
    for pod in pods(cluster, leader, "fg"):
        code, _ = cluster.request(leader, "DELETE", f"{NS}/pods/{pod['metadata']['name']}?gracePeriodSeconds=0")
        assert code == 200
    wait_for(lambda: cluster.request(leader, "GET", f"{NS}/replicationcontrollers/fg")[0] == 404, what="fg removed")


def test_graceful_pod_delete_and_force(cluster):
    leader = cluster.leader()
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p1"},
           "spec": {"nodeName": "n1", "terminationGracePeriodSeconds": 7, "containers": [{"name": "c", "image": "busybox"}]}}
    assert cluster.request(leader, "POST", f"{NS}/pods", pod)[0] == 201
    code, body = cluster.request(leader, "DELETE", f"{NS}/pods/p1")
    assert code == 200 and body["metadata"]["deletionGracePeriodSeconds"] == 7 and body["metadata"]["deletionTimestamp"]
    code, body = cluster.request(leader, "DELETE", f"{NS}/pods/p1", {"gracePeriodSeconds": 0})
    assert code == 200
    assert cluster.request(leader, "GET", f"{NS}/pods/p1")[0] == 404
    unbound = {**pod, "metadata": {"name": "p2"}, "spec": {**pod["spec"]}}
    del unbound["spec"]["nodeName"]
    unbound["spec"]["nodeSelector"] = {"none": "such"}
    assert cluster.request(leader, "POST", f"{NS}/pods", unbound)[0] == 201
    assert cluster.request(leader, "DELETE", f"{NS}/pods/p2")[0] == 200
    assert cluster.request(leader, "GET", f"{NS}/pods/p2")[0] == 404
    code, body = cluster.request(leader, "DELETE", f"{NS}/pods/p2?propagationPolicy=Sideways")
    assert code == 400 or code == 404


def test_new_leader_takes_over_and_the_old_lease_fences(cluster):
    leader = cluster.leader()
    status = cluster.status(leader)
    assert status["lease"]["holder"] == leader
    term = status["lease"]["term"]
    cluster.kill(leader)
    new = cluster.leader(timeout=30)
    lease = wait_for(lambda: (cluster.status(new) or {}).get("lease") if
                     ((cluster.status(new) or {}).get("lease") or {}).get("holder") == new else None, what="new lease")
    assert lease["term"] > term
    # the new leader's loops act: an RC gets its pods
    assert cluster.request(new, "POST", f"{NS}/replicationcontrollers", rc("after", 2))[0] == 201
    wait_for(lambda: sorted(p["spec"].get("nodeName", "") for p in pods(cluster, new, "after")) == ["n1", "n2"],
             what="pods scheduled by the new leader")
    # a follower's loops never act: its lease is not held
    follower = next(name for name in cluster.procs if name != new)
    log = (cluster.root / f"{follower}.log").read_text()
    assert "starting the loops" not in log


def test_deleted_node_gets_no_pods_and_its_pods_are_deleted(cluster):
    leader = cluster.leader()
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "on-n2", "labels": {"app": "n2"}},
           "spec": {"nodeName": "n2", "containers": [{"name": "c", "image": "busybox"}]}}
    assert cluster.request(leader, "POST", f"{NS}/pods", pod)[0] == 201
    assert cluster.request(leader, "DELETE", "/api/v1/nodes/n2")[0] == 200
    wait_for(lambda: cluster.request(leader, "GET", f"{NS}/pods/on-n2")[0] == 404, what="pod of a deleted node removed")
    assert cluster.request(leader, "POST", f"{NS}/replicationcontrollers", rc("rest", 3))[0] == 201
    items = wait_for(lambda: (lambda items: items if len(items) == 3 and all(p["spec"].get("nodeName") for p in items)
                              else None)(pods(cluster, leader, "rest")), what="3 pods bound")
    assert {p["spec"]["nodeName"] for p in items} == {"n1"}
