"""Every user mistake: exit code 1, one line on stderr saying what and where, no
traceback, and the cluster exactly as it was (all objects listed before and after)."""

import json
import os
import subprocess
import sys
import time

import pytest

from conftest import MasterCluster

KINDS = ["namespaces", "nodes", "pods", "replicationcontrollers", "services"]

GOOD_POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: good
spec:
  containers:
  - name: main
    image: busybox
"""

RC = """\
apiVersion: v1
kind: ReplicationController
metadata:
  name: web
spec:
  replicas: 2
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: busybox
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad-input")
    masters = MasterCluster(root, ["m1", "m2", "m3"])
    for name in ["m1", "m2", "m3"]:
        masters.start(name)
    try:
        leader = masters.leader()
        deadline = time.monotonic() + 20  # the masters make the built-in namespaces soon after starting
        while masters.request(leader, "GET", "/api/v1/namespaces/kube-system")[0] != 200:
            assert time.monotonic() < deadline, "kube-system never appeared"
            time.sleep(0.2)
        # Something to break: an RC (scaled to 0, so the controllers leave it be) and a pod.
        masters.request(leader, "POST", "/api/v1/namespaces/default/replicationcontrollers",
                        {"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": "web"},
                         "spec": {"replicas": 0, "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "web", "image": "busybox"}]}}}})
        masters.request(leader, "POST", "/api/v1/namespaces/default/pods",
                        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "db", "labels": {"app": "db"}},
                         "spec": {"containers": [{"name": "main", "image": "busybox"}]}})
        yield masters
    finally:
        for name in list(masters.procs):
            masters.kill(name)


def state(masters) -> dict:
    """Every object as a user wrote it, by kind: what a mistake could change. Status (and
    the version it bumps) is left out: the controllers write it on their own schedule."""
    listed = {}
    leader = masters.leader()
    for kind in KINDS:
        code, body = masters.request(leader, "GET", f"/api/v1/{kind}")
        assert code == 200, body
        listed[kind] = sorted(json.dumps([o["metadata"].get("namespace", ""), o["metadata"]["name"],
                                          o["metadata"]["uid"], o["metadata"].get("labels"),
                                          o["metadata"].get("annotations"), o.get("spec")], sort_keys=True)
                              for o in body["items"])
    return listed


IN_DEFAULT = GOOD_POD.replace("name: good", "name: good\n  namespace: default")


def run(masters, args, stdin=None, inventory=None):
    env = {k: v for k, v in os.environ.items() if k != "RAFTKUBE_INVENTORY"}
    return subprocess.run([sys.executable, "-m", "raftkube", *args, "-i", str(inventory or masters.inventory)],
                          input=stdin, capture_output=True, text=True, env=env, timeout=90)


def pod_with(spec_lines: str, name: str = "bad") -> str:
    return f"apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n{spec_lines}"


