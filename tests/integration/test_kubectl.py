"""kubectl 1.32 and the official Python client against a real master (loopback, https).

One master for the module; each kubectl run gets its own empty HOME (kubectl caches
discovery for hours) and only the kubeconfig `raftkube setup` would write. No node
exists here, so pods stay Pending: logs and exec are in tests/lab/test_kubectl_lab.py.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time

import pytest
import yaml

from conftest import running_masters
from raftkube.client.kubeconfig import write_kubeconfig
from raftkube.remote.inventory import load_inventory

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")

RC = """
apiVersion: v1
kind: ReplicationController
metadata:
  name: {name}
  labels: {{app: {name}}}
spec:
  replicas: 1
  selector: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      containers:
      - name: web
        image: busybox
        command: ["sleep", "3600"]
        env:
        - {{name: A, value: "1"}}
        - {{name: B, value: "2"}}
        ports:
        - containerPort: 80
        - containerPort: 8080
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with running_masters(tmp_path_factory.mktemp("kubectl"), ["m1"]) as cluster:
        cluster.kubeconfig, _ = write_kubeconfig(load_inventory(cluster.inventory), cluster.token)
        deadline = time.monotonic() + 20
        while cluster.request("m1", "GET", "/api/v1/namespaces/default")[0] != 200:
            assert time.monotonic() < deadline, "the default namespace never appeared"
            time.sleep(0.2)
        yield cluster


def kubectl(cluster, *args, stdin: str | None = None, check: bool = True, timeout: float = 60):
    with tempfile.TemporaryDirectory(prefix="kubectl-home-") as home:
        env = {"PATH": os.environ["PATH"], "HOME": home, "KUBECONFIG": str(cluster.kubeconfig)}
        done = subprocess.run(["kubectl", *args], input=stdin, capture_output=True, text=True, env=env,
                              timeout=timeout)
    if check:
        assert done.returncode == 0, f"kubectl {' '.join(args)}: {done.stderr}"
    return done


def test_version_cluster_info_and_api_resources(cluster):
    version = kubectl(cluster, "version", "-o", "json")
    assert json.loads(version.stdout)["serverVersion"]["minor"] == "32"
    info = kubectl(cluster, "cluster-info")
    assert f"https://127.0.0.1:{cluster.ports['m1'][0]}" in info.stdout
    rows = {line.split()[0]: line.split() for line in kubectl(cluster, "api-resources").stdout.splitlines()[1:]}
    assert set(rows) == {"endpoints", "events", "namespaces", "nodes", "pods", "replicationcontrollers", "services"}
    assert rows["pods"][1] == "po" and rows["replicationcontrollers"][1] == "rc" and rows["services"][1] == "svc"


