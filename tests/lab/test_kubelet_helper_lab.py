"""The helper's kubelet side on a lab node, driven directly over SSH: probes, report, stop_pod."""

import time
import uuid

import pytest

from raftkube.remote import ssh
from raftkube.remote.connection import HostConnection
from raftkube.remote.inventory import load_inventory

pytestmark = pytest.mark.lab

TERM = 1000


@pytest.fixture(scope="module")
def lab(make_lab):
    return make_lab(nodes=1, masters=0, setup=False, prefix="kh")


@pytest.fixture(scope="module")
def conn(lab):
    inv = load_inventory(lab.inventory_path)
    host = inv.host("node1")
    ssh.connect(host, inv.known_hosts_path, accept_new=True).close()
    with HostConnection(host, inv.known_hosts_path) as c:
        yield c


def call(conn, op, **args):
    return conn.call(op, args, term=TERM, timeout=60)


def make_pod(name, containers, grace=30, policy="Always"):
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "uid": str(uuid.uuid4())},
        "spec": {"containers": containers, "restartPolicy": policy, "terminationGracePeriodSeconds": grace},
    }


def container(name, *command, **extra):
    return {"name": name, "image": "busybox", "imagePullPolicy": "IfNotPresent", "command": list(command), **extra}


def fast(handler, **timing):
    return {**handler, "periodSeconds": 1, "failureThreshold": 1, **timing}


def entry(conn, uid):
    return next((p for p in call(conn, "report")["pods"] if p["uid"] == uid), None)


def containers_of(conn, uid):
    pod = entry(conn, uid)
    return {c["name"]: c for c in pod["containers"]} if pod else {}


def wait_for(what, check, timeout=30.0):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout}s (last: {last!r})")


def probe_failed(conn, uid, name, kind):
    probe = (containers_of(conn, uid).get(name, {}).get("probes") or {}).get(kind)
    return probe if probe and probe["failures"] else None


def ready_of(conn, uid, name):
    return containers_of(conn, uid).get(name, {}).get("ready")


@pytest.fixture
def run(conn):
    """ensure_pod, and remove the pod after the test whatever happened."""
    made = []

    def start(pod):
        made.append(pod["metadata"]["uid"])
        call(conn, "ensure_pod", pod=pod)
        return pod["metadata"]["uid"]

    yield start
    for uid in made:
        call(conn, "remove_pod", uid=uid)


def test_exec_readiness_follows_the_command(conn, run):
    probe = fast({"exec": {"command": ["cat", "/tmp/ready"]}})
    uid = run(make_pod("exec-ready", [container("app", "sleep", "3600", readinessProbe=probe)]))
    seen = wait_for("a failed probe", lambda: probe_failed(conn, uid, "app", "readiness"))
    assert seen["result"] is False and "exited with 1" in seen["message"]
    assert ready_of(conn, uid, "app") is False and entry(conn, uid)["ensured"] is True
    call(conn, "exec", uid=uid, container="app", argv=["touch", "/tmp/ready"])
    wait_for("ready after touch", lambda: ready_of(conn, uid, "app") is True)
    call(conn, "exec", uid=uid, container="app", argv=["rm", "/tmp/ready"])
    wait_for("not ready after rm", lambda: ready_of(conn, uid, "app") is False)
    assert containers_of(conn, uid)["app"]["state"] == "running"  # readiness never restarts


def test_exec_probe_that_outlives_its_timeout_fails(conn, run):
    probe = fast({"exec": {"command": ["sleep", "30"]}}, timeoutSeconds=1)
    uid = run(make_pod("exec-slow", [container("app", "sleep", "3600", readinessProbe=probe)]))
    seen = wait_for("a timed out probe", lambda: probe_failed(conn, uid, "app", "readiness"))
    assert "timed out after 1s" in seen["message"]
    assert ready_of(conn, uid, "app") is False


