"""The pod network and services end to end: pods on three nodes, VIPs, NodePort, DNS.

One lab (3 masters, 3 nodes) for the module; the tests build on each other's objects
in file order and the disruptive ones (failover, node restart) come last.
"""

from __future__ import annotations

import collections
import ipaddress
import json
import time

import docker
import pytest

from raftkube.client.api import ApiError
from raftkube.client.discovery import find_masters
from raftkube.netproxy import render, rules
from raftkube.remote.inventory import load_inventory
from raftkube.state.allocation import SERVICE_CIDR

pytestmark = pytest.mark.lab

NODES = ("node1", "node2", "node3")


class Cluster:
    def __init__(self, lab):
        self.lab = lab
        self.inventory = load_inventory(lab.inventory_path)
        self.masters = find_masters(str(lab.inventory_path))
        self.address = {h.name: h.address for h in self.inventory.hosts.values()}
        self._docker = {}

    def api(self, method, *args, **kwargs):
        with self.masters.client() as client:
            return getattr(client, method)(*args, **kwargs)

    def pod(self, name):
        return self.api("get", f"/api/v1/namespaces/default/pods/{name}")

    def wait(self, what, check, timeout=90.0, every=0.2):
        deadline = time.monotonic() + timeout
        while True:
            value = check()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            time.sleep(every)

    def wait_ready(self, name, timeout=180.0):
        seen = {}

        def ready():
            try:
                seen["pod"] = pod = self.pod(name)
            except ApiError:
                return None
            conditions = {c["type"]: c["status"] for c in pod.get("status", {}).get("conditions", [])}
            return pod if conditions.get("Ready") == "True" and pod["status"].get("podIP") else None
        try:
            return self.wait(f"pod {name} ready", ready, timeout)
        except AssertionError:
            events = [f"{e.get('reason')}: {e.get('message')}" for e in self.api("get", "/api/v1/events")["items"]
                      if e.get("involvedObject", {}).get("name") in (name, (seen.get("pod") or {}).get("spec", {}).get("nodeName"))]
            raise AssertionError(f"pod {name} not ready: {json.dumps(seen.get('pod', {}).get('status'))}; events {events[-10:]}")

    def wait_running(self, name, timeout=120.0):
        def running():
            pod = self.pod(name)
            return pod if pod.get("status", {}).get("phase") == "Running" and pod["status"].get("podIP") else None
        return self.wait(f"pod {name} running", running, timeout)

    def container(self, node, pod, name="c"):
        if node not in self._docker:
            self._docker[node] = docker.DockerClient(base_url=self.lab.docker_host(node), timeout=60)
        found = self._docker[node].containers.list(filters={"label": [f"io.raftkube.pod.name={pod}",
                                                                     f"io.raftkube.container.name={name}"]})
        assert found, f"no running container {name} of pod {pod} on {node}"
        return found[0]

    def in_pod(self, node, pod, script):
        result = self.container(node, pod).exec_run(["sh", "-c", script])
        return result.exit_code, result.output.decode(errors="replace")

    def on_host(self, host, argv):
        done = self.lab.exec(host, argv, capture_output=True, text=True, timeout=60)
        return done.returncode, done.stdout

    def endpoints_ips(self, name):
        ep = self.api("get", f"/api/v1/namespaces/default/endpoints/{name}")
        ready = {a["ip"] for s in ep.get("subsets", []) for a in s.get("addresses", [])}
        not_ready = {a["ip"] for s in ep.get("subsets", []) for a in s.get("notReadyAddresses", [])}
        return ready, not_ready


BACKEND_SCRIPT = (
    "mkdir -p /www/cgi-bin && echo $POD_NAME > /www/index.html && "
    "printf '#!/bin/sh\\necho Content-Type: text/plain\\necho\\necho $REMOTE_ADDR\\n' > /www/cgi-bin/ip && "
    "chmod +x /www/cgi-bin/ip && exec httpd -f -p 8080 -h /www"
)


