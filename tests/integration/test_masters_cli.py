"""The client commands (`raftkube apply/get/delete/cluster`) against three real masters."""

import json
import os
import subprocess
import sys
import time

from conftest import pod

MANIFEST = """\
apiVersion: v1
kind: Namespace
metadata:
  name: shop
---
apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: shop
  labels: {app: web}
spec:
  containers:
  - name: main
    image: busybox
---
apiVersion: v1
kind: Pod
metadata:
  name: db
  namespace: shop
  labels: {app: db}
spec:
  containers:
  - name: main
    image: busybox
"""


def raftkube(masters, *args, stdin=None, env_inventory=False, inventory=None):
    env = {**os.environ}
    env.pop("RAFTKUBE_INVENTORY", None)
    argv = [sys.executable, "-m", "raftkube", *args]
    if env_inventory:
        env["RAFTKUBE_INVENTORY"] = str(masters.inventory)
    else:
        argv += ["-i", str(inventory or masters.inventory)]
    return subprocess.run(argv, input=stdin, capture_output=True, text=True, env=env, timeout=60)


def test_apply_get_delete(masters):
    dry = raftkube(masters, "apply", "-f", "-", "--dry-run", stdin=MANIFEST)
    assert dry.returncode == 0 and dry.stdout.splitlines()[0] == "namespace/shop created (dry run)"
    assert masters.request("m1", "GET", "/api/v1/namespaces/shop")[0] == 404
    created = raftkube(masters, "apply", "-f", "-", stdin=MANIFEST)
    assert created.returncode == 0, created.stderr
    assert created.stdout.splitlines() == ["namespace/shop created", "pod/web created", "pod/db created"]
    again = raftkube(masters, "apply", "-f", "-", stdin=MANIFEST.replace("{app: db}", "{app: db, tier: x}"))
    assert again.stdout.splitlines() == ["namespace/shop unchanged", "pod/web unchanged", "pod/db configured"]

    listed = raftkube(masters, "get", "pods", "-n", "shop", "-o", "json", env_inventory=True)
    assert listed.returncode == 0, listed.stderr
    document = json.loads(listed.stdout)
    assert document["kind"] == "List" and [p["metadata"]["name"] for p in document["items"]] == ["db", "web"]
    selected = raftkube(masters, "get", "po", "-A", "-l", "app=web", "-o", "name")
    assert selected.stdout.split() == ["pod/web"]
    one = json.loads(raftkube(masters, "get", "pod", "db", "-n", "shop", "-o", "json").stdout)
    assert one["kind"] == "Pod" and one["metadata"]["labels"]["tier"] == "x"

    deleted = raftkube(masters, "delete", "pod", "web", "-n", "shop")
    assert deleted.returncode == 0 and deleted.stdout.strip() == 'pod "web" deleted'
    missing = raftkube(masters, "get", "pod", "web", "-n", "shop")
    assert missing.returncode == 1 and missing.stderr.strip() == 'error: pods "web" not found'
    gone = raftkube(masters, "delete", "namespace", "shop")
    assert gone.returncode == 0
    assert masters.request("m1", "GET", "/api/v1/namespaces/shop/pods/db")[0] == 404


