"""Endpoints from a service's selector and the pods of its namespace (pure)."""

from raftkube.loops.endpoints import desired_subsets


def pod(name, ip, labels=None, ready=True, ports=(), phase="Running", deleting=False, node="node1"):
    meta = {"name": name, "namespace": "default", "uid": f"uid-{name}", "labels": labels or {"app": "web"}}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    status = {"phase": phase, "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}
    if ip:
        status["podIP"] = ip
    return {"kind": "Pod", "metadata": meta, "status": status,
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "busybox", "ports": list(ports)}]}}


def service(ports, selector=None):
    return {"kind": "Service", "metadata": {"name": "web", "namespace": "default"},
            "spec": {"selector": selector or {"app": "web"}, "ports": ports}}


def address(name, ip, node="node1"):
    return {"ip": ip, "nodeName": node, "targetRef": {"kind": "Pod", "namespace": "default", "name": name,
                                                      "uid": f"uid-{name}"}}


def test_ready_and_not_ready_pods():
    pods = [pod("b", "10.244.1.3"), pod("a", "10.244.1.2"), pod("c", "10.244.2.2", ready=False),
            pod("other", "10.244.2.9", labels={"app": "db"}), pod("noip", None),
            pod("gone", "10.244.2.4", deleting=True), pod("done", "10.244.2.5", phase="Succeeded")]
    subsets = desired_subsets(service([{"port": 80, "targetPort": 8080, "protocol": "TCP"}]), pods)
    assert subsets == [{
        "addresses": [address("a", "10.244.1.2"), address("b", "10.244.1.3")],
        "notReadyAddresses": [address("c", "10.244.2.2")],
        "ports": [{"port": 8080, "protocol": "TCP"}],
    }]


def test_named_target_ports_resolve_per_pod():
    ports = [{"name": "http", "port": 80, "targetPort": "web", "protocol": "TCP"}]
    pods = [pod("a", "10.244.1.2", ports=[{"name": "web", "containerPort": 8080, "protocol": "TCP"}]),
            pod("b", "10.244.1.3", ports=[{"name": "web", "containerPort": 9090, "protocol": "TCP"}]),
            pod("c", "10.244.1.4", ports=[{"name": "other", "containerPort": 7070, "protocol": "TCP"}])]
    assert desired_subsets(service(ports), pods) == [
        {"addresses": [address("a", "10.244.1.2")], "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]},
        {"addresses": [address("b", "10.244.1.3")], "ports": [{"name": "http", "port": 9090, "protocol": "TCP"}]},
    ]


def test_no_pods_no_subsets():
    assert desired_subsets(service([{"port": 80, "targetPort": 80, "protocol": "TCP"}]), []) == []
