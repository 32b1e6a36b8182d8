"""Three real master processes on loopback: replication, conflicts, failover, restart, auth."""

import json
import signal
import threading
import time
import urllib.error
import urllib.request

from conftest import TOKEN, pod
from raftkube.client.api import ApiClient

PODS = "/api/v1/namespaces/default/pods"


def test_write_through_a_follower_is_visible_on_every_member(masters):
    follower = masters.followers()[0]
    code, created = masters.request(follower, "POST", PODS, pod("web", labels={"app": "web"}))
    assert code == 201, created
    assert created["metadata"]["uid"] and created["metadata"]["resourceVersion"]
    for name in masters.procs:
        code, got = masters.request(name, "GET", f"{PODS}/web")
        assert code == 200 and got["metadata"]["uid"] == created["metadata"]["uid"]
        code, listed = masters.request(name, "GET", "/api/v1/pods?labelSelector=app%3Dweb")
        assert code == 200 and listed["kind"] == "PodList"
        assert [p["metadata"]["name"] for p in listed["items"]] == ["web"]


def test_errors_are_kubernetes_status_objects(masters):
    name = masters.followers()[0]
    code, created = masters.request(name, "POST", PODS, pod("web"))
    assert code == 201

    def scheduler_done() -> dict | None:  # it marks the pod PodScheduled=False once (no nodes here)
        obj = masters.request(name, "GET", f"{PODS}/web")[1]
        return obj if (obj.get("status") or {}).get("conditions") else None

    deadline = time.monotonic() + 10
    while not (created := scheduler_done()) and time.monotonic() < deadline:
        time.sleep(0.1)
    stale = dict(created, metadata=dict(created["metadata"], labels={"v": "1"}))
    code, updated = masters.request(name, "PUT", f"{PODS}/web", stale)
    assert code == 200 and updated["metadata"]["labels"] == {"v": "1"}
    code, status = masters.request(name, "PUT", f"{PODS}/web", dict(stale, metadata=dict(stale["metadata"], labels={"v": "2"})))
    assert code == 409 and status["kind"] == "Status" and status["reason"] == "Conflict"
    code, status = masters.request(name, "POST", PODS, pod("web"))
    assert code == 409 and status["reason"] == "AlreadyExists"
    code, status = masters.request(name, "GET", f"{PODS}/nothing")
    assert code == 404 and status["reason"] == "NotFound"
    bad = pod("bad")
    bad["spec"]["containers"][0]["imagee"] = "typo"
    code, status = masters.request(name, "POST", PODS, bad)
    assert code == 422 and status["reason"] == "Invalid" and "imagee" in status["message"]
    code, status = masters.request(name, "GET", "/api/v1/pods?labelSelector=a%20in%20(")
    assert code == 400
    code, patched = masters.request(name, "PATCH", f"{PODS}/web", {"metadata": {"labels": {"v": None, "w": "2"}}})
    assert code == 200 and patched["metadata"]["labels"] == {"w": "2"}
    code, deleted = masters.request(name, "DELETE", f"{PODS}/web")
    assert code == 200 and masters.request(name, "GET", f"{PODS}/web")[0] == 404
    code, status = masters.request(name, "GET", "/no/such/path")
    assert code == 404 and status["kind"] == "Status"
    code, status = masters.request(name, "GET", "/apis/apps/v1/namespaces/default/pods")
    assert code == 404 and status["reason"] == "NotFound"
    code, status = masters.request(name, "DELETE", "/api/v1/namespaces/default")
    assert code == 403 and status["reason"] == "Forbidden"


def raw_post(masters, name: str, data: bytes, content_type: str) -> tuple[int, dict]:
    """POST bytes as they are (`masters.request` sends JSON it encodes itself)."""
    request = urllib.request.Request(masters.url(name) + PODS, data=data, method="POST")
    request.add_header("Authorization", f"Bearer {TOKEN}")
    request.add_header("Content-Type", content_type)
    try:
        with masters.urlopen(request, timeout=20) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_malformed_requests_are_400_not_500(masters):
    name = masters.followers()[0]
    assert masters.request(name, "POST", PODS, pod("web"))[0] == 201
    code, status = masters.request(name, "DELETE", f"{PODS}/web", {"preconditions": "7"})
    assert code == 400 and "preconditions" in status["message"]
    code, status = raw_post(masters, name, b'{"kind": "\xff"}', "application/json; charset=utf-8")
    assert code == 400 and status["reason"] == "BadRequest"
    yaml_body = (b"apiVersion: v1\nkind: Pod\nmetadata: {name: dated}\n"
                 b"spec: {containers: [{name: c, image: busybox}]}\nstatus: {seen: 2026-01-01}\n")
    code, status = raw_post(masters, name, yaml_body, "application/yaml")
    assert code == 400 and "JSON cannot" in status["message"]
    nan = json.dumps({**pod("nan"), "status": {"seen": float("nan")}})  # Python writes NaN, JSON has none
    code, status = raw_post(masters, name, nan.encode(), "application/json")
    assert code == 400 and "JSON cannot" in status["message"]
    assert masters.request(name, "GET", PODS)[0] == 200
    for address in ("m9:raft", ":2380", "m9:99999"):
        code, status = masters.request(name, "POST", "/raftkube/v1/cluster/members", {"address": address})
        assert code == 400, (address, status)
    code, status = masters.request(name, "DELETE", "/raftkube/v1/cluster/members/m9")
    assert code == 400 and "HOST:RAFT_PORT" in status["message"]
    code, status = masters.request(name, "PATCH", f"{PODS}/web", {"metadata": {"uid": "someone-else"}})
    assert code == 409 and "another uid" in status["message"]
    assert masters.request(name, "GET", f"{PODS}/web")[0] == 200


