"""Graceful deletion, finalizers and propagation policies in the state machine."""

import pytest

from raftkube.state import deletion
from raftkube.state.commands import ClusterState

NOW = "2026-01-01T00:00:00Z"
LATER = "2026-01-01T00:00:10Z"


@pytest.fixture
def state():
    s = ClusterState()
    s.apply({"op": "create", "object": {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}},
             "uid": "ns", "now": NOW})
    return s


def put(state, obj, uid="u1"):
    result = state.apply({"op": "create", "object": obj, "uid": uid, "now": NOW})
    assert result["ok"], result
    return result["object"]


def pod(name="web", node=None, grace=None, finalizers=None):
    obj = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
           "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    if node:
        obj["spec"]["nodeName"] = node
    if grace is not None:
        obj["spec"]["terminationGracePeriodSeconds"] = grace
    if finalizers:
        obj["metadata"]["finalizers"] = finalizers
    return obj


def rc(name="rc"):
    return {"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": name, "namespace": "default"},
            "spec": {"replicas": 1, "selector": {"a": "b"}, "template": {"metadata": {"labels": {"a": "b"}},
                                                                          "spec": pod()["spec"]}}}


def delete(state, kind="Pod", name="web", **args):
    return state.apply({"op": "delete", "kind": kind, "namespace": "default", "name": name, "now": LATER, **args})


def test_unbound_pod_is_removed_at_once(state):
    put(state, pod())
    assert delete(state)["ok"]
    assert state.get("Pod", "default", "web") is None
    assert state.changes[-1][1] == "DELETED"


def test_bound_pod_gets_deletion_timestamp_and_its_own_grace(state):
    put(state, pod(node="n1", grace=2))
    result = delete(state)
    meta = result["object"]["metadata"]
    assert meta["deletionTimestamp"] == LATER and meta["deletionGracePeriodSeconds"] == 2
    assert state.changes[-1][1] == "MODIFIED"
    # again: nothing changes
    revision = state.revision
    assert delete(state)["ok"] and state.revision == revision
    # the kubelet's final delete with grace 0 removes it
    assert delete(state, gracePeriodSeconds=0)["ok"]
    assert state.get("Pod", "default", "web") is None


def test_default_grace_is_30_and_options_win(state):
    put(state, pod(node="n1"))
    assert delete(state)["object"]["metadata"]["deletionGracePeriodSeconds"] == 30
    shorter = delete(state, gracePeriodSeconds=5)
    assert shorter["object"]["metadata"]["deletionGracePeriodSeconds"] == 5
    longer = delete(state, gracePeriodSeconds=60)  # a delete may only shorten it
    assert longer["object"]["metadata"]["deletionGracePeriodSeconds"] == 5


def test_force_delete_of_bound_pod_removes_at_once(state):
    put(state, pod(node="n1"))
    assert delete(state, gracePeriodSeconds=0)["ok"]
    assert state.get("Pod", "default", "web") is None


def test_finished_pod_is_removed_at_once(state):
    obj = put(state, pod(node="n1"))
    state.apply({"op": "update", "object": {**obj, "status": {"phase": "Succeeded"}}, "now": NOW})
    delete(state)
    assert state.get("Pod", "default", "web") is None


def test_finalizer_keeps_object_until_last_one_removed(state):
    put(state, pod(finalizers=["example.com/hold"]))
    kept = delete(state)["object"]
    assert kept["metadata"]["deletionTimestamp"] == LATER
    # an update cannot clear the deletion timestamp
    meta = {k: v for k, v in kept["metadata"].items() if k != "deletionTimestamp"}
    same = state.apply({"op": "update", "object": {**kept, "metadata": meta}, "now": NOW})["object"]
    assert same["metadata"]["deletionTimestamp"] == LATER
    meta = {k: v for k, v in same["metadata"].items() if k != "finalizers"}
    result = state.apply({"op": "update", "object": {**same, "metadata": meta}, "now": NOW})
    assert result["ok"] and state.get("Pod", "default", "web") is None
    assert state.changes[-1][1] == "DELETED"


def test_update_cannot_start_a_deletion(state):
    obj = put(state, pod())
    marked = {**obj, "metadata": {**obj["metadata"], "deletionTimestamp": NOW}}
    stored = state.apply({"op": "update", "object": marked, "now": NOW})["object"]
    assert "deletionTimestamp" not in stored["metadata"]


@pytest.mark.parametrize("policy, finalizer", [("Orphan", "orphan"), ("Foreground", "foregroundDeletion")])
def test_orphan_and_foreground_add_their_finalizer(state, policy, finalizer):
    put(state, rc())
    result = delete(state, kind="ReplicationController", name="rc", propagationPolicy=policy)
    meta = result["object"]["metadata"]
    assert meta["finalizers"] == [finalizer] and meta["deletionTimestamp"] == LATER


def test_background_removes_at_once(state):
    put(state, rc())
    assert delete(state, kind="ReplicationController", name="rc", propagationPolicy="Background")["ok"]
    assert state.get("ReplicationController", "default", "rc") is None


def test_bad_options_are_refused_as_values(state):
    put(state, pod(node="n1"))
    for args in ({"gracePeriodSeconds": "x"}, {"gracePeriodSeconds": -1}, {"propagationPolicy": "Sideways"}):
        result = delete(state, **args)
        assert not result["ok"] and result["reason"] == "BadRequest"
    no_time = state.apply({"op": "delete", "kind": "Pod", "namespace": "default", "name": "web"})
    assert not no_time["ok"] and no_time["reason"] == "BadRequest"


def test_delete_options_from_body_or_query():
    parse = deletion.parse_delete_options
    assert parse({"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"}, {}) \
        == deletion.DeleteOptions(None, "Background", {})
    assert parse(None, {"gracePeriodSeconds": "0", "propagationPolicy": "Orphan"}) == deletion.DeleteOptions(0, "Orphan", {})
    assert parse({"orphanDependents": True}, {}).propagation == "Orphan"
    assert parse({"gracePeriodSeconds": 3}, {"gracePeriodSeconds": "9"}).grace == 3
    for body, query in (({"gracePeriodSeconds": "soon"}, {}), ({}, {"propagationPolicy": "Up"}),
                        ({"orphanDependents": True, "propagationPolicy": "Foreground"}, {}),
                        ({"preconditions": []}, {})):
        with pytest.raises(deletion.DeletionError):
            parse(body, query)