def test_create_get_columns_outputs_and_get_all(cluster, tmp_path):
    manifest = tmp_path / "app.yaml"
    manifest.write_text(RC.format(name="getter") + """---
apiVersion: v1
kind: Service
metadata: {name: getter, labels: {app: getter}}
spec:
  selector: {app: getter}
  ports: [{port: 80}]
""")
    created = kubectl(cluster, "create", "-f", str(manifest))  # default (server-side) validation
    assert created.stdout.split("\n")[:2] == ["replicationcontroller/getter created", "service/getter created"]
    rc = kubectl(cluster, "get", "rc", "getter").stdout.splitlines()
    assert rc[0].split() == ["NAME", "DESIRED", "CURRENT", "READY", "AGE"] and rc[1].split()[:2] == ["getter", "1"]
    wide = kubectl(cluster, "get", "rc", "getter", "-o", "wide").stdout.splitlines()
    assert wide[0].split()[-3:] == ["CONTAINERS", "IMAGES", "SELECTOR"] and "app=getter" in wide[1]
    svc = kubectl(cluster, "get", "svc", "getter").stdout.splitlines()
    assert svc[0].split() == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    assert "80/TCP" in svc[1]
    assert json.loads(kubectl(cluster, "get", "rc", "getter", "-o", "json").stdout)["spec"]["replicas"] == 1
    assert yaml.safe_load(kubectl(cluster, "get", "svc", "getter", "-o", "yaml").stdout)["kind"] == "Service"
    deadline = time.monotonic() + 20
    while not (names := kubectl(cluster, "get", "pods", "-l", "app=getter", "-o", "name").stdout.split()):
        assert time.monotonic() < deadline, "the replication manager made no pod"
        time.sleep(0.3)
    assert names[0].startswith("pod/getter-")
    everything = kubectl(cluster, "get", "all", "-l", "app=getter").stdout
    assert "replicationcontroller/getter" in everything and "service/getter" in everything
    assert names[0] in everything
    labelled = kubectl(cluster, "get", "pods", "-A", "-l", "app=getter", "--show-labels").stdout.splitlines()
    assert labelled[0].split()[0] == "NAMESPACE" and labelled[0].split()[-1] == "LABELS"
    assert labelled[1].split()[0] == "default" and labelled[1].split()[-1] == "app=getter"
    pods = kubectl(cluster, "get", "pods", "-l", "app=getter").stdout.splitlines()
    assert pods[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    for kind, header in (("nodes", "NAME"), ("ns", "NAME"), ("ep", "NAME"), ("events", "LAST")):
        done = kubectl(cluster, "get", kind)
        assert done.stdout.startswith(header) or "No resources found" in done.stderr
    assert "default" in kubectl(cluster, "get", "ns").stdout


def test_apply_created_configured_unchanged_and_removals(cluster, tmp_path):
    manifest = tmp_path / "rc.yaml"
    side = '\n      - {name: side, image: busybox, command: ["sleep", "3600"]}'
    manifest.write_text(RC.format(name="applied") + side)
    assert kubectl(cluster, "apply", "-f", str(manifest)).stdout.strip() == "replicationcontroller/applied created"
    assert kubectl(cluster, "apply", "-f", str(manifest)).stdout.strip() == "replicationcontroller/applied unchanged"
    manifest.write_text(RC.format(name="applied"))
    assert kubectl(cluster, "apply", "-f", str(manifest)).stdout.strip() == "replicationcontroller/applied configured"
    names = kubectl(cluster, "get", "rc", "applied", "-o", "jsonpath={.spec.template.spec.containers[*].name}")
    assert names.stdout == "web"
    assert kubectl(cluster, "apply", "-f", str(manifest)).stdout.strip() == "replicationcontroller/applied unchanged"
    manifest.write_text("\n".join(line for line in RC.format(name="applied").splitlines()
                                  if "name: B" not in line and "8080" not in line))
    assert kubectl(cluster, "apply", "-f", str(manifest)).stdout.strip() == "replicationcontroller/applied configured"
    container = json.loads(kubectl(cluster, "get", "rc", "applied", "-o", "json").stdout)[
        "spec"]["template"]["spec"]["containers"][0]
    assert container["env"] == [{"name": "A", "value": "1"}]
    assert [p["containerPort"] for p in container["ports"]] == [80]
    server_side = kubectl(cluster, "apply", "--server-side", "-f", str(manifest))
    assert server_side.stdout.strip() == "replicationcontroller/applied serverside-applied"
    fresh = tmp_path / "fresh.yaml"
    fresh.write_text(RC.format(name="ssa"))
    assert "serverside-applied" in kubectl(cluster, "apply", "--server-side", "-f", str(fresh)).stdout
    managers = json.loads(kubectl(cluster, "get", "rc", "ssa", "-o", "json", "--show-managed-fields").stdout)[
        "metadata"]["managedFields"]
    assert [(m["manager"], m["operation"]) for m in managers] == [("kubectl", "Apply")]


def test_unknown_fields_refused_by_default_and_dropped_on_request(cluster, tmp_path):
    manifest = tmp_path / "typo.yaml"
    manifest.write_text(RC.format(name="typo").replace("image: busybox", "image: busybox\n        imagee: x"))
    refused = kubectl(cluster, "create", "-f", str(manifest), check=False)
    assert refused.returncode == 1 and "spec.template.spec.containers[0].imagee: unknown field" in refused.stderr
    warned = kubectl(cluster, "create", "--validate=warn", "-f", str(manifest))
    assert 'unknown field "spec.template.spec.containers[0].imagee"' in warned.stderr
    assert "imagee" not in kubectl(cluster, "get", "rc", "typo", "-o", "json").stdout


def test_label_annotate_scale_and_current_replicas(cluster, tmp_path):
    manifest = tmp_path / "rc.yaml"
    manifest.write_text(RC.format(name="scaled"))
    kubectl(cluster, "create", "-f", str(manifest))
    assert kubectl(cluster, "label", "rc", "scaled", "tier=web").stdout.strip() == "replicationcontroller/scaled labeled"
    kubectl(cluster, "annotate", "rc", "scaled", "note=hello")
    meta = json.loads(kubectl(cluster, "get", "rc", "scaled", "-o", "json").stdout)["metadata"]
    assert meta["labels"]["tier"] == "web" and meta["annotations"]["note"] == "hello"
    assert kubectl(cluster, "scale", "rc", "scaled", "--replicas=3").stdout.strip() == "replicationcontroller/scaled scaled"
    refused = kubectl(cluster, "scale", "rc", "scaled", "--current-replicas=2", "--replicas=1", check=False)
    assert refused.returncode == 1 and "Expected replicas to be 2, was 3" in refused.stderr
    kubectl(cluster, "scale", "rc", "scaled", "--current-replicas=3", "--replicas=0")
    assert kubectl(cluster, "get", "rc", "scaled", "-o", "jsonpath={.spec.replicas}").stdout == "0"


def test_describe_shows_only_that_objects_events(cluster, tmp_path):
    manifest = tmp_path / "rc.yaml"
    manifest.write_text(RC.format(name="described"))
    kubectl(cluster, "create", "-f", str(manifest))
    uid = kubectl(cluster, "get", "rc", "described", "-o", "jsonpath={.metadata.uid}").stdout
    for name in ("described", "other"):
        event = {"apiVersion": "v1", "kind": "Event", "metadata": {"name": f"{name}.1", "namespace": "default"},
                 "involvedObject": {"kind": "ReplicationController", "name": name, "namespace": "default",
                                    "uid": uid if name == "described" else "another"},
                 "reason": f"Reason{name}", "message": f"about {name}", "type": "Normal"}
        assert cluster.request("m1", "POST", "/api/v1/namespaces/default/events", event)[0] == 201
    text = kubectl(cluster, "describe", "rc", "described").stdout
    assert "Name:         described" in text and "Reasondescribed" in text and "Reasonother" not in text
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "described-pod"},
           "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    code, created = cluster.request("m1", "POST", "/api/v1/namespaces/default/pods", pod)
    assert code == 201
    for name, uid in (("described-pod", created["metadata"]["uid"]), ("other-pod", "another")):
        event = {"apiVersion": "v1", "kind": "Event", "metadata": {"name": f"{name}.2", "namespace": "default"},
                 "involvedObject": {"kind": "Pod", "name": name, "namespace": "default", "uid": uid},
                 "reason": f"Pod{name}", "message": f"about {name}", "type": "Warning"}
        assert cluster.request("m1", "POST", "/api/v1/namespaces/default/events", event)[0] == 201
    text = kubectl(cluster, "describe", "pod", "described-pod").stdout
    assert "Name:         described-pod" in text and "Poddescribed-pod" in text and "Podother-pod" not in text