def test_user_mistakes_are_one_line_errors(masters):
    for args, stdin in [(("get", "gizmos"), None), (("get", "pods", "-l", "a in ("), None),
                        (("apply", "-f", "-"), "kind: Pod\nmetadata: {name: x}\nspec: {containers: []}\n"),
                        (("apply", "-f", "/nonexistent.yaml"), None),
                        (("apply", "-f", "-"), "kind: Pod\nmetadata: null\n"),
                        (("apply", "-f", "-"), "kind: Pod\nmetadata: [x]\n"),
                        (("delete", "-f", "-"), "kind: Pod\nmetadata: {namespace: default}\n"),
                        (("delete", "pods", "-l", "a in ("), None),
                        (("get", "pod", "web", "-l", "app=web"), None)]:
        result = raftkube(masters, *args, stdin=stdin)
        assert result.returncode == 1, (args, result.stdout)
        assert result.stderr.startswith("error: ") and len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_cluster_status(masters):
    leader = masters.leader()
    result = raftkube(masters, "cluster", "status", "-o", "json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["leader"] == leader and report["term"] >= 1 and report["commitIndex"] > 0
    assert sorted(m["name"] for m in report["members"]) == ["m1", "m2", "m3"]
    assert all(m["state"] in ("leader", "follower") and m["lag"] is not None for m in report["members"])
    masters.kill("m3")
    table = raftkube(masters, "cluster", "status")
    assert table.returncode == 0
    assert any(line.startswith("m3") and "unreachable" in line for line in table.stdout.splitlines())


def test_no_master_answers_is_one_line(masters):
    for name in list(masters.procs):
        masters.kill(name)
    result = subprocess.run([sys.executable, "-m", "raftkube", "cluster", "status", "-i", str(masters.inventory)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and result.stderr.startswith("error: no master answered")


def test_delete_by_selector_and_by_file(masters, tmp_path):
    manifest = tmp_path / "app.yaml"
    manifest.write_text(MANIFEST)
    assert raftkube(masters, "apply", "-f", str(manifest)).returncode == 0
    by_label = raftkube(masters, "delete", "pods", "-n", "shop", "-l", "app=db")
    assert by_label.returncode == 0 and by_label.stdout.strip() == 'pod "db" deleted'
    by_file = raftkube(masters, "delete", "-f", str(manifest))
    # The namespace goes first and takes its pods with it, so the pod is already gone.
    assert by_file.stdout.strip() == 'namespace "shop" deleted'
    assert by_file.returncode == 1 and by_file.stderr.strip() == 'error: pods "web" not found'


def test_add_and_remove_a_master(masters, tmp_path):
    with_node = tmp_path / "with-node.ini"
    with_node.write_text(masters.inventory.read_text() + "[nodes]\nn1 ansible_host=127.0.0.1\n")
    (tmp_path / "with-node.ini.token").write_text(masters.token)
    refused = raftkube(masters, "cluster", "add-master", "n1", inventory=with_node)
    assert refused.returncode == 1 and "not in the [masters] group" in refused.stderr
    four = masters.write_inventory(tmp_path / "four.ini", ["m1", "m2", "m3", "m4"])
    added = raftkube(masters, "cluster", "add-master", "m4", inventory=four)
    assert added.returncode == 0, added.stderr
    masters.start("m4", four)
    assert masters.request(masters.leader(), "POST", "/api/v1/namespaces/default/pods", pod("p"))[0] == 201
    deadline = time.monotonic() + 20
    while True:
        report = json.loads(raftkube(masters, "cluster", "status", "-o", "json", inventory=four).stdout)
        states = {m["name"]: (m["state"], m["lag"]) for m in report["members"]}
        if states.get("m4") == ("follower", 0) or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert states["m4"] == ("follower", 0) and len(states) == 4
    assert all(m["inRaftConfig"] for m in report["members"])
    removed = raftkube(masters, "cluster", "remove-master", "m4", inventory=four)
    assert removed.returncode == 0, removed.stderr
    masters.kill("m4")
    report = json.loads(raftkube(masters, "cluster", "status", "-o", "json", inventory=four).stdout)
    m4 = next(m for m in report["members"] if m["name"] == "m4")
    assert m4["state"] == "unreachable" and not m4["inRaftConfig"]


RC = """\
apiVersion: v1
kind: ReplicationController
metadata:
  name: web
spec:
  replicas: 1
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: busybox
"""


def test_label_annotate_scale_describe(masters):
    assert raftkube(masters, "apply", "-f", "-", stdin=RC).returncode == 0
    labeled = raftkube(masters, "label", "rc", "web", "tier=front", "env=dev")
    assert labeled.returncode == 0 and labeled.stdout.strip() == "replicationcontroller/web labeled"
    refused = raftkube(masters, "label", "rc/web", "tier=back")
    assert refused.returncode == 1 and "--overwrite" in refused.stderr
    assert raftkube(masters, "label", "rc/web", "tier=back", "env-", "--overwrite").returncode == 0
    annotated = raftkube(masters, "annotate", "rc", "web", "note=hello")
    assert annotated.stdout.strip() == "replicationcontroller/web annotated"
    scaled = raftkube(masters, "scale", "rc/web", "--replicas", "3")
    assert scaled.returncode == 0 and scaled.stdout.strip() == "replicationcontroller/web scaled"
    rc = masters.request("m1", "GET", "/api/v1/namespaces/default/replicationcontrollers/web")[1]
    assert rc["metadata"]["labels"] == {"tier": "back"} and rc["metadata"]["annotations"]["note"] == "hello"
    assert rc["spec"]["replicas"] == 3
    described = raftkube(masters, "describe", "rc", "web")
    assert described.returncode == 0 and "web" in described.stdout and "tier=back" in described.stdout
    assert raftkube(masters, "scale", "pod/x", "--replicas", "1").stderr.startswith("error: ")


def test_the_built_in_namespaces_exist_from_the_start(masters):
    deadline = time.monotonic() + 10
    while True:
        listed = raftkube(masters, "get", "namespaces", "-o", "name")
        names = set(listed.stdout.split())
        if {"namespace/default", "namespace/kube-system"} <= names or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert {"namespace/default", "namespace/kube-system"} <= names, listed.stderr


def test_a_bad_document_anywhere_in_a_manifest_changes_nothing(masters):
    bad = MANIFEST.replace("name: db\n", "name: DB_not_a_name\n")
    result = raftkube(masters, "apply", "-f", "-", stdin=bad.replace("shop", "shop2"))
    assert result.returncode == 1
    assert result.stderr.startswith("error: ") and len(result.stderr.strip().splitlines()) == 1
    assert "DB_not_a_name" in result.stderr
    assert masters.request("m1", "GET", "/api/v1/namespaces/shop2")[0] == 404
    assert masters.request("m1", "GET", "/api/v1/namespaces/shop2/pods/web")[0] == 404
