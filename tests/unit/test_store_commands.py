"""The replicated state machine, applied directly: preconditions, dedupe, cascade, robustness."""

import itertools
import pickle

import pytest

from raftkube.state.commands import ClusterState

NOW = "2026-01-01T00:00:00Z"
_ids = itertools.count()


def pod(name, namespace="default", **meta):
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, **meta},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}}


def namespace(name):
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def create(state, obj, rid=None):
    n = next(_ids)
    return state.apply({"op": "create", "rid": rid or f"r{n}", "object": obj, "uid": f"uid-{n}", "now": NOW})


def update(state, obj, rid=None):
    return state.apply({"op": "update", "rid": rid or f"r{next(_ids)}", "object": obj, "now": NOW})


def delete(state, kind, ns, name, rid=None, **pre):
    return state.apply({"op": "delete", "rid": rid or f"r{next(_ids)}", "kind": kind,
                        "namespace": ns, "name": name, **pre})


@pytest.fixture
def state():
    s = ClusterState()
    assert create(s, namespace("default"))["ok"]
    return s


def test_create_stamps_uid_time_and_version(state):
    result = create(state, pod("web"))
    assert result["ok"]
    meta = result["object"]["metadata"]
    assert meta["uid"].startswith("uid-") and meta["creationTimestamp"] == NOW
    assert meta["resourceVersion"] == str(state.revision)
    assert state.get("Pod", "default", "web") is result["object"]


def test_names_are_unique_per_kind_and_namespace(state):
    assert create(state, pod("web"))["ok"]
    again = create(state, pod("web"))
    assert not again["ok"] and again["reason"] == "AlreadyExists"
    assert create(state, namespace("other"))["ok"]
    assert create(state, pod("web", "other"))["ok"]


def test_create_in_missing_namespace_is_not_found(state):
    result = create(state, pod("web", "nowhere"))
    assert result["reason"] == "NotFound" and "nowhere" in result["message"]


def test_objects_are_filed_by_their_kinds_scope(state):
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1", "namespace": "default"}}
    for obj in (node, pod("web", ""), {**pod("web"), "kind": "Gizmo"}):
        result = create(state, obj)
        assert result["reason"] == "BadRequest", result
    assert state.objects.keys() == {"Namespace"}


def test_update_is_compare_and_swap(state):
    created = create(state, pod("web"))["object"]
    stale_version = created["metadata"]["resourceVersion"]
    first = update(state, {**created, "metadata": {**created["metadata"], "labels": {"a": "1"}}})
    assert first["ok"]
    assert int(first["object"]["metadata"]["resourceVersion"]) > int(stale_version)
    assert first["object"]["metadata"]["uid"] == created["metadata"]["uid"]
    stale = update(state, {**created, "metadata": {**created["metadata"], "labels": {"a": "2"}}})
    assert not stale["ok"] and stale["reason"] == "Conflict"
    assert state.get("Pod", "default", "web")["metadata"]["labels"] == {"a": "1"}