def backend(name, node, labels=None, readiness=None):
    container = {"name": "c", "image": "busybox", "imagePullPolicy": "Never", "command": ["sh", "-c", BACKEND_SCRIPT],
                 "env": [{"name": "POD_NAME", "value": name}],
                 "ports": [{"name": "http", "containerPort": 8080}]}
    if readiness:
        container["readinessProbe"] = readiness
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": labels or {"app": "web"}},
            "spec": {"nodeName": node, "containers": [container], "terminationGracePeriodSeconds": 30}}


def service(name, **spec):
    spec.setdefault("selector", {"app": "web"})
    spec.setdefault("ports", [{"name": "http", "port": 80, "targetPort": "http"}])
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": spec}


@pytest.fixture(scope="module")
def cluster(make_lab):
    cluster = Cluster(make_lab(nodes=3, masters=3, prefix="net"))

    def nodes_ready():
        nodes = cluster.api("get", "/api/v1/nodes")["items"]
        return len(nodes) == 3 and all(
            any(c["type"] == "Ready" and c["status"] == "True" for c in n.get("status", {}).get("conditions", []))
            for n in nodes)
    # As a user would: pods go to nodes once the leader hears from them.
    cluster.wait("the nodes ready", nodes_ready, timeout=180, every=1.0)
    for index, node in enumerate(NODES, 1):
        cluster.api("create", "/api/v1/namespaces/default/pods", backend(f"b{index}", node))
    client = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "client"},
              "spec": {"nodeName": "node1", "containers": [
                  {"name": "c", "image": "busybox", "imagePullPolicy": "Never", "command": ["sleep", "100000"]}]}}
    cluster.api("create", "/api/v1/namespaces/default/pods", client)
    cluster.api("create", "/api/v1/namespaces/default/services", service("web"))
    for name in ("b1", "b2", "b3", "client"):
        cluster.wait_ready(name)
    return cluster


def counts(output):
    return collections.Counter(line.strip() for line in output.splitlines() if line.strip())


def test_pods_have_ips_in_their_nodes_ranges_and_reach_each_other_unNATed(cluster):
    pods = {name: cluster.pod(name) for name in ("b1", "b2", "b3")}
    ips = {name: pod["status"]["podIP"] for name, pod in pods.items()}
    assert len(set(ips.values())) == 3
    for index, name in enumerate(("b1", "b2", "b3"), 1):
        node = cluster.api("get", f"/api/v1/nodes/node{index}")
        assert ipaddress.IPv4Address(ips[name]) in ipaddress.IPv4Network(node["spec"]["podCIDR"])
        assert pods[name]["status"]["podIPs"] == [{"ip": ips[name]}]
    for index, client in enumerate(("b1", "b2", "b3"), 1):
        for server in ("b1", "b2", "b3"):
            if server == client:
                continue
            code, out = cluster.in_pod(f"node{index}", client, f"wget -qO- http://{ips[server]}:8080/cgi-bin/ip")
            assert code == 0, out
            # The server sees the client pod's own address: no NAT between pods.
            assert out.strip().strip("[]").removeprefix("::ffff:") == ips[client], (client, server, out)


def test_vip_round_robin_from_a_node_and_from_a_pod(cluster):
    vip = cluster.api("get", "/api/v1/namespaces/default/services/web")["spec"]["clusterIP"]
    cluster.wait("3 ready endpoints", lambda: len(cluster.endpoints_ips("web")[0]) == 3)
    from_node = collections.Counter()
    for _ in range(30):
        code, out = cluster.on_host("node2", ["wget", "-qO-", "-T", "5", f"http://{vip}/"])
        assert code == 0
        from_node[out.strip()] += 1
    assert from_node == {"b1": 10, "b2": 10, "b3": 10}
    code, out = cluster.in_pod("node1", "client", f"for i in $(seq 30); do wget -qO- http://{vip}/; done")
    assert code == 0 and counts(out) == {"b1": 10, "b2": 10, "b3": 10}
    # Hairpin: a backend reaching its own service through the VIP.
    code, out = cluster.in_pod("node1", "b1", f"for i in $(seq 6); do wget -qO- http://{vip}/; done")
    assert code == 0 and counts(out) == {"b1": 2, "b2": 2, "b3": 2}


