"""Three-way apply: set what the file sets, remove what it dropped, keep what others own."""

import json

from raftkube.client.threeway import LAST_APPLIED, last_applied, last_applied_text, merge, prunable, with_last_applied


def rc(replicas=None, labels=None, containers=None):
    spec = {"template": {"metadata": {"labels": {"app": "web"}},
                         "spec": {"containers": containers or [{"name": "web", "image": "busybox"}]}}}
    if replicas is not None:
        spec["replicas"] = replicas
    meta = {"name": "web", "namespace": "default"}
    if labels is not None:
        meta["labels"] = labels
    return {"apiVersion": "v1", "kind": "ReplicationController", "metadata": meta, "spec": spec}


def applied(manifest, live_extra=None):
    """What the cluster holds after `manifest` was applied, plus what others changed."""
    live = with_last_applied(manifest)
    live["metadata"].update({"uid": "u", "resourceVersion": "4"})
    live["status"] = {"replicas": 3}
    for path, value in (live_extra or {}).items():
        target = live
        *parents, last = path.split(".")
        for key in parents:
            target = target.setdefault(key, {})
        target[last] = value
    return live


def apply_again(manifest, live):
    return merge(last_applied(live), with_last_applied(manifest), live)


def test_the_annotation_is_what_kubectl_writes():
    manifest = rc(labels={"app": "web"})
    text = last_applied_text(manifest)
    assert text.endswith("}\n") and text.count("\n") == 1
    assert text.startswith('{"apiVersion":"v1","kind":"ReplicationController","metadata":{"annotations":{},')
    assert json.loads(text)["metadata"] == {"annotations": {}, "labels": {"app": "web"},
                                            "name": "web", "namespace": "default"}
    # The annotation never records itself, and the manifest is not changed.
    again = with_last_applied(with_last_applied(manifest))
    assert json.loads(again["metadata"]["annotations"][LAST_APPLIED]) == json.loads(text)
    assert "annotations" not in manifest["metadata"]


def test_a_field_removed_from_the_file_is_removed():
    live = applied(rc(labels={"app": "web", "tier": "front"}))
    merged = apply_again(rc(labels={"app": "web"}), live)
    assert merged["metadata"]["labels"] == {"app": "web"}
    merged = apply_again(rc(), live)
    assert "labels" not in merged["metadata"]


def test_fields_the_cluster_owns_are_kept():
    live = applied(rc(), {"spec.replicas": 5, "spec.selector": {"app": "web"}, "metadata.generation": 2})
    merged = apply_again(rc(), live)
    assert merged["spec"]["replicas"] == 5  # scaled, and the file never said
    assert merged["spec"]["selector"] == {"app": "web"}
    assert merged["status"] == {"replicas": 3}
    assert merged["metadata"]["uid"] == "u" and merged["metadata"]["resourceVersion"] == "4"
    assert merged == live  # nothing to change


def test_a_field_the_file_takes_over_is_set_and_given_back_is_removed():
    live = applied(rc(), {"spec.replicas": 5})
    merged = apply_again(rc(replicas=2), live)
    assert merged["spec"]["replicas"] == 2
    live = applied(rc(replicas=2))
    assert "replicas" not in apply_again(rc(), live)["spec"]


def test_containers_merge_by_name_keeping_defaults_the_masters_added():
    live = applied(rc(containers=[{"name": "web", "image": "busybox", "command": ["sleep", "1"]},
                                  {"name": "side", "image": "busybox"}]))
    live["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = "Always"
    merged = apply_again(rc(containers=[{"name": "web", "image": "busybox:2"}]), live)
    containers = merged["spec"]["template"]["spec"]["containers"]
    assert containers == [{"name": "web", "image": "busybox:2", "imagePullPolicy": "Always"}]


def test_ports_merge_by_port_and_keep_an_allocated_node_port():
    manifest = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "namespace": "default"},
                "spec": {"type": "NodePort", "ports": [{"port": 80}]}}
    live = applied(manifest)
    live["spec"]["ports"][0]["nodePort"] = 30001
    live["spec"]["clusterIP"] = "10.96.0.10"
    merged = apply_again(manifest, live)
    assert merged["spec"]["ports"] == [{"port": 80, "nodePort": 30001}]
    assert merged["spec"]["clusterIP"] == "10.96.0.10"


def test_lists_without_a_merge_key_are_replaced():
    manifest = rc(containers=[{"name": "web", "image": "b", "command": ["a", "b"]}])
    live = applied(manifest)
    merged = apply_again(rc(containers=[{"name": "web", "image": "b", "command": ["c"]}]), live)
    assert merged["spec"]["template"]["spec"]["containers"][0]["command"] == ["c"]


def test_an_object_never_applied_loses_nothing():
    live = rc(labels={"app": "web", "set-by-hand": "yes"})
    merged = merge(last_applied(live), with_last_applied(rc(labels={"app": "web"})), live)
    assert merged["metadata"]["labels"] == {"app": "web", "set-by-hand": "yes"}
    assert LAST_APPLIED in merged["metadata"]["annotations"]


def test_a_null_removes_and_a_damaged_annotation_is_ignored():
    live = applied(rc(labels={"a": "1"}))
    manifest = rc(labels={"a": "1"})
    manifest["metadata"]["labels"]["b"] = None
    live["metadata"]["labels"]["b"] = "2"
    assert apply_again(manifest, live)["metadata"]["labels"] == {"a": "1"}
    live["metadata"]["annotations"][LAST_APPLIED] = "not json"
    assert last_applied(live) is None


def test_prune_takes_only_objects_apply_made_and_the_files_dropped():
    made = with_last_applied(rc())
    by_hand = rc()
    by_hand["metadata"]["name"] = "by-hand"
    gone = with_last_applied(rc())
    gone["metadata"]["name"] = "old"
    doomed = prunable([made, by_hand, gone], {("ReplicationController", "default", "web")})
    assert [o["metadata"]["name"] for o in doomed] == ["old"]