# (id, args, stdin, a fragment the message must contain: what, and where)
MANIFESTS = [
    ("yaml-syntax", "kind: Pod\nmetadata: {name: x\n", "<stdin>:"),
    ("not-a-mapping", "- a\n- b\n", "not a mapping"),
    ("no-kind", "apiVersion: v1\nmetadata: {name: x}\n", "no kind"),
    ("unknown-kind", "apiVersion: v1\nkind: Gizmo\nmetadata: {name: x}\n", 'unknown kind "Gizmo"'),
    ("unknown-field", pod_with("  containers:\n  - name: c\n    imagee: busybox\n"), "imagee: unknown field"),
    ("missing-image", pod_with("  containers:\n  - name: c\n"), "image"),
    ("no-containers", pod_with("  containers: []\n"), "containers"),
    ("bad-name", GOOD_POD.replace("name: good", "name: Bad_Name"), "Bad_Name"),
    ("wrong-type", RC.replace("replicas: 2", "replicas: three"), "spec.replicas"),
    ("negative-replicas", RC.replace("replicas: 2", "replicas: -1"), "spec.replicas"),
    ("bad-api-version", GOOD_POD.replace("apiVersion: v1", "apiVersion: apps/v9"), "apiVersion"),
    ("metadata-list", "apiVersion: v1\nkind: Pod\nmetadata: [x]\n", "metadata"),
    ("no-name", "apiVersion: v1\nkind: Pod\nmetadata: {labels: {a: b}}\n", "metadata.name"),
    ("bad-label-value", GOOD_POD.replace("name: good", "name: good\n  labels: {app: 'no spaces'}"), "app"),
    ("selector-mismatch", RC.replace("spec:\n  replicas: 2", "spec:\n  replicas: 2\n  selector: {app: other}"),
     "selector"),
    ("bad-restart-policy", pod_with("  restartPolicy: Sometimes\n  containers:\n  - name: c\n    image: b\n"),
     "restartPolicy"),
    ("bad-cpu", pod_with("  containers:\n  - name: c\n    image: b\n    resources: {requests: {cpu: 2 cores}}\n"),
     "cpu"),
    ("port-out-of-range", pod_with("  containers:\n  - name: c\n    image: b\n    ports: [{containerPort: 70000}]\n"),
     "containerPort"),
    ("duplicate-containers", pod_with("  containers:\n  - {name: c, image: b}\n  - {name: c, image: b}\n"),
     "containers"),
    ("bad-second-document", GOOD_POD + "---\n" + GOOD_POD.replace("name: good", "name: BAD"), "BAD"),
    ("empty", "", "no objects"),
    ("binary-value", GOOD_POD.replace("name: good", "name: good\n  labels: {a: !!binary aGk=}"), "document 1"),
    ("immutable-pod-spec", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: db\n  labels: {app: db}\n"
     "spec:\n  containers:\n  - name: main\n    image: busybox\n    command: [sh]\n", "db"),
]

ARGUMENTS = [
    ("get-unknown-kind", ["get", "gizmos"], 'unknown kind "gizmos"'),
    ("get-bad-selector", ["get", "pods", "-l", "app in (web"], "app in (web"),
    ("get-bad-output", ["get", "pods", "-o", "table"], "-o"),
    ("get-missing", ["get", "pod", "nope"], 'pods "nope" not found'),
    ("get-name-and-all", ["get", "pod", "db", "-A"], "-A"),
    ("describe-missing", ["describe", "rc", "nope"], 'replicationcontrollers "nope" not found'),
    ("delete-no-name", ["delete", "pods"], "NAME"),
    ("delete-missing", ["delete", "pod", "nope"], 'pods "nope" not found'),
    ("scale-negative", ["scale", "rc/web", "--replicas", "-1"], "--replicas"),
    ("scale-a-pod", ["scale", "pod/db", "--replicas", "2"], "cannot be scaled"),
    ("scale-missing", ["scale", "rc/nope", "--replicas", "2"], "nope"),
    ("label-bad-key", ["label", "pod", "db", "bad key=x"], "bad key"),
    ("label-overwrite", ["label", "pod", "db", "app=other"], "--overwrite"),
    ("unknown-option", ["get", "pods", "--colour"], "--colour"),
    ("unknown-command", ["frobnicate"], "frobnicate"),
    ("missing-file", ["apply", "-f", "/nonexistent/app.yaml"], "/nonexistent/app.yaml"),
    ("namespace-mismatch", ["apply", "-n", "kube-system", "-f", "-", "--stdin-in-default"], "does not match -n"),
    ("prune-without-selector", ["apply", "--prune", "-f", "-"], "--prune needs -l"),
    ("drain-missing-node", ["drain", "node9"], 'nodes "node9" not found'),
    ("drain-bad-timeout", ["drain", "node1", "--timeout", "soon"], "invalid duration"),
    ("cordon-missing-node", ["cordon", "node9"], 'nodes "node9" not found'),
    ("bad-namespace-name", ["get", "pods", "-n", "Not_A_Namespace"], "Not_A_Namespace"),
    ("missing-inventory", ["get", "pods", "-i", "/nonexistent.ini"], "/nonexistent.ini"),
]


