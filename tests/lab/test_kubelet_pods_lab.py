"""Issue 7's pod-level acceptance through the API: restarts, back-off, phases, probes.

One lab (3 masters, 1 node) for the module; every pod is created at the start (the
crash-looping one watched from a thread), so the tests wait for their pods side by side
instead of one after another.
"""

import threading
import time

import pytest

from raftkube.client.api import ApiError
from raftkube.client.discovery import find_masters

pytestmark = pytest.mark.lab

PODS = "/api/v1/namespaces/default/pods"


def container(*command, **extra):
    return {"name": "app", "image": "busybox", "imagePullPolicy": "IfNotPresent", "command": list(command), **extra}


def fast(handler):
    return {**handler, "periodSeconds": 1, "failureThreshold": 1}


MANIFESTS = {
    "sleeper": {"containers": [container("sleep", "3600")]},
    "done-ok": {"containers": [container("sh", "-c", "exit 0")], "restartPolicy": "Never"},
    "done-bad": {"containers": [container("sh", "-c", "exit 1")], "restartPolicy": "Never"},
    "liveness": {
        "containers": [container("sh", "-c", "touch /tmp/alive; sleep 3600",
                                 livenessProbe=fast({"exec": {"command": ["cat", "/tmp/alive"]}}))],
        "terminationGracePeriodSeconds": 1,
    },
    "stubborn": {"containers": [container("sleep", "3600")], "terminationGracePeriodSeconds": 2},
    "polite": {"containers": [container("sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done")],
               "terminationGracePeriodSeconds": 30},
    "readiness": {
        "containers": [container("sh", "-c", "touch /tmp/ready; sleep 3600",
                                 readinessProbe=fast({"exec": {"command": ["cat", "/tmp/ready"]}}))],
    },
}  # fmt: skip


@pytest.fixture(scope="module")
def lab(make_lab):
    return make_lab(nodes=1, masters=3, prefix="kp")


class CrashLoopWatch(threading.Thread):
    """Watches a pod whose container exits at once from its first exit on, in the
    background while the other tests run: restartCount -> (first seen, back-off message,
    lastState)."""

    def __init__(self, masters):
        super().__init__(daemon=True)
        self.masters, self.seen, self.error = masters, {}, None

    def run(self):
        try:
            self._watch()
        except Exception as exc:  # shown by the test, which would otherwise see only {}
            self.error = exc

    def _watch(self):
        crasher = {"containers": [container("sh", "-c", "exit 3")]}
        deadline = time.monotonic() + 150
        with self.masters.client() as client:
            client.create(PODS, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "crasher"}, "spec": crasher})
            while len(self.seen) < 3 and time.monotonic() < deadline:
                app = app_status(pod(client, "crasher"))
                waiting = app.get("state", {}).get("waiting", {})
                if waiting.get("reason") == "CrashLoopBackOff" and app["restartCount"] not in self.seen:
                    assert app["restartCount"] > 0, "a first crash waits for no back-off"
                    self.seen[app["restartCount"]] = (time.monotonic(), waiting["message"], app["lastState"])
                time.sleep(0.3)


@pytest.fixture(scope="module")
def crash_loop(lab):
    watch = CrashLoopWatch(find_masters(str(lab.inventory_path)))
    watch.start()
    return watch


@pytest.fixture(scope="module")
def api(lab, crash_loop):
    with find_masters(str(lab.inventory_path)).client() as client:
        for name, spec in MANIFESTS.items():
            client.create(PODS, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec})
        yield client


def pod(api, name):
    return api.get(f"{PODS}/{name}")


def app_status(obj):
    return next(iter((obj.get("status") or {}).get("containerStatuses") or []), {})


def condition(obj, kind):
    return next((c["status"] for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == kind), None)


def wait_pod(api, name, check, what, timeout=60.0):
    deadline = time.monotonic() + timeout
    obj = None
    while time.monotonic() < deadline:
        obj = pod(api, name)
        if check(obj):
            return obj
        time.sleep(0.5)
    raise AssertionError(f"pod {name}: {what} not within {timeout}s; status: {obj.get('status') if obj else None}")


def running_and_ready(obj):
    return obj.get("status", {}).get("phase") == "Running" and condition(obj, "Ready") == "True"


def on_node(lab, *argv):
    return lab.exec("node1", list(argv), capture_output=True, text=True, check=True).stdout


def container_id(obj):
    return app_status(obj)["containerID"].removeprefix("docker://")


def events_for(api, name):
    items = api.get("/api/v1/namespaces/default/events")["items"]
    return [e for e in items if e.get("involvedObject", {}).get("name") == name]