def test_get_pods_watch_prints_header_once_and_a_row_per_change(cluster):
    with tempfile.TemporaryDirectory(prefix="kubectl-home-") as home:
        env = {"PATH": os.environ["PATH"], "HOME": home, "KUBECONFIG": str(cluster.kubeconfig)}
        watch = subprocess.Popen(["kubectl", "get", "pods", "-l", "watched=yes", "-w"], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True, env=env)
        try:
            time.sleep(2)
            pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "watched", "labels": {"watched": "yes"}},
                   "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
            assert cluster.request("m1", "POST", "/api/v1/namespaces/default/pods", pod)[0] == 201
            time.sleep(1)
            # Leaving the selection is a deletion for this watch.
            code, _ = cluster.request("m1", "PATCH", "/api/v1/namespaces/default/pods/watched",
                                      {"metadata": {"labels": {"watched": "no"}}},
                                      headers={"Content-Type": "application/merge-patch+json"})
            assert code == 200
            time.sleep(2)
        finally:
            watch.terminate()
            out, _ = watch.communicate(timeout=10)
    lines = [line for line in out.splitlines() if line.strip()]
    assert lines[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert sum(1 for line in lines if line.startswith("NAME")) == 1
    assert len(lines) >= 2 and all(line.startswith("watched ") for line in lines[1:])


def test_delete_cascades_and_force(cluster, tmp_path):
    for policy in ("orphan", "background", "foreground"):
        manifest = tmp_path / f"{policy}.yaml"
        manifest.write_text(RC.format(name=f"del-{policy}"))
        kubectl(cluster, "create", "-f", str(manifest))
        deadline = time.monotonic() + 20
        while not kubectl(cluster, "get", "pods", "-l", f"app=del-{policy}", "-o", "name").stdout.strip():
            assert time.monotonic() < deadline
            time.sleep(0.3)
        done = kubectl(cluster, "delete", "rc", f"del-{policy}", f"--cascade={policy}")
        assert done.stdout.strip() == f'replicationcontroller "del-{policy}" deleted'
    time.sleep(3)
    assert kubectl(cluster, "get", "pods", "-l", "app=del-orphan", "-o", "name").stdout.strip()
    for policy in ("background", "foreground"):
        deadline = time.monotonic() + 20
        while kubectl(cluster, "get", "pods", "-l", f"app=del-{policy}", "-o", "name").stdout.strip():
            assert time.monotonic() < deadline, f"--cascade={policy} left the pods"
            time.sleep(0.5)
    pod = kubectl(cluster, "get", "pods", "-l", "app=del-orphan", "-o", "name").stdout.split()[0]
    forced = kubectl(cluster, "delete", pod, "--force", "--grace-period=0")
    assert "force deleted" in forced.stdout
    assert kubectl(cluster, "get", pod, check=False).returncode == 1


def test_python_client_list_create_read_patch_watch_delete(cluster):
    import kubernetes  # a test dependency: missing, the test fails instead of skipping
    from kubernetes import client, config, watch

    api_client = config.new_client_from_config(str(cluster.kubeconfig))
    v1 = client.CoreV1Api(api_client)
    pod = client.V1Pod(metadata=client.V1ObjectMeta(name="py", labels={"via": "python"}),
                       spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="busybox")]))
    created = v1.create_namespaced_pod("default", pod)
    assert created.metadata.uid
    assert "py" in [p.metadata.name for p in v1.list_namespaced_pod("default", label_selector="via=python").items]
    assert v1.read_namespaced_pod("py", "default").spec.containers[0].image == "busybox"
    patched = v1.patch_namespaced_pod("py", "default", {"metadata": {"labels": {"more": "yes"}}})
    assert patched.metadata.labels == {"via": "python", "more": "yes"}
    seen = [(e["type"], e["object"].metadata.name) for e in watch.Watch().stream(
        v1.list_namespaced_pod, "default", label_selector="via=python", timeout_seconds=2)]
    assert ("ADDED", "py") in seen
    v1.delete_namespaced_pod("py", "default", propagation_policy="Background", grace_period_seconds=0)
    with pytest.raises(kubernetes.client.exceptions.ApiException) as gone:
        for _ in range(50):
            v1.read_namespaced_pod("py", "default")
            time.sleep(0.2)
    assert gone.value.status == 404


