"""The leader's loops on a lab of 3 masters and 3 nodes: pods actually run, are spread,
scaled, deleted gracefully, replaced when a node dies or is cut off, and a new leader
carries on. One lab for the module; the tests that disturb hosts come last."""

from __future__ import annotations

import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from raftkube.client.discovery import find_masters
from raftkube.remote.inventory import load_inventory

pytestmark = pytest.mark.lab

NS = "/api/v1/namespaces/default"
NODES = ["node1", "node2", "node3"]


@pytest.fixture(scope="module")
def lab(make_lab):
    return make_lab(nodes=3, masters=3, prefix="lo")


@pytest.fixture(scope="module")
def api(lab):
    with find_masters(str(lab.inventory_path)).client() as client:
        wait_for(lambda: all(ready(client, node) for node in NODES), what="every node Ready")
        yield client


def ready(api, node) -> bool:
    conditions = api.get(f"/api/v1/nodes/{node}").get("status", {}).get("conditions") or ()
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def wait_for(check, timeout=60.0, what="condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except Exception as exc:  # a master restarting or an election: ask again
            last = exc
        if last and not isinstance(last, Exception):
            return last
        time.sleep(0.3)
    raise AssertionError(f"{what} not reached within {timeout}s; last: {last!r}")


def rc(name, replicas, command=("sleep", "3600"), grace=2):
    return {"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"app": name},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"terminationGracePeriodSeconds": grace,
                                           "containers": [{"name": "c", "image": "busybox", "command": list(command)}]}}}}


def pods(api, app):
    return api.get(f"{NS}/pods", {"labelSelector": f"app={app}"})["items"]


