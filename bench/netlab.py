"""What the network benches share: a lab cluster, pods through the API, waiting for them."""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager

import docker

from raftkube.client.api import ApiError
from raftkube.client.discovery import find_masters
from raftkube.remote.inventory import load_inventory

BACKEND = ("mkdir -p /www && echo $POD_NAME > /www/index.html && exec httpd -f -p 8080 -h /www")


class Cluster:
    def __init__(self, lab):
        self.lab = lab
        self.inventory = load_inventory(lab.inventory_path)
        self.client = find_masters(str(lab.inventory_path)).client()

    def create(self, plural: str, obj: dict) -> dict:
        return self.client.create(f"/api/v1/namespaces/default/{plural}", obj)

    def get(self, plural: str, name: str) -> dict:
        return self.client.get(f"/api/v1/namespaces/default/{plural}/{name}")

    def wait_ready(self, name: str, timeout: float = 120.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                pod = self.get("pods", name)
            except ApiError:
                pod = {}
            status = pod.get("status", {})
            if status.get("podIP") and any(c["type"] == "Ready" and c["status"] == "True"
                                           for c in status.get("conditions", [])):
                return pod
            time.sleep(0.1)
        raise RuntimeError(f"pod {name} not ready after {timeout}s")

    def wait_nodes_ready(self, timeout: float = 180.0) -> None:
        """As a user would: place pods once the leader hears from every node."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            nodes = self.client.get("/api/v1/nodes")["items"]
            if nodes and all(any(c["type"] == "Ready" and c["status"] == "True"
                                 for c in n.get("status", {}).get("conditions", [])) for n in nodes):
                return
            time.sleep(0.5)
        raise RuntimeError(f"nodes not ready after {timeout}s")

    def pause_pid(self, node: str, pod: str) -> int:
        engine = docker.DockerClient(base_url=self.lab.docker_host(node))
        found = engine.containers.list(filters={"label": [f"io.raftkube.pod.name={pod}", "io.raftkube.container.name=POD"]})
        return found[0].attrs["State"]["Pid"]


def backend(name: str, node: str, labels: dict | None = None) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels or {"app": "web"}},
            "spec": {"nodeName": node, "terminationGracePeriodSeconds": 0, "containers": [{
                "name": "c", "image": "busybox", "imagePullPolicy": "Never", "command": ["sh", "-c", BACKEND],
                "env": [{"name": "POD_NAME", "value": name}], "ports": [{"name": "http", "containerPort": 8080}]}]}}


def service(name: str, selector: dict | None = None) -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": selector or {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}}


@contextmanager
def lab_cluster(name: str, nodes: int, existing: str | None = None):
    """A lab of `nodes` nodes and one master, removed afterwards; or the lab `existing`, kept."""
    from raftkube.lab import Lab

    if existing:
        cluster = Cluster(Lab(existing))
        cluster.wait_nodes_ready()
        yield cluster
        return
    lab = Lab(name)
    try:
        lab.up(nodes=nodes, masters=1, echo=lambda line: print(line, file=sys.stderr))
        cluster = Cluster(lab)
        cluster.wait_nodes_ready()
        yield cluster
    finally:
        lab.down(quiet=True)