def test_http_and_tcp_probes_reach_the_pod_without_an_ip(conn, run):
    web = container(
        "web", "httpd", "-f", "-p", "8080", "-h", "/tmp",
        ports=[{"name": "http", "containerPort": 8080}],
        readinessProbe=fast({"httpGet": {"path": "/ok", "port": "http", "httpHeaders": [{"name": "X-A", "value": "b"}]}}),
        livenessProbe=fast({"tcpSocket": {"port": 8080}}),
    )  # fmt: skip
    closed = container("closed", "sleep", "3600", readinessProbe=fast({"tcpSocket": {"port": 9999}}))
    uid = run(make_pod("net-probes", [web, closed]))
    seen = wait_for("http 404", lambda: probe_failed(conn, uid, "web", "readiness"))
    assert "statuscode: 404" in seen["message"]
    call(conn, "exec", uid=uid, container="web", argv=["touch", "/tmp/ok"])
    wait_for("http 200 makes it ready", lambda: ready_of(conn, uid, "web") is True)
    observed = containers_of(conn, uid)
    assert observed["web"]["probes"]["liveness"]["result"] is True  # tcp 8080 in the pod's namespace
    assert observed["closed"]["ready"] is False
    assert "connection refused" in observed["closed"]["probes"]["readiness"]["message"]
    assert observed["web"]["restart_count"] == 0


def test_liveness_failure_kills_and_reports_why(conn, run):
    probe = fast({"exec": {"command": ["cat", "/tmp/alive"]}}, failureThreshold=2)
    uid = run(make_pod("liveness", [container("app", "sleep", "3600", livenessProbe=probe)], grace=1))
    since = call(conn, "report")["seq"]
    app = wait_for("killed", lambda: (c := containers_of(conn, uid).get("app")) and c["state"] == "exited" and c)
    assert app["exit_code"] != 0
    events = call(conn, "report", events_since=since)["events"]
    mine = [(e["reason"], e["message"]) for e in events if e["uid"] == uid]
    assert ("Unhealthy", "Liveness probe failed: command ['cat', '/tmp/alive'] exited with 1: "
            "cat: can't open '/tmp/alive': No such file or directory") in mine
    assert ("Killing", "Container app failed liveness probe, will be restarted") in mine
    assert all(e["container"] == "app" and e["namespace"] == "default" and e["name"] == "liveness" for e in events if e["uid"] == uid)
    restarted = call(conn, "restart_container", uid=uid, container="app")
    assert restarted["restart_count"] == 1
    app = containers_of(conn, uid)["app"]
    assert app["state"] == "running" and app["restart_count"] == 1
    assert app["last_termination"]["exit_code"] != 0
    assert app["last_termination"]["finished_at"] <= app["started_at"]
    # The new run is probed afresh, and it is just as dead.
    wait_for("killed again", lambda: containers_of(conn, uid)["app"]["state"] == "exited")


def test_startup_probe_gates_liveness(conn, run):
    startup = fast({"exec": {"command": ["cat", "/tmp/started"]}}, failureThreshold=60)
    liveness = fast({"exec": {"command": ["false"]}})
    uid = run(make_pod("startup", [container("app", "sleep", "3600", startupProbe=startup, livenessProbe=liveness)], grace=1))
    wait_for("startup probed", lambda: (containers_of(conn, uid).get("app", {}).get("probes") or {}).get("startup"))
    time.sleep(2.5)  # liveness would have killed it twice over by now, were it not gated
    app = containers_of(conn, uid)["app"]
    assert app["state"] == "running" and app["started"] is False and "liveness" in app["probes"]
    assert app["probes"]["liveness"]["failures"] == 0
    call(conn, "exec", uid=uid, container="app", argv=["touch", "/tmp/started"])
    wait_for("started, then killed by liveness", lambda: containers_of(conn, uid)["app"]["state"] == "exited")