def test_requests_without_the_token_get_401(masters):
    for token in (None, "wrong"):
        code, status = masters.request("m1", "GET", PODS, token=token)
        assert code == 401 and status["kind"] == "Status" and status["reason"] == "Unauthorized"


def test_a_retried_request_id_is_applied_once(masters):
    follower, other = masters.followers()
    headers = {"X-Request-Id": "retry-me"}
    code, first = masters.request(follower, "POST", PODS, pod("once"), headers=headers)
    assert code == 201
    masters.request(follower, "DELETE", f"{PODS}/once")
    code, again = masters.request(other, "POST", PODS, pod("once"), headers=headers)
    assert code == 201 and again == first  # the remembered answer, not a second create
    assert masters.request(other, "GET", f"{PODS}/once")[0] == 404


def test_watch_streams_changes_from_a_resource_version(masters):
    name = masters.followers()[0]
    code, listed = masters.request(name, "GET", PODS)
    start = listed["metadata"]["resourceVersion"]
    events = []

    def watch():
        request = urllib.request.Request(masters.url(name) + f"{PODS}?watch=1&resourceVersion={start}&timeoutSeconds=5")
        request.add_header("Authorization", f"Bearer {TOKEN}")
        with masters.urlopen(request, timeout=10) as response:
            for line in response:
                events.append(json.loads(line))
                if events[-1]["type"] == "DELETED":
                    return

    watcher = threading.Thread(target=watch)
    watcher.start()
    time.sleep(0.3)
    masters.request(name, "POST", PODS, pod("a"))
    masters.request(name, "PATCH", f"{PODS}/a", {"metadata": {"labels": {"x": "1"}}})
    masters.request(name, "DELETE", f"{PODS}/a")
    watcher.join(15)
    # The scheduler may add a MODIFIED of its own (PodScheduled=False: no nodes here).
    seen = [(e["type"], e["object"]["metadata"]["name"]) for e in events]
    assert seen[0] == ("ADDED", "a") and seen[-1] == ("DELETED", "a")
    assert set(seen[1:-1]) == {("MODIFIED", "a")}
    assert any(e["object"]["metadata"].get("labels") == {"x": "1"} for e in events[1:-1])


def test_killing_the_leader_loses_no_acknowledged_write(masters):
    endpoints = [masters.url(name) for name in masters.procs]
    acked: list[tuple[str, float, float]] = []  # name, sent, acknowledged
    killed_at: list[float] = []

    def writer(worker: int, stop: threading.Event):
        with ApiClient(endpoints, TOKEN, request_timeout=5, deadline=20, ssl_context=masters.tls) as client:
            i = 0
            while not stop.is_set():
                name = f"w{worker}-{i}"
                sent = time.monotonic()
                client.create(PODS, pod(name))
                acked.append((name, sent, time.monotonic()))
                i += 1

    stop = threading.Event()
    writers = [threading.Thread(target=writer, args=(n, stop)) for n in range(3)]
    for thread in writers:
        thread.start()
    time.sleep(1.0)
    leader = masters.leader()
    masters.kill(leader)
    killed_at.append(time.monotonic())
    time.sleep(4.0)
    stop.set()
    for thread in writers:
        thread.join(30)
    # Conservative: a write first sent after the kill, so it cannot have committed before.
    sent_after = [done for _, sent, done in acked if sent > killed_at[0]]
    assert sent_after, "no write was accepted after the leader died"
    resumed = sent_after[0] - killed_at[0]
    print(f"writes resumed {resumed:.2f}s after the kill; {len(acked)} acknowledged")
    assert resumed < 3.0, f"writes resumed only after {resumed:.1f}s"
    survivor = next(iter(masters.procs))
    code, listed = masters.request(survivor, "GET", PODS)
    present = {p["metadata"]["name"] for p in listed["items"]}
    missing = [name for name, _, _ in acked if name not in present]
    assert not missing and len(acked) > 20


