"""Pods on a lab node's Docker engine, driven through the helper over SSH."""

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from raftkube.remote import ssh
from raftkube.remote.connection import HelperError, HostConnection
from raftkube.remote.inventory import load_inventory

pytestmark = pytest.mark.lab

TERM = 1000


@pytest.fixture(scope="module")
def lab(make_lab):
    return make_lab(nodes=1, masters=0, setup=False, prefix="rt")


@pytest.fixture(scope="module")
def conn(lab):
    inv = load_inventory(lab.inventory_path)
    host = inv.host("node1")
    ssh.connect(host, inv.known_hosts_path, accept_new=True).close()
    with HostConnection(host, inv.known_hosts_path) as c:
        yield c


def call(conn, op, **args):
    return conn.call(op, args, term=TERM, timeout=60)


def pod(name, containers, volumes=(), restart_policy="Always"):
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "uid": str(uuid.uuid4())},
        "spec": {"containers": containers, "volumes": list(volumes), "restartPolicy": restart_policy},
    }


def sleeper(name, **extra):
    # IfNotPresent: the lab has no registry; the node has the busybox image already.
    return {"name": name, "image": "busybox", "imagePullPolicy": "IfNotPresent", "command": ["sleep", "3600"], **extra}


def on_node(lab, *argv):
    return lab.exec("node1", list(argv), capture_output=True, text=True)


def observed(conn, uid):
    return [p for p in call(conn, "list_pods") if p["uid"] == uid]


