"""Updates: what Kubernetes keeps immutable, and allocated values a re-apply omits."""

import pytest

from raftkube.state.objects import ValidationError, validate, validate_update


def pod(image="busybox:1.36", **spec):
    return validate({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web"},
        "spec": {"containers": [{"name": "app", "image": image}], **spec},
    })  # fmt: skip


def test_pod_status_and_metadata_updates_are_fine():
    old = pod()
    new = {**old, "status": {"phase": "Running"}, "metadata": {**old["metadata"], "labels": {"a": "b"}}}
    assert validate_update(old, new) == new


def test_pod_image_and_deadline_may_change():
    validate_update(pod(), pod(image="busybox:1.37", activeDeadlineSeconds=60))


def test_pod_may_be_scheduled_once():
    scheduled = pod(nodeName="node1")
    assert validate_update(pod(), scheduled)["spec"]["nodeName"] == "node1"
    with pytest.raises(ValidationError) as caught:
        validate_update(scheduled, pod(nodeName="node2"))
    assert str(caught.value) == 'Pod "web": spec.nodeName: field is immutable once the pod is scheduled'
    with pytest.raises(ValidationError):
        validate_update(scheduled, pod())


def test_other_pod_spec_changes_are_forbidden():
    with pytest.raises(ValidationError) as caught:
        validate_update(pod(), pod(restartPolicy="Never"))
    assert str(caught.value) == (
        'Pod "web": spec: forbidden: pod updates may not change fields other than '
        "spec.containers[*].image, spec.activeDeadlineSeconds, spec.nodeName (once)"
    )


def service(cluster_ip=None):
    spec = {"ports": [{"port": 80}]}
    if cluster_ip:
        spec["clusterIP"] = cluster_ip
    return validate({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}, "spec": spec})


def test_service_cluster_ip_is_carried_over_and_immutable():
    old = service("10.96.0.10")
    reapplied = service()
    assert validate_update(old, reapplied)["spec"]["clusterIP"] == "10.96.0.10"
    assert "clusterIP" not in reapplied["spec"]  # the argument is left alone
    assert validate_update(service(), service("10.96.0.11"))["spec"]["clusterIP"] == "10.96.0.11"
    with pytest.raises(ValidationError) as caught:
        validate_update(old, service("10.96.0.11"))
    assert 'spec.clusterIP: field is immutable: "10.96.0.10" cannot change to "10.96.0.11"' in str(caught.value)


def test_node_pod_cidr_is_carried_over_and_immutable():
    def node(cidr=None):
        spec = {"podCIDR": cidr} if cidr else {}
        return validate({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}, "spec": spec})

    assert validate_update(node("10.244.1.0/24"), node())["spec"]["podCIDR"] == "10.244.1.0/24"
    with pytest.raises(ValidationError, match="spec.podCIDR: field is immutable"):
        validate_update(node("10.244.1.0/24"), node("10.244.2.0/24"))


def test_other_kinds_update_freely():
    ns = validate({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a"}})
    assert validate_update(ns, ns) == ns


def test_pull_policy_follows_a_changed_image():
    assert validate_update(pod(), pod(image="busybox"))["spec"]["containers"][0]["imagePullPolicy"] == "Always"


def test_adding_a_container_is_forbidden():
    new = pod()
    new["spec"]["containers"].append({"name": "b", "image": "x", "resources": {}, "imagePullPolicy": "Always"})
    with pytest.raises(ValidationError, match="pod updates may not change"):
        validate_update(pod(), new)
