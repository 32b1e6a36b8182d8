"""Pure pieces around the API: merge patch, Status bodies, paths, the cluster status report."""

from pathlib import Path

import pytest

from raftkube.client.commands import object_path, summarize_cluster
from raftkube.client.discovery import Masters
from raftkube.errors import UserError
from raftkube.remote.inventory import load_inventory
from raftkube.state.api import merge_patch, status_body
from raftkube.state.objects import kind_info


def test_merge_patch_follows_rfc_7386():
    target = {"a": "b", "c": {"d": "e", "f": "g"}, "list": [1, 2]}
    patch = {"a": "z", "c": {"f": None, "new": 1}, "list": [3]}
    assert merge_patch(target, patch) == {"a": "z", "c": {"d": "e", "new": 1}, "list": [3]}
    assert target["c"] == {"d": "e", "f": "g"}  # the target is not modified
    assert merge_patch({"a": 1}, "scalar") == "scalar"
    assert merge_patch("scalar", {"a": {"b": None}}) == {"a": {}}


def test_status_body_carries_code_and_retry_hint():
    body = status_body("ServiceUnavailable", "no quorum", retry_after=1)
    assert body["kind"] == "Status" and body["code"] == 503 and body["details"] == {"retryAfterSeconds": 1}
    assert status_body("Conflict", "x")["code"] == 409 and "details" not in status_body("Conflict", "x")


def test_object_paths():
    assert object_path(kind_info("po"), "default", "web") == "/api/v1/namespaces/default/pods/web"
    assert object_path(kind_info("pods"), None) == "/api/v1/pods"
    assert object_path(kind_info("nodes"), "ignored", "n1") == "/api/v1/nodes/n1"


@pytest.fixture
def masters(tmp_path: Path) -> Masters:
    inventory = tmp_path / "inv.ini"
    inventory.write_text("[masters]\n" + "".join(
        f"m{n} ansible_host=127.0.0.1 raftkube_api_port={6440 + n} raftkube_raft_port={2380 + n}\n"
        for n in (1, 2, 3)))
    return Masters(load_inventory(inventory), [f"http://127.0.0.1:{6440 + n}" for n in (1, 2, 3)], "t")


def view(n: int, state: str, term: int, commit: int, applied: int, members: dict | None = None) -> dict:
    members = members or {}
    return {"self": f"127.0.0.1:{2380 + n}", "state": state, "term": term, "commitIndex": commit,
            "lastApplied": applied, "revision": 7,
            "members": [{"address": f"127.0.0.1:{2380 + m}", "connected": conn, "matchIndex": match}
                        for m, (conn, match) in members.items()]}


def test_cluster_report_from_every_masters_view(masters):
    leader = view(2, "leader", 5, 100, 100, {2: (True, 100), 1: (True, 97), 3: (False, 60)})
    report = summarize_cluster(masters, [view(1, "follower", 5, 98, 97), leader, None])
    assert report["leader"] == "m2" and report["term"] == 5 and report["commitIndex"] == 100
    by_name = {m["name"]: m for m in report["members"]}
    assert by_name["m1"]["state"] == "follower" and by_name["m1"]["lag"] == 3
    assert by_name["m2"]["lag"] == 0
    assert by_name["m3"]["state"] == "unreachable" and by_name["m3"]["lag"] == 40


def test_cluster_report_without_leader_or_answers(masters):
    report = summarize_cluster(masters, [view(1, "candidate", 6, 10, 10), None, None])
    assert report["leader"] is None and {m["name"]: m["state"] for m in report["members"]} == {
        "m1": "candidate", "m2": "unreachable", "m3": "unreachable"}
    with pytest.raises(UserError, match="no master answered"):
        summarize_cluster(masters, [None, None, None])