def wait_state(conn, uid, container, state, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for p in observed(conn, uid):
            for c in p["containers"]:
                if c["name"] == container and c["state"] == state:
                    return c
        time.sleep(0.2)
    raise AssertionError(f"{container} never became {state}: {observed(conn, uid)}")


def test_ensure_pod_twice_makes_one_pod(conn, lab):
    p = pod("web", [sleeper("app")])
    uid = p["metadata"]["uid"]
    first = call(conn, "ensure_pod", pod=p)
    assert first["created"] == ["POD", "app"]
    second = call(conn, "ensure_pod", pod=p)
    assert second["created"] == [] and sorted(second["kept"]) == ["POD", "app"]
    [seen] = observed(conn, uid)
    assert (seen["namespace"], seen["name"]) == ("default", "web")
    assert seen["pause"]["state"] == "running"
    assert [(c["name"], c["state"], c["image"]) for c in seen["containers"]] == [("app", "running", "busybox")]
    containers = on_node(lab, "docker", "ps", "-aq", "--filter", f"label=io.raftkube.pod.uid={uid}").stdout.split()
    assert len(containers) == 2
    call(conn, "remove_pod", uid=uid)


def test_two_containers_share_the_network_namespace_and_an_empty_dir(conn, lab):
    mount = [{"name": "shared", "mountPath": "/shared"}]
    p = pod("pair", [sleeper("a", volumeMounts=mount), sleeper("b", volumeMounts=mount)], [{"name": "shared", "emptyDir": {}}])
    uid = p["metadata"]["uid"]
    call(conn, "ensure_pod", pod=p)
    netns = {c: call(conn, "exec", uid=uid, container=c, argv=["readlink", "/proc/self/ns/net"]) for c in "ab"}
    assert netns["a"]["exit_code"] == 0 and netns["a"]["output"] == netns["b"]["output"]
    [seen] = observed(conn, uid)
    pause_netns = on_node(lab, "readlink", f"/proc/{seen['pause']['pid']}/ns/net").stdout
    assert pause_netns == netns["a"]["output"]
    assert call(conn, "exec", uid=uid, container="a", argv=["sh", "-c", "echo from-a > /shared/note"])["exit_code"] == 0
    assert call(conn, "exec", uid=uid, container="b", argv=["cat", "/shared/note"]) == {"exit_code": 0, "output": "from-a\n"}
    on_host = on_node(lab, "cat", f"/var/lib/raftkube/pods/{uid}/volumes/shared/note")
    assert on_host.stdout == "from-a\n"
    call(conn, "remove_pod", uid=uid)


def test_remove_pod_leaves_no_container_or_directory(conn, lab):
    p = pod("gone", [sleeper("app", volumeMounts=[{"name": "data", "mountPath": "/data"}])], [{"name": "data", "emptyDir": {}}])
    uid = p["metadata"]["uid"]
    call(conn, "ensure_pod", pod=p)
    assert on_node(lab, "test", "-d", f"/var/lib/raftkube/pods/{uid}/volumes/data").returncode == 0
    assert call(conn, "remove_pod", uid=uid)["removed"] == 2
    assert call(conn, "remove_pod", uid=uid)["removed"] == 0
    assert observed(conn, uid) == []
    assert on_node(lab, "docker", "ps", "-aq", "--filter", f"label=io.raftkube.pod.uid={uid}").stdout.split() == []
    assert on_node(lab, "test", "-e", f"/var/lib/raftkube/pods/{uid}").returncode == 1


def test_container_settings_reach_docker(conn, lab):
    app = sleeper(
        "app",
        command=["sh", "-c"],
        args=["echo hello from $GREETING; exec sleep 3600"],
        env=[{"name": "GREETING", "value": "raftkube"}],
        workingDir="/tmp",
        resources={"limits": {"cpu": "500m", "memory": "64Mi"}, "requests": {"cpu": "250m", "memory": "32Mi"}},
        volumeMounts=[{"name": "host", "mountPath": "/host", "readOnly": True}],
    )
    host_dir = f"/var/lib/raftkube/hostpath-{uuid.uuid4().hex[:8]}"
    p = pod("settings", [app], [{"name": "host", "hostPath": {"path": host_dir, "type": "DirectoryOrCreate"}}])
    uid = p["metadata"]["uid"]
    call(conn, "ensure_pod", pod=p)
    assert call(conn, "exec", uid=uid, container="app", argv=["pwd"])["output"] == "/tmp\n"
    assert call(conn, "exec", uid=uid, container="app", argv=["touch", "/host/x"])["exit_code"] != 0  # read-only
    deadline = time.monotonic() + 10
    while "hello" not in call(conn, "logs", uid=uid, container="app") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert call(conn, "logs", uid=uid, container="app", tail=5) == "hello from raftkube\n"
    inspect = on_node(lab, "docker", "inspect", "-f", "{{.HostConfig.NanoCpus}} {{.HostConfig.Memory}} {{.HostConfig.CpuShares}} {{.HostConfig.MemoryReservation}}", f"rk_app_settings_default_{uid}")
    assert inspect.stdout.split() == [str(500 * 10**6), str(64 * 2**20), "256", str(32 * 2**20)]
    call(conn, "remove_pod", uid=uid)
    on_node(lab, "rmdir", host_dir)


def test_exited_container_is_reported_and_restarted_with_a_count(conn):
    crasher = {"name": "crash", "image": "busybox", "imagePullPolicy": "IfNotPresent", "command": ["sh", "-c", "exit 3"]}
    p = pod("crashy", [crasher], restart_policy="OnFailure")
    uid = p["metadata"]["uid"]
    call(conn, "ensure_pod", pod=p)
    exited = wait_state(conn, uid, "crash", "exited")
    assert exited["exit_code"] == 3 and exited["restart_count"] == 0
    # Docker may stamp FinishedAt a hair before StartedAt for an instant exit: both are set.
    assert exited["started_at"] > 0 and abs(exited["finished_at"] - exited["started_at"]) < 5
    # ensure_pod does not restart it: restarts are the leader's call, with back-off.
    assert call(conn, "ensure_pod", pod=p)["created"] == []
    assert call(conn, "restart_container", uid=uid, container="crash", restart_count=0)["restart_count"] == 1
    again = wait_state(conn, uid, "crash", "exited")
    assert again["restart_count"] == 1 and again["started_at"] >= exited["started_at"]
    # A late or retried call, made on the count seen before that restart, does nothing.
    assert call(conn, "restart_container", uid=uid, container="crash", restart_count=0)["restart_count"] == 1
    assert wait_state(conn, uid, "crash", "exited")["started_at"] == again["started_at"]
    call(conn, "remove_pod", uid=uid)


def test_a_changed_container_is_replaced_and_the_rest_kept(conn):
    p = pod("change", [sleeper("a"), sleeper("b")])
    uid = p["metadata"]["uid"]
    call(conn, "ensure_pod", pod=p)
    p["spec"]["containers"][1]["env"] = [{"name": "X", "value": "1"}]
    result = call(conn, "ensure_pod", pod=p)
    assert result["created"] == ["b"] and sorted(result["kept"]) == ["POD", "a"]
    call(conn, "remove_pod", uid=uid)


def test_bad_pods_and_unknown_containers_are_clear_errors(conn):
    with pytest.raises(HelperError, match="uid '../etc' is not a valid uid"):
        call(conn, "ensure_pod", pod={"metadata": {"name": "x", "uid": "../etc"}, "spec": {"containers": [sleeper("a")]}})
    with pytest.raises(HelperError, match="only emptyDir and hostPath volumes are supported"):
        call(conn, "ensure_pod", pod=pod("v", [sleeper("a")], [{"name": "cfg", "configMap": {"name": "c"}}]))
    with pytest.raises(HelperError, match="image nosuch:1 is not present on this host") as exc:
        bad = {"name": "a", "image": "nosuch:1", "imagePullPolicy": "Never"}
        call(conn, "ensure_pod", pod=pod("img", [bad]))
    call(conn, "remove_pod", uid=str(uuid.uuid4()))
    with pytest.raises(HelperError, match="has no container 'nope'") as exc:
        call(conn, "logs", uid=str(uuid.uuid4()), container="nope")
    assert exc.value.kind == "not_found"


def test_concurrent_ensures_of_one_pod_create_it_once(conn):
    p = pod("racy", [sleeper("app")])
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: call(conn, "ensure_pod", pod=p), range(4)))
    assert sorted(name for r in results for name in r["created"]) == ["POD", "app"]
    assert len(observed(conn, p["metadata"]["uid"])) == 1
    call(conn, "remove_pod", uid=p["metadata"]["uid"])