def test_dns_names_from_a_pod(cluster):
    cluster.api("create", "/api/v1/namespaces/default/services", service("web-headless", clusterIP="None"))
    vip = cluster.api("get", "/api/v1/namespaces/default/services/web")["spec"]["clusterIP"]
    code, out = cluster.in_pod("node1", "client", "cat /etc/resolv.conf")
    assert out.splitlines() == ["nameserver 10.96.0.10",
                                "search default.svc.cluster.local svc.cluster.local cluster.local",
                                "options ndots:5"]
    code, out = cluster.in_pod("node1", "client", "nslookup web.default.svc.cluster.local")
    assert code == 0 and f"Address: {vip}" in out, out
    code, out = cluster.in_pod("node1", "client", "wget -qO- http://web/")
    assert code == 0 and out.strip() in ("b1", "b2", "b3"), out
    pod_ips = {cluster.pod(n)["status"]["podIP"] for n in ("b1", "b2", "b3")}

    def headless_answer():
        code, out = cluster.in_pod("node1", "client", "nslookup web-headless.default.svc.cluster.local")
        found = {line.split()[-1] for line in out.splitlines() if line.startswith("Address:") and ":53" not in line}
        return found == pod_ips
    cluster.wait("headless service resolving to the pod IPs", headless_answer, timeout=10)
    code, out = cluster.in_pod("node1", "client", "nslookup nothere.default.svc.cluster.local")
    assert code != 0 and "NXDOMAIN" in out, out


def test_nodeport_from_every_node_address(cluster):
    cluster.api("create", "/api/v1/namespaces/default/services",
                service("web-np", type="NodePort", ports=[{"name": "http", "port": 80, "targetPort": "http",
                                                            "nodePort": 30080}]))
    for node in NODES:
        url = f"http://{cluster.address[node]}:30080/"
        def answer():
            code, out = cluster.on_host("master1", ["wget", "-qO-", "-T", "5", url])
            return out.strip() if code == 0 else None
        assert cluster.wait(f"NodePort on {node}", answer, timeout=15) in ("b1", "b2", "b3")


def test_no_endpoints_is_refused_at_once(cluster):
    empty = cluster.api("create", "/api/v1/namespaces/default/services", service("nobody", selector={"app": "none"}))
    time.sleep(1)
    code, out = cluster.in_pod("node1", "client", f"wget -qO- http://{empty['spec']['clusterIP']}/ 2>&1")
    assert code != 0 and "refused" in out.lower(), out


def test_rules_on_a_node_are_the_golden_rules(cluster):
    def listing_matches():
        services = cluster.api("get", "/api/v1/services")["items"]
        endpoints = cluster.api("get", "/api/v1/endpoints")["items"]
        node = cluster.api("get", "/api/v1/nodes/node2")
        wanted = rules.ruleset(rules.service_ports(services, endpoints), cluster.address["node2"],
                               "10.244.0.0/16", SERVICE_CIDR)
        code, out = cluster.on_host("node2", ["nft", "list", "table", "ip", "raftkube"])
        assert node["spec"]["podCIDR"]
        return code == 0 and render.parse_listing(out) == render.render(wanted)
    cluster.wait("nft listing equal to the rendered rules", listing_matches, timeout=15, every=0.5)