def test_container_killed_on_its_host_is_restarted(api, lab):
    first = wait_pod(api, "sleeper", running_and_ready, "Running and Ready")
    status = first["status"]
    assert status["hostIP"] and status["startTime"] and app_status(first)["restartCount"] == 0
    on_node(lab, "docker", "kill", container_id(first))
    again = wait_pod(api, "sleeper", lambda o: app_status(o).get("restartCount") == 1 and running_and_ready(o),
                     "restarted", timeout=60)
    assert app_status(again)["lastState"]["terminated"]["exitCode"] == 137
    assert again["status"]["startTime"] == status["startTime"]


def test_restart_policy_never_ends_in_succeeded_or_failed(api):
    ok = wait_pod(api, "done-ok", lambda o: o["status"].get("phase") == "Succeeded", "Succeeded")
    bad = wait_pod(api, "done-bad", lambda o: o["status"].get("phase") == "Failed", "Failed")
    assert app_status(ok)["state"]["terminated"]["reason"] == "Completed"
    assert app_status(bad)["state"]["terminated"] == {**app_status(bad)["state"]["terminated"], "exitCode": 1, "reason": "Error"}
    assert app_status(ok)["restartCount"] == app_status(bad)["restartCount"] == 0


def test_failing_liveness_probe_restarts_the_container(api, lab):
    obj = wait_pod(api, "liveness", running_and_ready, "Running and Ready")
    on_node(lab, "docker", "exec", container_id(obj), "rm", "/tmp/alive")
    obj = wait_pod(api, "liveness", lambda o: app_status(o).get("restartCount") == 1 and running_and_ready(o),
                   "restarted for its liveness probe", timeout=60)
    messages = [(e["reason"], e.get("message", "")) for e in events_for(api, "liveness")]
    assert any(r == "Unhealthy" and m.startswith("Liveness probe failed:") for r, m in messages), messages
    assert any(r == "Killing" for r, _ in messages), messages


def test_failing_readiness_probe_makes_the_pod_not_ready_without_restart(api, lab):
    obj = wait_pod(api, "readiness", running_and_ready, "Running and Ready")
    on_node(lab, "docker", "exec", container_id(obj), "rm", "/tmp/ready")
    obj = wait_pod(api, "readiness", lambda o: condition(o, "Ready") == "False", "not Ready")
    assert obj["status"]["phase"] == "Running"
    assert app_status(obj)["restartCount"] == 0 and "running" in app_status(obj)["state"]
    assert condition(obj, "ContainersReady") == "False"
    on_node(lab, "docker", "exec", container_id(obj), "touch", "/tmp/ready")
    wait_pod(api, "readiness", running_and_ready, "Ready again")


def gone_after(api, name):
    """Seconds from now until the pod's object is gone (polled)."""
    began = time.monotonic()
    deadline = began + 60
    while time.monotonic() < deadline:
        try:
            pod(api, name)
        except ApiError as exc:
            if exc.code == 404:
                return time.monotonic() - began
            raise
        time.sleep(0.2)
    raise AssertionError(f"pod {name} still there after 60s")


def test_deleting_a_pod_waits_its_grace_only_for_a_process_ignoring_sigterm(api, lab):
    stubborn = wait_pod(api, "stubborn", running_and_ready, "Running")
    polite = wait_pod(api, "polite", running_and_ready, "Running")
    api.delete(f"{PODS}/stubborn")
    took = gone_after(api, "stubborn")
    assert took >= stubborn["spec"]["terminationGracePeriodSeconds"]
    api.delete(f"{PODS}/polite")
    assert gone_after(api, "polite") < polite["spec"]["terminationGracePeriodSeconds"]
    for obj in (stubborn, polite):
        uid = obj["metadata"]["uid"]
        assert on_node(lab, "docker", "ps", "-aq", "--filter", f"label=io.raftkube.pod.uid={uid}").split() == []


def test_container_exiting_at_once_backs_off(api, crash_loop):
    crash_loop.join(timeout=150)
    seen = crash_loop.seen
    # The first crash is restarted at once (no back-off to see), then 10 s, 20 s, 40 s.
    assert crash_loop.error is None and sorted(seen) == [1, 2, 3], (crash_loop.error, seen)
    for count, (_, message, last) in seen.items():
        assert f"back-off {10 * 2 ** (count - 1)}s" in message
        assert last["terminated"]["exitCode"] == 3
    # Each wait is twice the one before (10 s, then 20 s): compared, not timed.
    first_wait, second_wait = seen[2][0] - seen[1][0], seen[3][0] - seen[2][0]
    assert second_wait > first_wait * 1.5, (first_wait, second_wait)
    obj = pod(api, "crasher")
    assert obj["status"]["phase"] == "Running" and condition(obj, "Ready") == "False"
    reasons = {e["reason"] for e in events_for(api, "crasher")}
    assert "BackOff" in reasons, reasons
