"""Three-way `apply`, `diff` and `apply --prune` against three real masters."""

import json
import os
import shutil
import subprocess
import tempfile

import pytest

from raftkube.client.kubeconfig import write_kubeconfig
from raftkube.remote.inventory import load_inventory
from test_masters_cli import raftkube

RC_PATH = "/api/v1/namespaces/default/replicationcontrollers"


@pytest.fixture
def masters(module_masters):
    """One cluster for the module (each test removes what it made)."""
    return module_masters


def remove(masters, *paths):
    for path in paths:
        assert masters.request(masters.leader(), "DELETE", path)[0] in (200, 202, 404)

RC = """\
apiVersion: v1
kind: ReplicationController
metadata:
  name: web
  labels: {app: web, tier: front}
spec:
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: busybox
        command: [sleep, "3600"]
"""

SVC = """\
apiVersion: v1
kind: Service
metadata:
  name: web
  labels: {app: web}
spec:
  selector: {app: web}
  ports:
  - port: 80
"""


def test_apply_removes_what_the_file_dropped_and_keeps_what_the_cluster_owns(masters, tmp_path):
    manifest = tmp_path / "rc.yaml"
    manifest.write_text(RC)
    assert raftkube(masters, "apply", "-f", str(manifest)).stdout.strip() == "replicationcontroller/web created"
    assert raftkube(masters, "apply", "-f", str(manifest)).stdout.strip() == "replicationcontroller/web unchanged"
    assert raftkube(masters, "scale", "rc/web", "--replicas", "4").returncode == 0

    manifest.write_text(RC.replace(", tier: front", "").replace("3600", "60"))
    diff = raftkube(masters, "diff", "-f", str(manifest))
    assert diff.returncode == 1, diff.stderr
    assert "-    tier: front" in diff.stdout and "+        - '60'" in diff.stdout
    assert "replicas" not in diff.stdout  # scale's 4 stays: the file never said
    applied = raftkube(masters, "apply", "-f", str(manifest))
    assert applied.stdout.strip() == "replicationcontroller/web configured", applied.stderr
    live = masters.request("m1", "GET", f"{RC_PATH}/web")[1]
    assert live["metadata"]["labels"] == {"app": "web"}
    assert live["spec"]["replicas"] == 4
    assert live["spec"]["template"]["spec"]["containers"][0]["command"] == ["sleep", "60"]
    recorded = json.loads(live["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"])
    assert recorded["metadata"]["labels"] == {"app": "web"} and "replicas" not in recorded["spec"]

    same = raftkube(masters, "diff", "-f", str(manifest))
    assert same.returncode == 0 and same.stdout == ""
    assert raftkube(masters, "apply", "-f", str(manifest)).stdout.strip() == "replicationcontroller/web unchanged"
    assert masters.request("m1", "GET", f"{RC_PATH}/web")[1]["metadata"]["resourceVersion"] == \
        live["metadata"]["resourceVersion"]

    # The file takes replicas over, then gives them back: the cluster's count is then kept.
    manifest.write_text(RC.replace("spec:\n  template", "spec:\n  replicas: 2\n  template"))
    assert raftkube(masters, "apply", "-f", str(manifest)).returncode == 0
    assert masters.request("m1", "GET", f"{RC_PATH}/web")[1]["spec"]["replicas"] == 2
    remove(masters, f"{RC_PATH}/web")


def test_dry_run_and_a_new_object_in_diff(masters, tmp_path):
    manifest = tmp_path / "svc.yaml"
    manifest.write_text(SVC)
    diff = raftkube(masters, "diff", "-f", str(manifest))
    assert diff.returncode == 1 and "+++ MERGED/v1.Service.default.web" in diff.stdout
    broken = tmp_path / "broken.yaml"
    broken.write_text(SVC.replace("port: 80", "port: 99999"))
    failed = raftkube(masters, "diff", "-f", str(broken))  # kubectl diff: >1 is an error, not a difference
    assert failed.returncode == 2 and failed.stderr.startswith("error: ") and not failed.stdout, failed
    dry = raftkube(masters, "apply", "-f", str(manifest), "--dry-run")
    assert dry.stdout.strip() == "service/web created (dry run)"
    assert masters.request("m1", "GET", "/api/v1/namespaces/default/services/web")[0] == 404
    assert raftkube(masters, "apply", "-f", str(manifest)).returncode == 0
    dry = raftkube(masters, "apply", "-f", str(manifest), "--dry-run")
    assert dry.stdout.strip() == "service/web unchanged (dry run)"
    remove(masters, "/api/v1/namespaces/default/services/web")