def test_endpoint_changes_reach_the_rules(cluster):
    vip = cluster.api("get", "/api/v1/namespaces/default/services/web")["spec"]["clusterIP"]
    # A pod whose readiness probe fails is listed but never receives traffic.
    never = {"exec": {"command": ["cat", "/tmp/ready"]}, "periodSeconds": 1}
    cluster.api("create", "/api/v1/namespaces/default/pods", backend("b5", "node2", readiness=never))
    b5 = cluster.wait_running("b5")
    cluster.wait("b5 not ready in endpoints", lambda: b5["status"]["podIP"] in cluster.endpoints_ips("web")[1])
    code, out = cluster.in_pod("node1", "client", f"for i in $(seq 30); do wget -qO- http://{vip}/; done")
    assert counts(out) == {"b1": 10, "b2": 10, "b3": 10}
    # A backend being deleted (still running its grace period) stops getting connections within 1 s.
    started = time.monotonic()
    cluster.api("delete", "/api/v1/namespaces/default/pods/b3", {"gracePeriodSeconds": 30})
    time.sleep(max(0.0, 1.0 - (time.monotonic() - started)))
    code, out = cluster.in_pod("node1", "client", f"for i in $(seq 30); do wget -qO- http://{vip}/; done")
    assert counts(out) == {"b1": 15, "b2": 15}, out
    # A new ready one takes its share.
    cluster.api("create", "/api/v1/namespaces/default/pods", backend("b4", "node3"))
    b4 = cluster.wait_ready("b4")
    cluster.wait("b4 in endpoints", lambda: b4["status"]["podIP"] in cluster.endpoints_ips("web")[0])
    time.sleep(1)
    code, out = cluster.in_pod("node1", "client", f"for i in $(seq 30); do wget -qO- http://{vip}/; done")
    assert counts(out) == {"b1": 10, "b2": 10, "b4": 10}, out


def leader(cluster):
    try:
        status = cluster.api("get", "/raftkube/v1/cluster")
    except ApiError:
        return None
    address = (status.get("leader") or "").split(":")[0]
    return next((name for name, addr in cluster.address.items() if addr == address), None)


def snapshot(cluster):
    pods = {p["metadata"]["name"]: p["status"].get("podIP") for p in cluster.api("get", "/api/v1/pods")["items"]
            if not p["metadata"].get("deletionTimestamp")}
    services = {s["metadata"]["name"]: s["spec"].get("clusterIP") for s in cluster.api("get", "/api/v1/services")["items"]}
    return pods, services


def test_failover_and_node_restart_keep_addresses(cluster):
    before = snapshot(cluster)
    old_leader = cluster.wait("a leader", lambda: leader(cluster))
    cluster.lab.stop(old_leader)
    try:
        cluster.wait("a new leader", lambda: (leader(cluster) or old_leader) != old_leader, timeout=60)
        assert snapshot(cluster) == before
        # A pod created under the new leader gets an address no live pod holds.
        cluster.api("create", "/api/v1/namespaces/default/pods", backend("b6", "node1", labels={"app": "other"}))
        b6 = cluster.wait_ready("b6")
        assert b6["status"]["podIP"] not in set(before[0].values())
        vip = before[1]["web"]
        code, out = cluster.in_pod("node1", "client", f"for i in $(seq 6); do wget -qO- http://{vip}/; done")
        assert code == 0 and set(counts(out)) <= {"b1", "b2", "b4"}
    finally:
        cluster.lab.start(old_leader)
    cluster.wait("the stopped master back in the cluster", lambda: leader(cluster), timeout=60)
    cluster.lab.stop("node2")
    cluster.lab.start("node2")

    def b2_serves():
        code, out = cluster.in_pod("node1", "client", f"timeout 3 wget -qO- http://{before[0]['b2']}:8080/")
        return code == 0 and out.strip() == "b2"
    # Its containers died with the node; the kubelet starts them again with the same IP.
    cluster.wait("b2 serving again on its old IP", b2_serves, timeout=120, every=1.0)
    assert cluster.pod("b2")["status"]["podIP"] == before[0]["b2"]
    assert snapshot(cluster)[1] == before[1]
