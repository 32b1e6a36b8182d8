"""PATCH semantics by Content-Type: merge, strategic merge (Kubernetes' merge keys), JSON patch."""

import pytest

from raftkube.state.patching import (
    APPLY,
    JSON_PATCH,
    MERGE,
    STRATEGIC,
    PatchError,
    apply_patch,
    json_patch,
    strategic_merge_patch,
)

RC = {"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": "web", "finalizers": ["a"]},
      "spec": {"replicas": 2, "template": {"spec": {"containers": [
          {"name": "web", "image": "v1", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
           "ports": [{"containerPort": 80, "protocol": "TCP"}, {"containerPort": 8080, "protocol": "TCP"}],
           "volumeMounts": [{"name": "d", "mountPath": "/d"}]},
          {"name": "side", "image": "s1"}]}}}}


def containers(obj):
    return obj["spec"]["template"]["spec"]["containers"]


def test_strategic_merges_containers_by_name_and_keeps_their_ports_and_env():
    patched = strategic_merge_patch(RC, {"spec": {"template": {"spec": {"containers": [
        {"name": "web", "image": "v2"}]}}}})
    web, side = containers(patched)
    assert web["image"] == "v2" and len(web["env"]) == 2 and len(web["ports"]) == 2 and side["image"] == "s1"
    assert containers(RC)[0]["image"] == "v1"  # the original is untouched
    # A merge patch replaces the whole list instead (what the API did before).
    merged = apply_patch(RC, MERGE, {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "v2"}]}}}})
    assert containers(merged) == [{"name": "web", "image": "v2"}]


def test_kubectl_apply_style_patch_removes_env_port_and_container():
    # What `kubectl apply` sends when B, port 8080 and the side container left the file.
    patch = {"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "web"}],
        "containers": [
            {"name": "web", "$setElementOrder/env": [{"name": "A"}],
             "$setElementOrder/ports": [{"containerPort": 80}],
             "env": [{"$patch": "delete", "name": "B"}],
             "ports": [{"$patch": "delete", "containerPort": 8080}]},
            {"$patch": "delete", "name": "side"}]}}}}
    web, = containers(strategic_merge_patch(RC, patch))
    assert web["env"] == [{"name": "A", "value": "1"}]
    assert web["ports"] == [{"containerPort": 80, "protocol": "TCP"}]


def test_merge_keys_for_mounts_service_ports_and_conditions():
    pod = {"spec": {"containers": [{"name": "c", "volumeMounts": [{"name": "a", "mountPath": "/a"}]}]},
           "status": {"conditions": [{"type": "Ready", "status": "False"}, {"type": "PodScheduled", "status": "True"}]}}
    patched = strategic_merge_patch(pod, {
        "spec": {"containers": [{"name": "c", "volumeMounts": [{"name": "b", "mountPath": "/b"}]}]},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]}})
    assert [m["mountPath"] for m in patched["spec"]["containers"][0]["volumeMounts"]] == ["/a", "/b"]
    assert patched["status"]["conditions"][0] == {"type": "Ready", "status": "True"}
    assert len(patched["status"]["conditions"]) == 2
    svc = {"spec": {"ports": [{"port": 80, "targetPort": 8080}, {"port": 443}]}}
    assert strategic_merge_patch(svc, {"spec": {"ports": [{"port": 80, "targetPort": 9090}]}})["spec"]["ports"] == [
        {"port": 80, "targetPort": 9090}, {"port": 443}]


def test_directives_replace_retain_keys_primitive_lists_and_order():
    replaced = strategic_merge_patch(RC, {"spec": {"template": {"spec": {"containers": [
        {"name": "only", "image": "x"}, {"$patch": "replace"}]}}}})
    assert containers(replaced) == [{"name": "only", "image": "x"}]
    swapped = strategic_merge_patch({"spec": {"a": 1, "b": 2}}, {"spec": {"$patch": "replace", "c": 3}})
    assert swapped == {"spec": {"c": 3}}
    retained = strategic_merge_patch({"s": {"type": "A", "a": {"x": 1}}},
                                     {"s": {"$retainKeys": ["type", "b"], "type": "B", "b": {"y": 2}}})
    assert retained == {"s": {"type": "B", "b": {"y": 2}}}
    assert strategic_merge_patch(RC, {"metadata": {"finalizers": ["b", "a"]}})["metadata"]["finalizers"] == ["a", "b"]
    dropped = strategic_merge_patch(RC, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}})
    assert dropped["metadata"]["finalizers"] == []
    reordered = strategic_merge_patch(RC, {"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "side"}, {"name": "web"}]}}}})
    assert [c["name"] for c in containers(reordered)] == ["side", "web"]
    assert strategic_merge_patch({"a": {"b": 1}, "c": 1}, {"a": {"$patch": "delete"}, "c": None}) == {}


def test_strategic_patch_errors_are_patch_errors():
    with pytest.raises(PatchError, match="merge key"):
        strategic_merge_patch(RC, {"spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}})
    with pytest.raises(PatchError):
        strategic_merge_patch(RC, {"spec": {"$patch": "explode"}})


def test_json_patch_operations():
    doc = {"metadata": {"labels": {"a/b": "1"}}, "spec": {"list": [1, 2]}}
    patched = json_patch(doc, [
        {"op": "add", "path": "/metadata/labels/c", "value": "2"},
        {"op": "remove", "path": "/metadata/labels/a~1b"},
        {"op": "replace", "path": "/spec/list/0", "value": 9},
        {"op": "add", "path": "/spec/list/-", "value": 3},
        {"op": "copy", "from": "/spec/list", "path": "/spec/copy"},
        {"op": "move", "from": "/spec/copy", "path": "/spec/moved"},
        {"op": "test", "path": "/spec/moved/0", "value": 9},
    ])
    assert patched == {"metadata": {"labels": {"c": "2"}}, "spec": {"list": [9, 2, 3], "moved": [9, 2, 3]}}
    assert doc["spec"]["list"] == [1, 2]
    with pytest.raises(PatchError, match="test failed"):
        json_patch(doc, [{"op": "test", "path": "/spec/list/0", "value": 5}])
    with pytest.raises(PatchError, match="does not exist"):
        json_patch(doc, [{"op": "remove", "path": "/nope"}])
    with pytest.raises(PatchError):
        apply_patch(doc, JSON_PATCH, {"op": "add"})


def test_apply_patch_dispatch():
    assert apply_patch({"a": [1]}, STRATEGIC, {"b": 1}) == {"a": [1], "b": 1}
    assert containers(apply_patch(RC, APPLY, {"spec": {"template": {"spec": {"containers": [
        {"name": "web", "image": "v3"}]}}}}))[0]["env"]


def test_endpoints_subsets_are_atomic_but_node_addresses_merge_by_type():
    endpoints = {"subsets": [{"addresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 80}]}]}
    patched = strategic_merge_patch(endpoints, {"subsets": [{"addresses": [{"ip": "10.0.0.2"}], "ports": [{"port": 80}]}]})
    assert patched == {"subsets": [{"addresses": [{"ip": "10.0.0.2"}], "ports": [{"port": 80}]}]}
    node = {"status": {"addresses": [{"type": "InternalIP", "address": "a"}, {"type": "Hostname", "address": "n"}]}}
    patched = strategic_merge_patch(node, {"status": {"addresses": [{"type": "InternalIP", "address": "b"}]}})
    assert patched["status"]["addresses"] == [{"type": "InternalIP", "address": "b"}, {"type": "Hostname", "address": "n"}]