def test_selective_watch_adds_on_entering_and_deletes_on_leaving(cluster):
    import threading
    import urllib.request

    pods = "/api/v1/namespaces/default/pods"
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "mover", "labels": {"lane": "a"}},
           "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    assert cluster.request("m1", "POST", pods, pod)[0] == 201
    events = []

    def watch():
        request = urllib.request.Request(cluster.url("m1") + pods + "?watch=t&labelSelector=lane%3Db"
                                         "&fieldSelector=metadata.name%3Dmover&timeoutSeconds=6")
        request.add_header("Authorization", f"Bearer {cluster.token}")
        with cluster.urlopen(request, timeout=15) as response:
            events.extend(json.loads(line)["type"] for line in response if line.strip())

    watcher = threading.Thread(target=watch)
    watcher.start()
    time.sleep(1)
    for lane in ("b", "b", "a"):  # enters, changes inside, leaves
        code, _ = cluster.request("m1", "PATCH", f"{pods}/mover",
                                  {"metadata": {"labels": {"lane": lane}, "annotations": {"n": str(time.time())}}})
        assert code == 200
        time.sleep(0.3)
    watcher.join(20)
    assert events == ["ADDED", "MODIFIED", "DELETED"]


def test_api_refuses_what_kubernetes_refuses(cluster):
    pods = "/api/v1/namespaces/default/pods"
    code, status = cluster.request("m1", "GET", pods + "?fieldSelector=spec.image%3Dx")
    assert code == 400 and "field label not supported: spec.image" in status["message"]
    code, status = cluster.request("m1", "PATCH", f"{pods}/nothing", {"a": 1},
                                   headers={"Content-Type": "application/json"})
    assert code == 415 and status["reason"] == "UnsupportedMediaType"
    code, status = cluster.request("m1", "POST", pods + "?fieldValidation=Sloppy", {"metadata": {"name": "x"}})
    assert code == 400 and "fieldValidation" in status["message"]