def check_one_line_error(result, fragment):
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    assert fragment in lines[0], lines[0]


@pytest.mark.parametrize(("manifest", "fragment"), [(m, f) for _, m, f in MANIFESTS],
                         ids=[i for i, _, _ in MANIFESTS])
def test_a_bad_manifest(cluster, manifest, fragment):
    before = state(cluster)
    check_one_line_error(run(cluster, ["apply", "-f", "-"], stdin=manifest), fragment)
    assert state(cluster) == before


@pytest.mark.parametrize(("args", "fragment"), [(a, f) for _, a, f in ARGUMENTS], ids=[i for i, _, _ in ARGUMENTS])
def test_a_bad_argument(cluster, args, fragment):
    before = state(cluster)
    stdin = IN_DEFAULT if "--stdin-in-default" in args else GOOD_POD
    args = [a for a in args if a != "--stdin-in-default"]
    result = run(cluster, args, stdin=stdin) if "-i" not in args else subprocess.run(
        [sys.executable, "-m", "raftkube", *args], capture_output=True, text=True, timeout=90)
    check_one_line_error(result, fragment)
    assert state(cluster) == before


def test_a_bad_file_on_disk_names_the_file_and_line(cluster, tmp_path):
    bad = tmp_path / "app.yaml"
    bad.write_text(GOOD_POD + "  - oops: [\n")
    result = run(cluster, ["apply", "-f", str(bad)])
    check_one_line_error(result, f"{bad}:")
    broken_json = tmp_path / "app.json"
    broken_json.write_text('{"kind": "Pod",\n "metadata": }')
    check_one_line_error(run(cluster, ["apply", "-f", str(broken_json)]), f"{broken_json}:2")
    latin1 = tmp_path / "latin1.yaml"
    latin1.write_bytes(GOOD_POD.replace("good", "gut").encode() + b"# \xe9\n")
    check_one_line_error(run(cluster, ["apply", "-f", str(latin1)]), str(latin1))
    empty_dir = tmp_path / "nothing"
    empty_dir.mkdir()
    check_one_line_error(run(cluster, ["apply", "-f", str(empty_dir)]), "no objects")


def test_verbose_shows_the_cause(cluster, tmp_path):
    unreachable = tmp_path / "unreachable.ini"
    unreachable.write_text("[masters]\nm1 ansible_host=127.0.0.1 raftkube_api_port=1\n")
    (tmp_path / "unreachable.ini.token").write_text("t\n")
    (tmp_path / "unreachable.ini.ca.crt").write_bytes(open(cluster.ca_file, "rb").read())
    quiet = run(cluster, ["get", "pods"], inventory=unreachable)
    check_one_line_error(quiet, "no master is listening (https://127.0.0.1:1)")
    verbose = subprocess.run([sys.executable, "-m", "raftkube", "-v", "get", "pods", "-i", str(unreachable)],
                             capture_output=True, text=True, timeout=90)
    assert verbose.returncode == 1 and "Traceback" not in verbose.stderr
    assert len(verbose.stderr.strip().splitlines()) > 1 and "ConnectionRefusedError" in verbose.stderr


def test_no_quorum_is_one_line(cluster):
    """Last in this module: it leaves one master of three."""
    survivor = cluster.leader()
    for name in [n for n in cluster.procs if n != survivor]:
        cluster.kill(name)
    result = run(cluster, ["apply", "-f", "-"], stdin=GOOD_POD)
    check_one_line_error(result, "no master could serve")
    local = cluster.request(survivor, "GET", "/api/v1/pods?resourceVersion=0")[1]["items"]
    assert sorted(p["metadata"]["name"] for p in local) == ["db"]