def test_stop_pod_waits_the_grace_for_a_container_ignoring_sigterm(conn, run):
    grace = 2.0
    polite = container("polite", "sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done")
    stubborn = container("stubborn", "sleep", "3600")  # PID 1 without a handler: SIGTERM is ignored
    uid = run(make_pod("stopping", [polite, stubborn]))
    wait_for("running", lambda: all(c["state"] == "running" for c in containers_of(conn, uid).values()) and len(containers_of(conn, uid)) == 2)
    began = time.monotonic()
    result = call(conn, "stop_pod", uid=uid, grace_seconds=grace)
    took = time.monotonic() - began
    assert result == {"uid": uid, "stopped": ["polite"], "killed": ["stubborn"]}
    assert took >= grace
    observed = entry(conn, uid)
    assert observed["pause"]["state"] == "exited" and observed["ensured"] is False
    assert {c["name"]: c["exit_code"] for c in observed["containers"]} == {"polite": 0, "stubborn": 137}
    assert call(conn, "stop_pod", uid=uid, grace_seconds=grace) == {"uid": uid, "stopped": [], "killed": []}
    call(conn, "remove_pod", uid=uid)
    assert entry(conn, uid) is None
    assert call(conn, "stop_pod", uid=uid, grace_seconds=grace) == {"uid": uid, "stopped": [], "killed": []}


def test_stop_pod_of_a_polite_pod_does_not_wait_the_grace(conn, run):
    grace = 20.0
    polite = container("polite", "sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done")
    uid = run(make_pod("quick-stop", [polite]))
    wait_for("running", lambda: containers_of(conn, uid).get("polite", {}).get("state") == "running")
    began = time.monotonic()
    assert call(conn, "stop_pod", uid=uid, grace_seconds=grace)["stopped"] == ["polite"]
    assert time.monotonic() - began < grace / 2


def test_report_events_since(conn, run):
    probe = fast({"exec": {"command": ["false"]}})
    uid = run(make_pod("events", [container("app", "sleep", "3600", readinessProbe=probe)]))
    first = wait_for("an Unhealthy event", lambda: [e for e in call(conn, "report")["events"] if e["uid"] == uid])
    assert first[0]["reason"] == "Unhealthy" and first[0]["type"] == "Warning"
    assert first[0]["message"].startswith("Readiness probe failed: ")
    report = call(conn, "report", events_since=first[0]["seq"])
    assert all(e["seq"] > first[0]["seq"] for e in report["events"])
    assert report["seq"] >= first[0]["seq"] and report["time"] > 0
    later = wait_for("a later event", lambda: call(conn, "report", events_since=report["seq"])["events"])
    assert later[0]["seq"] == report["seq"] + 1
    # A seq past the newest is a leader talking to a restarted helper: it gets everything.
    assert call(conn, "report", events_since=report["seq"] + 10**6)["events"][0]["seq"] <= first[0]["seq"]
    assert [p["uid"] for p in call(conn, "list_pods")] == [p["uid"] for p in call(conn, "report")["pods"]]


def test_a_superseded_helper_stops_probing(lab, conn):
    """A deposed leader's helper (still connected) must not kill containers any more.
    Runs last in this module: it raises the host's term past TERM."""
    inv = load_inventory(lab.inventory_path)
    host = inv.host("node1")
    old_term = TERM
    liveness = fast({"exec": {"command": ["false"]}}, initialDelaySeconds=2)
    pod = make_pod("superseded", [container("app", "sleep", "3600", livenessProbe=liveness)], grace=1)
    uid = pod["metadata"]["uid"]
    call(conn, "ensure_pod", pod=pod)
    with HostConnection(host, inv.known_hosts_path) as newer:
        newer.call("ping", term=old_term + 1)  # a newer leader speaks to the host
        time.sleep(6)  # the old helper's liveness probe would have killed it by now
        [seen] = [p for p in newer.call("report", term=old_term + 1)["pods"] if p["uid"] == uid]
        assert seen["containers"][0]["state"] == "running"
        assert seen["ensured"] is False  # the newer helper was never given the pod
        # Given the pod, the newer helper probes it, and kills it.
        newer.call("ensure_pod", {"pod": pod}, term=old_term + 1)
        wait_for("killed by the newer helper's probe", lambda: next(
            p for p in newer.call("report", term=old_term + 1)["pods"] if p["uid"] == uid)["containers"][0]["state"] == "exited")
        newer.call("remove_pod", {"uid": uid}, term=old_term + 1)
