"""cordon, uncordon, drain and `get nodes -o wide` against three real masters (Node objects
only: that the pods come back elsewhere is the lab test's, with the controllers running)."""

from test_masters_cli import raftkube

PODS = "/api/v1/namespaces/default/pods"


def node(name):
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
            "status": {"allocatable": {"cpu": "2", "memory": "1Gi", "pods": "10"},
                       "capacity": {"cpu": "2", "memory": "1Gi", "pods": "10"}}}


def bound_pod(name, node_name, owned=True, cpu="250m"):
    meta = {"name": name, "namespace": "default"}
    if owned:
        meta["ownerReferences"] = [{"apiVersion": "v1", "kind": "ReplicationController", "name": "web",
                                    "uid": "6a1f7e0e-0000-4000-8000-000000000001", "controller": True}]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
            "spec": {"nodeName": node_name, "containers": [
                {"name": "c", "image": "busybox", "resources": {"requests": {"cpu": cpu, "memory": "64Mi"}}}]}}


def test_cordon_uncordon_and_drain(masters):
    for name in ("node1", "node2"):
        assert masters.request("m1", "POST", "/api/v1/nodes", node(name))[0] == 201
    for pod in (bound_pod("a", "node1"), bound_pod("b", "node1"), bound_pod("c", "node2"),
                bound_pod("lone", "node1", owned=False)):
        assert masters.request("m1", "POST", PODS, pod)[0] == 201, pod

    wide = raftkube(masters, "get", "nodes", "-o", "wide")
    assert wide.returncode == 0, wide.stderr
    lines = wide.stdout.splitlines()
    assert lines[0].split()[-2:] == ["CPU(REQ/ALLOC)", "MEMORY(REQ/ALLOC)"]
    assert lines[1].split()[0] == "node1" and lines[1].split()[-4:] == ["750m/2", "(37%)", "192Mi/1Gi", "(18%)"]

    cordoned = raftkube(masters, "cordon", "node1")
    assert cordoned.stdout.strip() == "node/node1 cordoned"
    assert raftkube(masters, "cordon", "node1").stdout.strip() == "node/node1 already cordoned"
    assert masters.request("m1", "GET", "/api/v1/nodes/node1")[1]["spec"]["unschedulable"] is True
    assert "SchedulingDisabled" in raftkube(masters, "get", "node", "node1").stdout

    refused = raftkube(masters, "drain", "node1")
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines() == [
        "error: cannot delete Pods that declare no controller (use --force to override): default/lone "
        "(node/node1 stays cordoned)"]
    assert masters.request("m1", "GET", f"{PODS}/a")[0] == 200  # nothing deleted

    drained = raftkube(masters, "drain", "node1", "--force", "--grace-period", "0", "--timeout", "30s")
    assert drained.returncode == 0, drained.stderr
    out = drained.stdout.splitlines()
    assert out[-1] == "node/node1 drained"
    assert {"evicting pod default/a", "evicting pod default/b", "evicting pod default/lone",
            "pod/a evicted", "pod/b evicted", "pod/lone evicted"} <= set(out)
    assert "no controller" in drained.stderr
    for name in ("a", "b", "lone"):
        assert masters.request("m1", "GET", f"{PODS}/{name}")[0] == 404
    assert masters.request("m1", "GET", f"{PODS}/c")[0] == 200

    assert raftkube(masters, "uncordon", "node1").stdout.strip() == "node/node1 uncordoned"
    assert "unschedulable" not in masters.request("m1", "GET", "/api/v1/nodes/node1")[1].get("spec", {})
    missing = raftkube(masters, "drain", "node9")
    assert missing.returncode == 1 and missing.stderr.strip() == 'error: nodes "node9" not found'
    bad = raftkube(masters, "drain", "node1", "--timeout", "soon")
    assert bad.returncode == 1 and "invalid duration" in bad.stderr