def test_prune_deletes_what_the_files_no_longer_have(masters, tmp_path):
    app = tmp_path / "app"
    app.mkdir()
    (app / "rc.yaml").write_text(RC)
    (app / "svc.yaml").write_text(SVC)
    first = raftkube(masters, "apply", "-f", str(app), "--prune", "-l", "app=web")
    assert first.returncode == 0 and sorted(first.stdout.split("\n")[:2]) == [
        "replicationcontroller/web created", "service/web created"]
    # Made by hand with the same label: not apply's to prune. A Service, since a pod with
    # that label would be adopted (and, as an extra replica, deleted) by the RC.
    hand = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "by-hand", "labels": {"app": "web"}},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 81}]}}
    assert masters.request("m1", "POST", "/api/v1/namespaces/default/services", hand)[0] == 201
    (app / "svc.yaml").unlink()
    pruned = raftkube(masters, "apply", "-f", str(app), "--prune", "-l", "app=web")
    assert pruned.stdout.splitlines() == ["replicationcontroller/web unchanged", "service/web pruned"], pruned.stderr
    assert masters.request("m1", "GET", "/api/v1/namespaces/default/services/web")[0] == 404
    assert masters.request("m1", "GET", "/api/v1/namespaces/default/services/by-hand")[0] == 200
    refused = raftkube(masters, "apply", "-f", str(app), "--prune")
    assert refused.returncode == 1 and "--prune needs -l" in refused.stderr
    remove(masters, f"{RC_PATH}/web", "/api/v1/namespaces/default/services/by-hand")


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kubectl_and_raftkube_take_turns_applying(masters, tmp_path):
    """The last-applied annotation is kubectl's, byte for byte: each tool removes what the
    other applied before and the file no longer has, and neither sees a change after the other."""
    kubeconfig, _ = write_kubeconfig(load_inventory(masters.inventory), masters.token)

    def kubectl(*args):
        with tempfile.TemporaryDirectory(prefix="kubectl-home-") as home:
            env = {"PATH": os.environ["PATH"], "HOME": home, "KUBECONFIG": str(kubeconfig)}
            done = subprocess.run(["kubectl", *args], capture_output=True, text=True, env=env, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout

    manifest = tmp_path / "svc.yaml"
    manifest.write_text(SVC.replace("labels: {app: web}", "labels: {app: web, tier: front}"))
    assert kubectl("apply", "-f", str(manifest)).strip() == "service/web created"
    by_kubectl = masters.request("m1", "GET", "/api/v1/namespaces/default/services/web")[1]
    manifest.write_text(SVC)
    assert raftkube(masters, "apply", "-f", str(manifest)).stdout.strip() == "service/web configured"
    live = masters.request("m1", "GET", "/api/v1/namespaces/default/services/web")[1]
    assert live["metadata"]["labels"] == {"app": "web"}
    manifest.write_text(SVC.replace("labels: {app: web}", "labels: {app: web, tier: front}"))
    annotation = "kubectl.kubernetes.io/last-applied-configuration"
    assert raftkube(masters, "apply", "-f", str(manifest)).stdout.strip() == "service/web configured"
    assert masters.request("m1", "GET", "/api/v1/namespaces/default/services/web")[1]["metadata"]["annotations"][
        annotation] == by_kubectl["metadata"]["annotations"][annotation]
    assert kubectl("apply", "-f", str(manifest)).strip() == "service/web unchanged"
    manifest.write_text(SVC)
    assert kubectl("apply", "-f", str(manifest)).strip() == "service/web configured"
    assert masters.request("m1", "GET", "/api/v1/namespaces/default/services/web")[1]["metadata"]["labels"] == \
        {"app": "web"}
    assert raftkube(masters, "apply", "-f", str(manifest)).stdout.strip() == "service/web unchanged"