def test_update_without_version_is_unconditional_and_unchanged_keeps_version(state):
    created = create(state, pod("web"))["object"]
    meta = {k: v for k, v in created["metadata"].items() if k != "resourceVersion"}
    same = update(state, {**created, "metadata": meta})
    assert same["ok"] and same["object"]["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    changed = update(state, {**created, "metadata": {**meta, "labels": {"x": "y"}}})
    assert changed["ok"] and changed["object"]["metadata"]["labels"] == {"x": "y"}


def test_generation_counts_spec_changes_only(state):
    created = create(state, pod("web", generation=7))["object"]
    assert created["metadata"]["generation"] == 1  # the client's value is not kept
    relabelled = update(state, {**created, "metadata": {**created["metadata"], "labels": {"a": "1"}}})["object"]
    assert relabelled["metadata"]["generation"] == 1
    status = update(state, {**relabelled, "status": {"phase": "Running"}})["object"]
    assert status["metadata"]["generation"] == 1
    spec = {"containers": [{"name": "c", "image": "busybox:2"}]}
    respecced = update(state, {**status, "spec": spec})["object"]
    assert respecced["metadata"]["generation"] == 2
    same = update(state, {**respecced, "metadata": {**respecced["metadata"], "generation": 9}})["object"]
    assert same["metadata"]["generation"] == 2 and same is respecced


def test_update_missing_object_is_not_found(state):
    assert update(state, pod("ghost"))["reason"] == "NotFound"


def test_repeated_request_id_is_applied_once(state):
    first = create(state, pod("web"), rid="same")
    revision = state.revision
    again = create(state, pod("web"), rid="same")
    assert again == first and state.revision == revision
    # A retried delete does not turn into NotFound either.
    gone = delete(state, "Pod", "default", "web", rid="del")
    assert delete(state, "Pod", "default", "web", rid="del") == gone and gone["ok"]


def test_delete_with_preconditions(state):
    created = create(state, pod("web"))["object"]
    assert delete(state, "Pod", "default", "web", resourceVersion="999")["reason"] == "Conflict"
    assert delete(state, "Pod", "default", "web", uid="other")["reason"] == "Conflict"
    deleted = delete(state, "Pod", "default", "web", resourceVersion=created["metadata"]["resourceVersion"])
    assert deleted["ok"] and state.get("Pod", "default", "web") is None
    assert delete(state, "Pod", "default", "web")["reason"] == "NotFound"


def test_namespace_delete_cascades(state):
    create(state, namespace("team"))
    create(state, pod("a", "team"))
    create(state, pod("b", "team"))
    create(state, pod("c"))
    revision = state.revision
    assert delete(state, "Namespace", "", "team")["ok"]
    assert state.list("Pod", "team") == [] and state.get("Namespace", "", "team") is None
    assert [p["metadata"]["name"] for p in state.list("Pod")] == ["c"]
    events = state.changes_since(revision)
    assert [(e[1], e[2]["metadata"]["name"]) for e in events] == [
        ("DELETED", "a"), ("DELETED", "b"), ("DELETED", "team")]


def test_list_sorted_and_filtered_by_namespace(state):
    create(state, namespace("b-ns"))
    for ns, name in [("default", "z"), ("b-ns", "a"), ("default", "a")]:
        create(state, pod(name, ns))
    assert [(p["metadata"]["namespace"], p["metadata"]["name"]) for p in state.list("Pod")] == [
        ("b-ns", "a"), ("default", "a"), ("default", "z")]
    assert len(state.list("Pod", "default")) == 2


def test_change_log_and_gone(state, monkeypatch):
    start = state.revision
    create(state, pod("a"))
    create(state, pod("b"))
    events = state.changes_since(start)
    assert [(e[0], e[1]) for e in events] == [(start + 1, "ADDED"), (start + 2, "ADDED")]
    assert state.changes_since(state.revision) == []
    small = ClusterState()
    small.changes = type(small.changes)(maxlen=2)
    create(small, namespace("default"))
    for name in "abc":
        create(small, pod(name))
    assert small.changes_since(0) is None  # dropped events: the watcher must relist
    assert len(small.changes_since(small.revision - 2)) == 2


def test_lease_is_refused_in_an_older_term(state):
    assert state.apply({"op": "lease", "holder": "m1", "term": 3, "now": 10.0})["ok"]
    refused = state.apply({"op": "lease", "holder": "m2", "term": 2, "now": 11.0})
    assert refused["reason"] == "Conflict" and state.lease["holder"] == "m1"


def test_request_memory_is_bounded(state, monkeypatch):
    monkeypatch.setattr("raftkube.state.commands.REQUEST_MEMORY", 5)
    for i in range(20):
        create(state, pod(f"p{i}"))
    assert len(state.requests) == 5


def test_state_survives_pickle(state):
    create(state, pod("web"), rid="x")
    copy = pickle.loads(pickle.dumps(state))
    assert copy.get("Pod", "default", "web") == state.get("Pod", "default", "web")
    assert copy.apply({"op": "create", "rid": "x"}) == state.requests["x"]


GARBAGE = [None, 1, "x", [], {}, {"a": 1}, ["x"], {"metadata": None}, {"metadata": {"name": 5}},
           {"kind": "Pod", "metadata": {"name": ""}}, {"kind": "Pod", "metadata": {"name": "a", "namespace": 3}},
           {"kind": "Pod", "metadata": {"name": "a", "resourceVersion": "abc"}},
           {"kind": "Pod", "metadata": {"name": "a", "resourceVersion": object()}}, float("nan")]
FIELDS = ["op", "rid", "object", "uid", "now", "kind", "namespace", "name", "resourceVersion",
          "holder", "term"]


@pytest.mark.parametrize("op", ["create", "update", "delete", "lease", "nope", None, 7])
def test_no_exception_escapes_on_malformed_commands(state, op):
    create(state, pod("web"))
    before = pickle.dumps(state.objects)
    for field, value in itertools.product(FIELDS, GARBAGE):
        command = {"op": op, "rid": None, "object": pod("web"), "uid": "u", "now": NOW,
                   "kind": "Pod", "namespace": "default", "name": "web", "holder": "h", "term": 1}
        command[field] = value
        if command["op"] == "delete" or command["op"] == "create" or command["op"] == "update":
            command["object"] = command["object"] if field == "object" else pod("new")
        result = state.apply(command)
        # Refused by the checks, not by `apply`'s last-resort InternalError net.
        assert isinstance(result, dict) and result.get("reason") != "InternalError", (field, value, result)
    for command in GARBAGE:
        result = state.apply(command)
        assert result["ok"] is False and result["reason"] == "BadRequest"
    for batch in GARBAGE:
        results = state.apply_batch(batch)
        assert isinstance(results, list) and all(r.get("reason") != "InternalError" for r in results)
    if op not in ("create", "update", "delete"):
        assert pickle.dumps(state.objects) == before
    assert pickle.loads(pickle.dumps(state)).objects == state.objects  # a snapshot still works


def test_a_bug_in_a_command_is_an_error_value(state, monkeypatch):
    def broken(self, command):
        raise KeyError("bug")

    monkeypatch.setitem(ClusterState._OPS, "create", broken)
    result = create(state, pod("web"))
    assert result == {"ok": False, "reason": "InternalError", "message": "command failed: KeyError"}
