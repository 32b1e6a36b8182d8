"""The raftkube command line on a lab cluster: tables, logs, exec, rolling-update, drain,
and `get -w` across a leader failover.

One lab for the module (3 masters, 2 nodes). The tests share it and run in file order;
the last one kills the leading master.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest

from raftkube.client.discovery import find_masters
from terminal import Terminal

pytestmark = pytest.mark.lab

TALKER = """
apiVersion: v1
kind: Pod
metadata: {name: talker, labels: {app: talker}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: busybox
    command: ["sh", "-c", "i=0; while true; do echo line $i; i=$((i+1)); sleep 1; done"]
  - name: side
    image: busybox
    command: ["sh", "-c", "echo side says hi; exec sleep 3600"]
"""


def rc_manifest(name: str, replicas: int, image: str = "busybox", app: str | None = None) -> str:
    app = app or name
    return f"""
apiVersion: v1
kind: ReplicationController
metadata: {{name: {name}}}
spec:
  replicas: {replicas}
  template:
    metadata:
      labels: {{app: {app}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: main
        image: {image}
        command: ["sleep", "3600"]
"""


@pytest.fixture(scope="module")
def lab(make_lab):
    lab = make_lab(nodes=2, masters=3, prefix="cli")
    for node in ("node1", "node2"):  # a second "release" of the image, for rolling updates
        assert lab.exec(node, ["docker", "tag", "busybox:latest", "busybox:v2"]).returncode == 0
    return lab


def raftkube(lab, *args, stdin: str | None = None, timeout: float = 120, inventory=None):
    env = {**os.environ, "RAFTKUBE_INVENTORY": str(inventory or lab.inventory_path)}
    return subprocess.run([sys.executable, "-m", "raftkube", *args], input=stdin, capture_output=True,
                          text=True, env=env, timeout=timeout)


def ok(lab, *args, **kwargs) -> str:
    done = raftkube(lab, *args, **kwargs)
    assert done.returncode == 0, f"raftkube {' '.join(args)}: {done.stderr}"
    return done.stdout


def api(lab):
    return find_masters(str(lab.inventory_path)).client()


def pods_of(lab, selector: str) -> list[dict]:
    with api(lab) as client:
        return [p for p in client.get("/api/v1/namespaces/default/pods", {"labelSelector": selector})["items"]
                if not p["metadata"].get("deletionTimestamp")]


def is_ready(pod: dict) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in pod.get("status", {}).get("conditions") or [])


def wait_for(predicate, timeout: float = 120, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def ready_count(lab, selector: str, expected: int) -> bool:
    pods = pods_of(lab, selector)
    return len(pods) == expected and all(is_ready(p) for p in pods)


@pytest.fixture(scope="module")
def talker(lab):
    ok(lab, "apply", "-f", "-", stdin=TALKER)
    wait_for(lambda: ready_count(lab, "app=talker", 1), what="the talker pod")
    return "talker"


# -- output formats ---------------------------------------------------------------------

AGE = r"\d+[smhd]\S*"


def test_every_output_format_of_get(lab, talker):
    ok(lab, "apply", "-f", "-", stdin=rc_manifest("tables", 2))
    wait_for(lambda: ready_count(lab, "app=tables", 2), what="two pods of rc/tables")
    table = ok(lab, "get", "rc", "tables").splitlines()
    assert table[0] == "NAME     DESIRED   CURRENT   READY   AGE"
    assert re.fullmatch(rf"tables   2         2         2       {AGE}", table[1]), table[1]
    wide = ok(lab, "get", "rc", "tables", "-o", "wide").splitlines()
    assert wide[0].split() == ["NAME", "DESIRED", "CURRENT", "READY", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"]
    assert wide[1].split()[5:] == ["main", "busybox", "app=tables"]
    pods = ok(lab, "get", "pods", "-l", "app=tables").splitlines()
    assert pods[0] == "NAME           READY   STATUS    RESTARTS   AGE"
    assert all(re.fullmatch(rf"tables-[a-z0-9]{{5}}   1/1     Running   0          {AGE}", row) for row in pods[1:])
    everywhere = ok(lab, "get", "pods", "-A", "-o", "wide").splitlines()
    assert everywhere[0].split() == ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE"]
    assert any(row.split()[1] == "talker" and row.split()[7] in ("node1", "node2") for row in everywhere[1:])
    nodes = ok(lab, "get", "nodes", "-o", "wide").splitlines()
    assert nodes[0].split()[-2:] == ["CPU(REQ/ALLOC)", "MEMORY(REQ/ALLOC)"]
    assert [row.split()[:2] for row in nodes[1:]] == [["node1", "Ready"], ["node2", "Ready"]]
    document = json.loads(ok(lab, "get", "pods", "-l", "app=tables", "-o", "json"))
    assert document["kind"] == "List" and len(document["items"]) == 2
    one = json.loads(ok(lab, "get", "rc", "tables", "-o", "json"))
    assert one["kind"] == "ReplicationController" and one["status"]["readyReplicas"] == 2
    assert ok(lab, "get", "rc", "tables", "-o", "yaml").startswith("apiVersion: v1\nkind: ReplicationController\n")
    assert ok(lab, "get", "rc", "tables", "-o", "name").split() == ["replicationcontroller/tables"]
    described = ok(lab, "describe", "rc", "tables")
    assert "Name:" in described and "tables" in described
    ok(lab, "delete", "rc", "tables")


# -- logs and exec --------------------------------------------------------------------

def _moment(stamp: str) -> float:
    """Docker's RFC 3339 with nanoseconds -> Unix time."""
    whole, _, rest = stamp.rstrip("Z").partition(".")
    moment = datetime.datetime.fromisoformat(whole).replace(tzinfo=datetime.timezone.utc)
    return moment.timestamp() + float("0." + (rest or "0"))


def test_logs_follow_shows_each_line_within_a_second(lab, talker):
    tail = ok(lab, "logs", talker, "--tail", "2").splitlines()
    assert len(tail) == 2 and all(line.startswith("line ") for line in tail)
    assert ok(lab, "logs", talker, "-c", "side") == "side says hi\n"
    env = {**os.environ, "RAFTKUBE_INVENTORY": str(lab.inventory_path)}
    follow = subprocess.Popen([sys.executable, "-m", "raftkube", "logs", "-f", "--timestamps", "--tail", "1",
                               talker], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    arrivals = []
    try:
        assert follow.stdout.readline().split()[1] == "line"  # the one old line asked for
        while len(arrivals) < 5:
            line = follow.stdout.readline()
            assert line, follow.stderr.read()
            arrivals.append((time.time(), line))
    finally:
        follow.kill()
        follow.wait()
    delays = [arrived - _moment(line.split(" ", 1)[0]) for arrived, line in arrivals]
    numbers = [int(line.split()[2]) for _, line in arrivals]
    print("logs -f delays:", ", ".join(f"{d:.2f}s" for d in delays))
    assert numbers == list(range(numbers[0], numbers[0] + 5))
    assert max(delays) <= 1.0, delays


def test_logs_tail_0_shows_only_what_comes_next(lab, talker):
    last = int(ok(lab, "logs", talker, "--tail", "1").split()[1])
    assert ok(lab, "logs", talker, "--tail", "0") == ""
    env = {**os.environ, "RAFTKUBE_INVENTORY": str(lab.inventory_path)}
    follow = subprocess.Popen([sys.executable, "-m", "raftkube", "logs", "-f", "--tail", "0", talker],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        first = follow.stdout.readline()
    finally:
        follow.kill()
        follow.wait()
    assert first.startswith("line ") and int(first.split()[1]) > last, (first, last)


def test_exec_exit_code_and_stdin(lab, talker):
    done = raftkube(lab, "exec", talker, "--", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert done.returncode == 3 and done.stdout == "out\n" and done.stderr == "err\n"
    assert raftkube(lab, "exec", talker, "-c", "side", "--", "true").returncode == 0
    piped = raftkube(lab, "exec", "-i", talker, "--", "sh", "-c", "tr a-z A-Z; echo done", stdin="hello\nworld\n")
    assert piped.returncode == 0 and piped.stdout == "HELLO\nWORLD\ndone\n"
    ok(lab, "apply", "-f", "-", stdin="apiVersion: v1\nkind: Pod\nmetadata: {name: nowhere}\nspec:\n"
       "  nodeSelector: {disk: none}\n  containers: [{name: c, image: busybox}]\n")
    for args, fragment in [(("exec", "nope", "--", "true"), 'pods "nope" not found'),
                           (("logs", "nowhere"), "not scheduled"),
                           (("exec", "nowhere", "--", "true"), "not scheduled"),
                           (("exec", talker, "-c", "nope", "--", "true"), "container nope"),
                           (("logs", "nope"), 'pods "nope" not found')]:
        failed = raftkube(lab, *args)
        assert failed.returncode == 1 and failed.stderr.count("\n") == 1 and fragment in failed.stderr, failed.stderr
    ok(lab, "delete", "pod", "nowhere")


def test_exec_with_a_terminal(lab, talker):
    env = {**os.environ, "RAFTKUBE_INVENTORY": str(lab.inventory_path)}
    with Terminal([sys.executable, "-m", "raftkube", "exec", "-it", talker, "--", "sh"], env) as term:
        term.read_until(b"# ", 30)
        term.type(b"tty; echo $((6*7))\r")
        term.read_until(b"42", 30)
        term.resize(33, 111)  # the window is resized: the command's terminal follows
        term.type(b"stty size\r")
        term.read_until(b"33 111", 30)
        term.type(b"exit 5\r")
        code = term.wait()
    assert b"/dev/pts/" in term.output and b"42" in term.output, term.output
    assert b"33 111" in term.output, term.output
    assert code == 5


# -- rolling update ---------------------------------------------------------------------

class ReadyWatch:
    """Counts the ready pods of a selector every 0.2 s in a thread; keeps the minimum."""

    def __init__(self, lab, selector: str):
        self.lab, self.selector = lab, selector
        self.lowest, self.samples = None, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        with api(self.lab) as client:
            while not self._stop.is_set():
                listed = client.get("/api/v1/namespaces/default/pods", {"labelSelector": self.selector})["items"]
                ready = sum(1 for p in listed if is_ready(p) and not p["metadata"].get("deletionTimestamp"))
                self.lowest = ready if self.lowest is None else min(self.lowest, ready)
                self.samples += 1
                time.sleep(0.2)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(10)


def run_until(lab, args: list[str], marker: str, timeout: float = 120) -> str:
    """Start `raftkube ARGS`, SIGKILL it once it printed `marker`; what it printed."""
    env = {**os.environ, "RAFTKUBE_INVENTORY": str(lab.inventory_path)}
    proc = subprocess.Popen([sys.executable, "-m", "raftkube", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env)
    printed = ""
    deadline = time.monotonic() + timeout
    try:
        while marker not in printed:
            line = proc.stdout.readline()
            assert line and time.monotonic() < deadline, printed
            printed += line
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    return printed


def images(lab, selector: str) -> list[str]:
    return sorted(p["spec"]["containers"][0]["image"] for p in pods_of(lab, selector))


def test_rolling_update_keeps_three_of_four_ready_and_survives_a_kill(lab):
    ok(lab, "apply", "-f", "-", stdin=rc_manifest("web", 4))
    wait_for(lambda: ready_count(lab, "app=web", 4), what="four web pods")
    with ReadyWatch(lab, "app=web") as watch:
        first = run_until(lab, ["rolling-update", "web", "busybox:v2", "--update-period", "0.5s"],
                          "Scaling web down to 2")
        assert first.startswith("Created web-")
        again = ok(lab, "rolling-update", "web", "busybox:v2", "--update-period", "0.5s", "--timeout", "3m")
        assert again.startswith("Continuing update with existing controller web-")
        assert again.rstrip().endswith("replicationcontroller/web rolling updated")
        wait_for(lambda: ready_count(lab, "app=web", 4), what="four ready pods after the update")
    print(f"rolling update: lowest ready {watch.lowest} over {watch.samples} samples")
    assert watch.samples > 20 and watch.lowest >= 3
    assert images(lab, "app=web") == ["busybox:v2"] * 4
    with api(lab) as client:
        rcs = client.get("/api/v1/namespaces/default/replicationcontrollers")["items"]
    web = [rc for rc in rcs if (rc["spec"]["template"]["metadata"].get("labels") or {}).get("app") == "web"]
    assert [rc["metadata"]["name"] for rc in web] == ["web"]  # the old one gone, the new one renamed
    assert web[0]["spec"]["template"]["spec"]["containers"][0]["image"] == "busybox:v2"
    owners = {p["metadata"]["ownerReferences"][0]["uid"] for p in pods_of(lab, "app=web")}
    assert owners == {web[0]["metadata"]["uid"]}


def test_rolling_update_rollback_restores_the_old_controller(lab):
    before = {p["metadata"]["name"] for p in pods_of(lab, "app=web")}
    run_until(lab, ["rolling-update", "web", "busybox", "--update-period", "0.5s"], "Scaling web down to 3")
    with ReadyWatch(lab, "app=web") as watch:
        back = ok(lab, "rolling-update", "web", "--rollback", "--timeout", "3m")
    assert back.rstrip().endswith("replicationcontroller/web rolled back")
    assert watch.lowest >= 3
    wait_for(lambda: ready_count(lab, "app=web", 4), what="four ready pods after the rollback")
    assert images(lab, "app=web") == ["busybox:v2"] * 4
    with api(lab) as client:
        names = [rc["metadata"]["name"] for rc in client.get("/api/v1/namespaces/default/replicationcontrollers")
                 ["items"]]
        annotations = client.get("/api/v1/namespaces/default/replicationcontrollers/web")["metadata"].get(
            "annotations") or {}
    assert names == ["web"] and not any(k.startswith("kubectl.kubernetes.io/") for k in annotations)
    assert len(before & {p["metadata"]["name"] for p in pods_of(lab, "app=web")}) >= 3  # most never moved


# -- drain ------------------------------------------------------------------------------

def nodes_of(lab, selector: str) -> list[str]:
    return sorted(p["spec"].get("nodeName") or "" for p in pods_of(lab, selector))


def test_drain_moves_rc_pods_and_the_node_gets_none_until_uncordoned(lab, talker):
    ok(lab, "apply", "-f", "-", stdin=rc_manifest("spread", 4))
    wait_for(lambda: ready_count(lab, "app=spread", 4), what="four spread pods")
    refused = raftkube(lab, "drain", "node1")
    node1_has_talker = "node1" in nodes_of(lab, "app=talker")
    if node1_has_talker:  # the bare pod: no controller would bring it back
        assert refused.returncode == 1 and "default/talker" in refused.stderr
    drained = ok(lab, "drain", "node1", "--force", "--grace-period", "1", "--timeout", "2m")
    assert drained.rstrip().endswith("node/node1 drained")
    wait_for(lambda: ready_count(lab, "app=spread", 4), what="the spread pods back on node2")
    assert nodes_of(lab, "app=spread") == ["node2"] * 4
    assert "SchedulingDisabled" in ok(lab, "get", "node", "node1")
    ok(lab, "scale", "rc/spread", "--replicas", "6")
    wait_for(lambda: ready_count(lab, "app=spread", 6), what="six spread pods")
    assert nodes_of(lab, "app=spread") == ["node2"] * 6
    assert ok(lab, "uncordon", "node1").strip() == "node/node1 uncordoned"
    ok(lab, "scale", "rc/spread", "--replicas", "10")
    wait_for(lambda: "node1" in nodes_of(lab, "app=spread"), what="a pod on node1 after uncordon")
    ok(lab, "delete", "rc", "spread")


# -- get -w across a failover (last: it kills the leader) ----------------------------------

def documents(text: str) -> list[dict]:
    decoder, found, at = json.JSONDecoder(), [], 0
    while True:
        while at < len(text) and text[at].isspace():
            at += 1
        if at >= len(text):
            return found
        try:
            document, at = decoder.raw_decode(text, at)
        except ValueError:
            return found  # a document still being written
        found.append(document)


def test_get_watch_prints_every_change_of_a_scale_once_across_a_leader_failover(lab, tmp_path):
    masters = find_masters(str(lab.inventory_path))
    with masters.client() as client:
        status = client.status_of(masters.endpoints[0])
    leader = next(m.name for m in masters.inventory.masters if f"{m.address}:{m.raft_port}" == status["leader"])
    # The watcher's first master is the leader, so the failover breaks its stream.
    text = lab.inventory_path.read_text()
    lines = text.splitlines()
    start = lines.index("[masters]")
    block = [line for line in lines[start + 1:] if line.strip() and not line.startswith("[")][:3]
    ordered = sorted(block, key=lambda line: not line.startswith(leader + " "))
    first = lab.inventory_path.parent / "leader-first.ini"
    first.write_text(text.replace("\n".join(block), "\n".join(ordered)))
    for suffix in (".token", ".ca.crt", ".known_hosts"):
        source = lab.inventory_path.parent / (lab.inventory_path.name + suffix)
        if source.exists():
            shutil.copy(source, str(first) + suffix)

    ok(lab, "apply", "-f", "-", stdin=rc_manifest("w", 1))
    wait_for(lambda: ready_count(lab, "app=w", 1), what="one w pod")
    out = tmp_path / "watch.out"
    env = {**os.environ, "RAFTKUBE_INVENTORY": str(first)}
    with open(out, "w") as sink:
        watcher = subprocess.Popen([sys.executable, "-m", "raftkube", "get", "pods", "-w", "-l", "app=w", "-o", "json",
                                    "--output-watch-events"], stdout=sink, stderr=subprocess.PIPE, text=True, env=env)
    try:
        wait_for(lambda: len(documents(out.read_text())) >= 1, what="the listing")
        ok(lab, "scale", "rc/w", "--replicas", "5")
        wait_for(lambda: ready_count(lab, "app=w", 5), what="five w pods")
        lab.stop(leader)
        ok(lab, "scale", "rc/w", "--replicas", "1")
        wait_for(lambda: ready_count(lab, "app=w", 1) and len(pods_of(lab, "app=w")) == 1, what="one w pod again")

        def caught_up() -> bool:
            events = documents(out.read_text())
            final = {p["metadata"]["name"]: p["metadata"]["resourceVersion"] for p in pods_of(lab, "app=w")}
            gone = {e["object"]["metadata"]["name"] for e in events if e["type"] == "DELETED"}
            last = {}
            for e in events:
                last[e["object"]["metadata"]["name"]] = e["object"]["metadata"]["resourceVersion"]
            return len(gone) >= 4 and all(last.get(name) == version for name, version in final.items())

        wait_for(caught_up, timeout=60, what="the watcher to print every change")
        time.sleep(2)  # a repeated change would show up now
    finally:
        watcher.terminate()
        watcher.wait(10)
    events = documents(out.read_text())
    assert "Traceback" not in watcher.stderr.read()
    versions = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
    assert versions == sorted(set(versions)), "a change was printed twice or out of order"
    added = [e["object"]["metadata"]["name"] for e in events if e["type"] == "ADDED"]
    deleted = [e["object"]["metadata"]["name"] for e in events if e["type"] == "DELETED"]
    assert len(added) == 5 and len(set(added)) == 5
    assert len(deleted) == 4 and set(deleted) < set(added)
    print(f"get -w: {len(events)} changes, each once, across the loss of {leader}")