def running(pod) -> bool:
    status = pod.get("status") or {}
    ready = any(c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions") or ())
    return status.get("phase") == "Running" and ready and not pod["metadata"].get("deletionTimestamp")


def converged(api, app, replicas, nodes=None):
    """The pods of `app` when exactly `replicas` exist and all run (on `nodes` if given)."""
    items = pods(api, app)
    if len(items) != replicas or not all(running(p) for p in items):
        return None
    if nodes is not None and not {p["spec"]["nodeName"] for p in items} <= set(nodes):
        return None
    return items


def pod_uids_on(lab, node) -> list[str]:
    """The pod uid of every container (pause included) on a node's Docker engine."""
    docker_host = load_inventory(lab.inventory_path).host(node).docker_host
    out = subprocess.run(["docker", "-H", docker_host, "ps", "-a", "--filter", "label=io.raftkube.pod.uid",
                          "--format", '{{.Label "io.raftkube.pod.uid"}}'],
                         capture_output=True, text=True, timeout=30, check=True).stdout
    return out.split()


def single_copies(lab, api, app, replicas) -> bool:
    items = converged(api, app, replicas)
    if not items:
        return False
    everywhere = Counter(uid for node in NODES for uid in set(pod_uids_on(lab, node)))
    return set(everywhere) == {p["metadata"]["uid"] for p in items} and all(n == 1 for n in everywhere.values())


def not_ready_events(api) -> list[str]:
    return [e["message"] for e in api.get(f"{NS}/events")["items"] if e["reason"] == "NodeNotReady"]


def master_logs(lab) -> str:
    """The tail of every master's log, for a failure message."""
    tails = []
    for name in ("master1", "master2", "master3"):
        result = lab.exec(name, ["tail", "-n", "15", "/var/lib/raftkube/master/master.log"], capture_output=True, text=True)
        tails.append(f"--- {name}\n{result.stdout}")
    return "\n".join(tails)


def scale(api, name, replicas):
    api.patch(f"{NS}/replicationcontrollers/{name}", {"spec": {"replicas": replicas}})


def leader_host(lab, api) -> str:
    inventory = load_inventory(lab.inventory_path)
    leader = wait_for(lambda: api.get("/raftkube/v1/cluster").get("leader"), what="a leader")
    return next(m.name for m in inventory.masters if f"{m.address}:{m.raft_port}" == leader)


def master_ips(lab) -> set[str]:
    return {m.address for m in load_inventory(lab.inventory_path).masters}


def dns_masters(api) -> tuple[set[str], set[str]]:
    """kube-dns' endpoint IPs: (ready, not ready)."""
    [subset] = api.get("/api/v1/namespaces/kube-system/endpoints/kube-dns")["subsets"]
    return ({a["ip"] for a in subset.get("addresses") or ()},
            {a["ip"] for a in subset.get("notReadyAddresses") or ()})


def test_rc_runs_spread_scales_and_is_deleted_with_its_containers(lab, api):
    api.create(f"{NS}/replicationcontrollers", rc("web", 6))
    items = wait_for(lambda: converged(api, "web", 6), what="6 running pods")
    spread = Counter(p["spec"]["nodeName"] for p in items)
    assert spread == {"node1": 2, "node2": 2, "node3": 2}, f"{spread}; nodes not ready meanwhile: {not_ready_events(api)}"
    addresses = {h.name: h.address for h in load_inventory(lab.inventory_path).nodes}
    for pod in items:
        assert pod["status"]["hostIP"] == addresses[pod["spec"]["nodeName"]]
        assert pod["status"]["containerStatuses"][0]["ready"] is True
    status = wait_for(lambda: (s := api.get(f"{NS}/replicationcontrollers/web")["status"]).get("readyReplicas") == 6
                      and s, what="rc status")
    assert status["replicas"] == 6 and status["availableReplicas"] == 6

    scale(api, "web", 2)
    wait_for(lambda: converged(api, "web", 2), what="scaled to 2")
    scale(api, "web", 6)
    wait_for(lambda: converged(api, "web", 6), what="scaled back to 6")

    uids = {p["metadata"]["uid"] for p in pods(api, "web")}
    api.delete(f"{NS}/replicationcontrollers/web")
    wait_for(lambda: not pods(api, "web"), what="pods deleted with their rc")
    wait_for(lambda: not uids & {uid for node in NODES for uid in pod_uids_on(lab, node)}, what="containers gone")


def test_pod_that_fits_nowhere_stays_pending_with_the_reason(lab, api):
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "huge"},
           "spec": {"containers": [{"name": "c", "image": "busybox", "command": ["sleep", "60"],
                                    "resources": {"requests": {"memory": "900Gi"}}}]}}
    api.create(f"{NS}/pods", pod)
    message = "0/3 nodes are available: 3 Insufficient memory."

    def described():
        text = subprocess.run(["raftkube", "describe", "pod", "huge", "-i", str(lab.inventory_path)],
                              capture_output=True, text=True).stdout
        return text if "FailedScheduling" in text else None

    out = wait_for(described, what="FailedScheduling in describe")
    assert message in out
    assert api.get(f"{NS}/pods/huge")["status"]["phase"] == "Pending"
    api.delete(f"{NS}/pods/huge")


def helpers_on(lab, node) -> int:
    """How many helper processes run on a lab node."""
    count = 0
    for pid in lab.sandbox(node).pids():
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        count += len(argv) > 1 and argv[1].startswith(b"/var/lib/raftkube/helper/")
    return count


def test_every_master_keeps_a_helper_running_on_each_node(lab, api):
    """Standby connections: a new leader finds its helpers running (one per master per node)."""
    wait_for(lambda: all(helpers_on(lab, node) == 3 for node in NODES), what="3 helpers on every node")


def test_graceful_delete_waits_for_a_pod_that_ignores_sigterm(lab, api):
    def make(name, grace):
        api.create(f"{NS}/pods", {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                                  "spec": {"terminationGracePeriodSeconds": grace, "containers": [
                                      {"name": "c", "image": "busybox", "command": ["sh", "-c", "trap '' TERM; sleep 1000"]}]}})
        return wait_for(lambda: next((p for p in [api.get(f"{NS}/pods/{name}")] if running(p)), None),
                        what=f"{name} running")

    stubborn = make("stubborn", 2)
    started = time.monotonic()
    marked = api.delete(f"{NS}/pods/stubborn")
    assert marked["metadata"]["deletionGracePeriodSeconds"] == 2 and marked["metadata"]["deletionTimestamp"]
    wait_for(lambda: _gone(api, "stubborn"), what="stubborn removed")
    took = time.monotonic() - started
    assert took >= 2.0  # it waited out the grace: SIGTERM was ignored
    assert stubborn["metadata"]["uid"] not in pod_uids_on(lab, stubborn["spec"]["nodeName"])