def settled_pods(masters, timeout: float = 30.0) -> dict:
    """The pod list once the scheduler has said of every pod that it fits nowhere (these
    masters have no nodes): the last write the loops make to them, at their own pace."""
    deadline = time.monotonic() + timeout
    while True:
        code, listed = masters.request(masters.leader(), "GET", PODS)
        assert code == 200
        if all(any(c.get("type") == "PodScheduled" and c.get("status") == "False"
                   for c in (p.get("status") or {}).get("conditions") or ()) for p in listed["items"]):
            return listed
        assert time.monotonic() < deadline, "the scheduler never reported every pod unschedulable"
        time.sleep(0.2)


def test_stopping_and_starting_every_master_keeps_everything(masters):
    leader = masters.leader()
    for i in range(30):
        assert masters.request(leader, "POST", PODS, pod(f"keep-{i}"))[0] == 201
    # A client watching the leader does not hold up its stop.
    watch = urllib.request.Request(masters.url(leader) + f"{PODS}?watch=1&resourceVersion=1")
    watch.add_header("Authorization", f"Bearer {TOKEN}")
    watching = masters.urlopen(watch, timeout=30)
    started = time.monotonic()
    assert masters.kill(leader, signal.SIGTERM) == 0  # a clean stop hands leadership over
    assert time.monotonic() - started < 10
    watching.close()
    assert masters.request(masters.leader(5), "POST", PODS, pod("while-one-is-down"))[0] == 201
    before = settled_pods(masters)
    for name in list(masters.procs):
        masters.kill(name, signal.SIGKILL)
    for name in ["m1", "m2", "m3"]:
        masters.start(name)
    leader = masters.leader()
    for name in masters.procs:
        code, after = masters.request(name, "GET", PODS)
        assert code == 200 and after["items"] == before["items"]
    assert masters.request(leader, "POST", PODS, pod("after-restart"))[0] == 201


def test_a_master_can_join_and_leave(masters, tmp_path):
    bigger = masters.write_inventory(tmp_path / "four.ini", ["m1", "m2", "m3", "m4"])
    leader = masters.leader()
    code, answer = masters.request(leader, "POST", "/raftkube/v1/cluster/members",
                                   {"address": masters.raft_address("m4")})
    assert code == 201, answer
    masters.start("m4", bigger)
    assert masters.request(leader, "POST", PODS, pod("seen-by-m4"))[0] == 201
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        status = masters.status("m4")
        if status and status["ready"]:
            break
        time.sleep(0.2)
    code, got = masters.request("m4", "GET", f"{PODS}/seen-by-m4")
    assert code == 200
    assert masters.raft_address("m4") in [m["address"] for m in masters.status(leader)["members"]]
    code, answer = masters.request(leader, "DELETE", f"/raftkube/v1/cluster/members/{masters.raft_address('m4')}")
    assert code == 200, answer
    masters.kill("m4")
    assert masters.raft_address("m4") not in [m["address"] for m in masters.status(masters.leader())["members"]]
    assert masters.request(masters.leader(), "POST", PODS, pod("after-leave"))[0] == 201


def test_generate_name_and_immutable_fields(masters):
    name = masters.followers()[0]
    generated = pod("")
    del generated["metadata"]["name"]
    generated["metadata"]["generateName"] = "gen-"
    code, created = masters.request(name, "POST", PODS, generated)
    assert code == 201 and created["metadata"]["name"].startswith("gen-")
    assert len(created["metadata"]["name"]) == len("gen-") + 5
    path = f"{PODS}/{created['metadata']['name']}"
    renamed = dict(created, spec={"containers": [{"name": "other", "image": "busybox"}]})
    code, status = masters.request(name, "PUT", path, renamed)
    assert code == 422 and status["reason"] == "Invalid"
    assert created["metadata"]["generation"] == 1
    # A Node with no host behind it (unmanaged): a pod bound to a missing Node is deleted.
    node = {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": "node1", "annotations": {"raftkube.io/unmanaged": "true"}}}
    assert masters.request(name, "POST", "/api/v1/nodes", node)[0] == 201
    code, status = masters.request(name, "PATCH", path, {"spec": {"nodeName": "node1"}})
    assert code == 200 and status["spec"]["nodeName"] == "node1"
    assert status["metadata"]["generation"] == 2
    code, status = masters.request(name, "PATCH", path, {"spec": {"nodeName": "node2"}})
    assert code == 422 and "nodeName" in status["message"]


def test_client_watch_starts_with_what_exists(masters):
    masters.request("m1", "POST", PODS, pod("existing", labels={"app": "w"}))

    with ApiClient([masters.url(name) for name in masters.procs], TOKEN, ssl_context=masters.tls) as client:
        events = []
        stream = client.watch(PODS, {"labelSelector": "app=w", "timeoutSeconds": "5"})
        for event in stream:
            events.append((event["type"], event["object"]["metadata"]["name"]))
            if len(events) == 1:
                client.create(PODS, pod("skipped"))  # no label: filtered out
                client.create(PODS, pod("new", labels={"app": "w"}))
            if len(events) == 2:
                break
        stream.close()

    assert events == [("ADDED", "existing"), ("ADDED", "new")]
