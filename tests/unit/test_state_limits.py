"""The state machine's own limits (issue 11): deadlines against the leader's clock,
the change log and request memory bounded in bytes, Events expiring."""

import calendar
import time

import pytest

from raftkube.state import commands
from raftkube.state.commands import ClusterState

NOW = "2026-01-01T00:00:00Z"
T0 = calendar.timegm(time.strptime(NOW, "%Y-%m-%dT%H:%M:%SZ"))


def pod(name, **spec):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
            "spec": {"containers": [{"name": "c", "image": "busybox", **spec}]}}


def event(name, when):
    return {"apiVersion": "v1", "kind": "Event", "metadata": {"name": name, "namespace": "default"},
            "involvedObject": {"kind": "Pod", "name": "web", "namespace": "default"},
            "reason": "Started", "message": "started", "lastTimestamp": when}


@pytest.fixture
def state():
    s = ClusterState()
    s.apply({"op": "create", "rid": "ns", "uid": "u-ns", "now": NOW,
             "object": {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}}})
    return s


def create(state, obj, rid, deadline=None, now=NOW):
    command = {"op": "create", "rid": rid, "object": obj, "uid": f"uid-{rid}", "now": now}
    if deadline is not None:
        command["deadline"] = deadline
    return state.apply(command)


def test_a_command_past_its_deadline_at_the_leaders_clock_is_refused_and_forgotten(state):
    state.stamp_clock(T0 + 100)
    late = create(state, pod("late"), "r1", deadline=T0 + 99)
    assert late == {"ok": False, "reason": "ServiceUnavailable", "message": late["message"]}
    assert "expired" in late["message"] and state.get("Pod", "default", "late") is None
    # Not remembered: the same request id with a fresh deadline is applied.
    assert create(state, pod("late"), "r1", deadline=T0 + 106)["ok"]
    assert create(state, pod("other"), "r2", deadline=T0 + 100.5)["ok"]


def test_the_clock_only_moves_forward(state):
    state.stamp_clock(T0 + 100)
    state.stamp_clock(T0 + 50)
    assert state.clock == T0 + 100
    assert not create(state, pod("p"), "r", deadline=T0 + 60)["ok"]


def test_a_bad_deadline_is_a_bad_request(state):
    assert create(state, pod("p"), "r", deadline="soon")["reason"] == "BadRequest"


def test_change_log_is_bounded_in_bytes(state, monkeypatch):
    monkeypatch.setattr(commands, "CHANGE_LOG_BYTES", 2**20)
    for i in range(40):
        assert create(state, pod(f"p{i}", args=["x" * 100_000]), f"r{i}")["ok"]
    assert state.change_bytes <= 2**20 and 8 <= len(state.changes) <= 11
    assert state.change_bytes == sum(commands.json_size(obj) for _, _, obj in state.changes)
    assert state.changes_since(state.revision - 3) is not None
    assert state.changes_since(1) is None  # dropped: a watcher that far behind gets 410


def test_the_size_the_api_measured_stands_in_for_a_second_serialization(state):
    obj = pod("measured", args=["x" * 10_000])
    command = {"op": "create", "rid": "m", "object": obj, "uid": "u-m", "now": NOW,
               "size": commands.json_size(obj)}
    assert state.apply(command)["ok"]
    stored = state.get("Pod", "default", "measured")
    assert commands.json_size(stored) <= state.change_sizes[-1] <= commands.json_size(obj) + 200
    for bad in (True, -5, "big", 0):  # not a size: measured here instead
        assert create_sized(state, f"b{bad}", bad)["ok"]
        assert state.change_sizes[-1] == commands.json_size(state.changes[-1][2])


def create_sized(state, name, size):
    return state.apply({"op": "create", "rid": name, "object": pod(name), "uid": f"u-{name}", "now": NOW,
                        "size": size})


def test_request_memory_is_bounded_in_bytes(state, monkeypatch):
    monkeypatch.setattr(commands, "REQUEST_MEMORY_BYTES", 2**20)
    for i in range(40):
        create(state, pod(f"p{i}", args=["x" * 100_000]), f"r{i}")
    assert state.request_bytes <= 2**20 and len(state.requests) <= 11
    assert "r39" in state.requests and "r0" not in state.requests


def test_a_state_from_before_the_byte_bounds_keeps_working(state):
    old = ClusterState()
    del old.change_sizes, old.change_bytes, old.request_sizes, old.request_bytes
    old.changes.append((1, "ADDED", {"kind": "Namespace", "metadata": {"name": "default"}}))
    old.objects = state.objects
    old.revision = 1
    assert create(old, pod("p"), "r")["ok"] and old.change_bytes > 0 and len(old.change_sizes) == 2


def test_events_expire_an_hour_after_they_were_last_recorded(state):
    hour = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(T0 - 3601))
    recent = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(T0 - 60))
    assert create(state, event("old", hour), "e1", now=hour)["ok"]
    assert create(state, event("new", recent), "e2", now=hour)["ok"]
    revision = state.revision
    state.stamp_clock(T0)
    assert state.get("Event", "default", "old") is None
    assert state.get("Event", "default", "new") is not None
    assert [event_type for _, event_type, _ in state.changes_since(revision)] == ["DELETED"]
    # Swept at most once a minute of the leader's clock.
    assert create(state, event("old2", hour), "e3", now=hour)["ok"]
    state.stamp_clock(T0 + 30)
    assert state.get("Event", "default", "old2") is not None
    state.stamp_clock(T0 + 61)
    assert state.get("Event", "default", "old2") is None