def _gone(api, name) -> bool:
    try:
        api.get(f"{NS}/pods/{name}")
    except Exception as exc:
        return getattr(exc, "code", 0) == 404
    return False


def test_stopped_node_is_not_ready_its_pods_replaced_and_cleaned_after_start(lab, api):
    api.create(f"{NS}/replicationcontrollers", rc("fail", 6))
    items = wait_for(lambda: converged(api, "fail", 6), what="6 running pods")
    old = {p["metadata"]["uid"] for p in items if p["spec"]["nodeName"] == "node3"}
    assert old
    lab.stop("node3")
    try:
        wait_for(lambda: not ready(api, "node3"), timeout=30, what="node3 not ready")
        wait_for(lambda: converged(api, "fail", 6, nodes=["node1", "node2"]), what="pods replaced on node1/node2")
    finally:
        lab.start("node3")
    wait_for(lambda: not set(pod_uids_on(lab, "node3")) & old, what="node3's old containers removed")
    wait_for(lambda: ready(api, "node3"), what="node3 ready again")
    assert len(pods(api, "fail")) == 6


def test_partitioned_node_is_replaced_and_healing_leaves_no_duplicate(lab, api):
    scale(api, "fail", 6)
    items = wait_for(lambda: converged(api, "fail", 6), what="6 running pods")
    on_node2 = {p["metadata"]["uid"] for p in items if p["spec"]["nodeName"] == "node2"}
    lab.partition("node2")
    try:
        wait_for(lambda: converged(api, "fail", 6, nodes=["node1", "node3"]), what="pods replaced off node2")
    finally:
        lab.heal("node2")
    wait_for(lambda: not set(pod_uids_on(lab, "node2")) & on_node2, what="node2's stale containers removed")
    # Each pod runs on one node only, and nothing else runs (pods scaled away may still be stopping).
    wait_for(lambda: single_copies(lab, api, "fail", 6), what="one container set per pod, no other")


def test_leader_stopped_during_scale_up_new_leader_finishes_old_one_does_not_act(lab, api):
    wait_for(lambda: converged(api, "fail", 6), what="6 running pods")
    old_leader = leader_host(lab, api)
    scale(api, "fail", 12)
    lab.stop(old_leader)
    try:
        try:
            items = wait_for(lambda: converged(api, "fail", 12), timeout=120, what="12 running pods after failover")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{master_logs(lab)}") from None
        new_leader = leader_host(lab, api)
        assert new_leader != old_leader
        # Pods' DNS lookups no longer go to the stopped master.
        stopped_ip = load_inventory(lab.inventory_path).host(old_leader).address
        wait_for(lambda: dns_masters(api) == (master_ips(lab) - {stopped_ip}, {stopped_ip}),
                 what=f"{old_leader}'s DNS server out of kube-dns' endpoints")
    finally:
        lab.start(old_leader)
    wait_for(lambda: dns_masters(api) == (master_ips(lab), set()), timeout=90,
             what=f"{old_leader}'s DNS server back")  # once heard for clusterdns.HOLD (10 s)
    live = {p["metadata"]["uid"] for p in items}
    time.sleep(3)  # the old leader is back: give it time to (wrongly) act
    items = wait_for(lambda: converged(api, "fail", 12), what="still 12")
    assert {p["metadata"]["uid"] for p in items} == live
    wait_for(lambda: single_copies(lab, api, "fail", 12), what="one container set per pod, no other")
    # The old leader came back as a follower: it never started its loops again.
    log = lab.exec(old_leader, ["cat", "/var/lib/raftkube/master/master.log"], capture_output=True, text=True).stdout
    restarted = log.rfind("API on")
    assert restarted > 0
    if leader_host(lab, api) != old_leader:
        assert "starting the loops" not in log[restarted:]
