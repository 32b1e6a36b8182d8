"""Pods: containers, ports, resources, env, volumes, and Kubernetes' defaults."""

import pytest

from raftkube.state.objects import ValidationError, validate


def pod(spec=None, **container):
    base = {"name": "web", "image": "nginx:1.25", **container}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web"},
        "spec": {"containers": [base], **(spec or {})},
    }


def problems(obj) -> str:
    with pytest.raises(ValidationError) as caught:
        validate(obj)
    return str(caught.value)


def container_of(obj) -> dict:
    return validate(obj)["spec"]["containers"][0]


def test_pod_defaults():
    spec = validate(pod())["spec"]
    assert spec["restartPolicy"] == "Always"
    assert spec["dnsPolicy"] == "ClusterFirst"
    assert spec["terminationGracePeriodSeconds"] == 30
    assert spec["containers"][0]["resources"] == {}
    assert spec["containers"][0]["imagePullPolicy"] == "IfNotPresent"


@pytest.mark.parametrize(
    ("image", "policy"),
    [
        ("busybox", "Always"),
        ("busybox:latest", "Always"),
        ("busybox:1.36", "IfNotPresent"),
        ("registry:5000/busybox", "Always"),
        ("registry:5000/busybox:1.36", "IfNotPresent"),
        ("busybox@sha256:" + "a" * 64, "IfNotPresent"),
    ],
)
def test_image_pull_policy_default_follows_the_tag(image, policy):
    assert container_of(pod(image=image))["imagePullPolicy"] == policy


def test_explicit_pull_policy_is_kept_and_checked():
    assert container_of(pod(image="busybox", imagePullPolicy="Never"))["imagePullPolicy"] == "Never"
    assert 'imagePullPolicy: unsupported value "Sometimes"' in problems(pod(imagePullPolicy="Sometimes"))


def test_unknown_container_field_is_named_with_its_path():
    obj = pod()
    obj["spec"]["containers"][0]["imagee"] = "x"
    assert problems(obj) == 'Pod "web": spec.containers[0].imagee: unknown field'


def test_unknown_spec_field():
    assert "spec.initContainers: unknown field" in problems(pod({"initContainers": []}))


def test_spec_and_containers_are_required():
    obj = pod()
    del obj["spec"]
    assert problems(obj) == 'Pod "web": spec: required value'
    assert problems(pod({"containers": []})) == 'Pod "web": spec.containers: required value'
    assert "spec.containers: must be a list" in problems(pod({"containers": {"name": "x"}}))
    assert "spec.containers[0]: must be an object" in problems(pod({"containers": ["nginx"]}))


def test_container_name_and_image_are_required():
    obj = pod()
    obj["spec"]["containers"][0] = {}
    message = problems(obj)
    assert "spec.containers[0].name: required value" in message
    assert "spec.containers[0].image: required value" in message
    assert "spec.containers[0].image: required value" in problems(pod(image=""))


def test_container_names_are_dns_labels():
    assert 'spec.containers[0].name: invalid value "Web_1"' in problems(pod(name="Web_1"))
    assert "must be no more than 63 characters" in problems(pod(name="a" * 64))


def test_container_names_are_unique():
    obj = pod()
    obj["spec"]["containers"].append({"name": "web", "image": "redis"})
    assert problems(obj) == 'Pod "web": spec.containers[1].name: duplicate value "web"'


def test_command_and_args_are_lists_of_strings():
    c = container_of(pod(command=["sh", "-c"], args=["echo hi"], workingDir="/tmp"))
    assert (c["command"], c["args"], c["workingDir"]) == (["sh", "-c"], ["echo hi"], "/tmp")
    assert "spec.containers[0].command: must be a list" in problems(pod(command="sleep 1"))
    assert "spec.containers[0].args[1]: must be a string" in problems(pod(args=["a", 5]))


def test_restart_policy_values():
    for policy in ("Always", "OnFailure", "Never"):
        assert validate(pod({"restartPolicy": policy}))["spec"]["restartPolicy"] == policy
    assert problems(pod({"restartPolicy": "always"})) == (
        'Pod "web": spec.restartPolicy: unsupported value "always": '
        'supported values: "Always", "OnFailure", "Never"'
    )


def test_dns_policy_and_grace_period():
    assert validate(pod({"dnsPolicy": "Default"}))["spec"]["dnsPolicy"] == "Default"
    assert "spec.dnsPolicy: unsupported value" in problems(pod({"dnsPolicy": "None"}))
    grace = {"terminationGracePeriodSeconds": 0}
    assert validate(pod(grace))["spec"]["terminationGracePeriodSeconds"] == 0
    assert "must be greater than or equal to 0" in problems(pod({"terminationGracePeriodSeconds": -1}))
    assert "must be an integer" in problems(pod({"terminationGracePeriodSeconds": "30"}))
    assert "activeDeadlineSeconds: must be greater than or equal to 1" in problems(
        pod({"activeDeadlineSeconds": 0})
    )


def test_node_name_and_selector():
    spec = validate(pod({"nodeName": "node1", "nodeSelector": {"disk": "ssd"}}))["spec"]
    assert spec["nodeName"] == "node1" and spec["nodeSelector"] == {"disk": "ssd"}
    assert 'spec.nodeName: invalid value "Node_1"' in problems(pod({"nodeName": "Node_1"}))
    assert 'spec.nodeSelector: invalid key "bad key"' in problems(pod({"nodeSelector": {"bad key": "x"}}))
    assert "spec.hostname: invalid value" in problems(pod({"hostname": "a.b"}))


# Ports


def test_container_ports_default_to_tcp():
    c = container_of(pod(ports=[{"containerPort": 80, "name": "http"}, {"containerPort": 53, "protocol": "UDP"}]))
    assert c["ports"] == [
        {"containerPort": 80, "name": "http", "protocol": "TCP"},
        {"containerPort": 53, "protocol": "UDP"},
    ]


@pytest.mark.parametrize(
    ("port", "fragment"),
    [
        ({}, "ports[0].containerPort: required value"),
        ({"containerPort": 0}, "ports[0].containerPort: must be between 1 and 65535, inclusive"),
        ({"containerPort": 65536}, "must be between 1 and 65535, inclusive"),
        ({"containerPort": "80"}, "ports[0].containerPort: must be an integer"),
        ({"containerPort": 80.5}, "must be an integer"),
        ({"containerPort": True}, "must be an integer"),
        ({"containerPort": 80, "protocol": "HTTP"}, 'protocol: unsupported value "HTTP": supported values: "TCP", "UDP", "SCTP"'),
        ({"containerPort": 80, "hostPort": 70000}, "hostPort: must be between 0 and 65535"),
        ({"containerPort": 80, "hostIP": "1.2.3"}, 'hostIP: invalid value "1.2.3": must be a valid IPv4 address'),
        ({"containerPort": 80, "name": "HTTP"}, 'ports[0].name: invalid value "HTTP"'),
        ({"containerPort": 80, "name": "a-very-long-port-name"}, "must be no more than 15 characters"),
        ({"containerPort": 80, "name": "80"}, "must contain at least one letter"),
        ({"containerPort": 80, "name": "a--b"}, "must not contain consecutive hyphens"),
        ({"containerPort": 80, "name": "-ab"}, "must not begin or end with a hyphen"),
    ],
)
def test_bad_container_ports(port, fragment):
    assert fragment in problems(pod(ports=[port]))


def test_port_names_are_unique_in_a_container():
    ports = [{"containerPort": 80, "name": "http"}, {"containerPort": 81, "name": "http"}]
    assert 'spec.containers[0].ports[1].name: duplicate value "http"' in problems(pod(ports=ports))


def test_host_ports_are_unique_in_a_pod():
    obj = pod(ports=[{"containerPort": 80, "hostPort": 8080}])
    obj["spec"]["containers"].append({"name": "b", "image": "x", "ports": [{"containerPort": 81, "hostPort": 8080}]})
    assert 'spec.containers[1].ports[0].hostPort: duplicate value "8080/TCP"' in problems(obj)
    obj["spec"]["containers"][1]["ports"][0]["protocol"] = "UDP"
    validate(obj)


# Environment


def test_env():
    env = [{"name": "A", "value": "1"}, {"name": "my.var-x", "value": ""}, {"name": "EMPTY"}]
    assert container_of(pod(env=env))["env"] == env


@pytest.mark.parametrize(
    ("var", "fragment"),
    [
        ({"value": "x"}, "env[0].name: required value"),
        ({"name": "1A"}, 'env[0].name: invalid value "1A": a valid environment variable name'),
        ({"name": "A B"}, "a valid environment variable name"),
        ({"name": "A", "value": 1}, "env[0].value: must be a string"),
        ({"name": "A", "valueFrom": {}}, "env[0].valueFrom: unknown field"),
    ],
)
def test_bad_env(var, fragment):
    assert fragment in problems(pod(env=[var]))


# Resources


def test_resources_are_checked_and_requests_default_to_limits():
    resources = {"limits": {"cpu": "1", "memory": "128Mi"}, "requests": {"cpu": "100m"}}
    assert container_of(pod(resources=resources))["resources"] == {
        "limits": {"cpu": "1", "memory": "128Mi"},
        "requests": {"cpu": "100m", "memory": "128Mi"},
    }


@pytest.mark.parametrize("cpu", ["100m", "0.5", "1e3", 2, 0.5, "1k"])
def test_cpu_quantity_forms(cpu):
    requests = container_of(pod(resources={"requests": {"cpu": cpu}}))["resources"]["requests"]
    assert requests["cpu"] == (cpu if isinstance(cpu, str) else repr(cpu))


@pytest.mark.parametrize("memory", ["64Mi", "1G", "1e3", "128974848", "1.5Gi"])
def test_memory_quantity_forms(memory):
    validate(pod(resources={"limits": {"memory": memory}}))


@pytest.mark.parametrize(
    ("resources", "fragment"),
    [
        ({"limits": {"cpu": "lots"}}, 'resources.limits: cpu: invalid quantity "lots"'),
        ({"requests": {"memory": "1KB"}}, 'resources.requests: memory: invalid quantity "1KB"'),
        ({"requests": {"memory": "-1"}}, "resources.requests: memory: must be greater than or equal to 0"),
        ({"limits": {"nvidia.com/gpu": 1}}, 'resources.limits: unsupported resource "nvidia.com/gpu"'),
        ({"requests": {"cpu": "2"}, "limits": {"cpu": "1"}}, "resources.requests: cpu: must be less than or equal to cpu limit of 1"),
        ({"requests": {"memory": "2Gi"}, "limits": {"memory": "1G"}}, "memory: must be less than or equal to memory limit of 1G"),
        ({"limit": {}}, "resources.limit: unknown field"),
        ({"limits": "1"}, "resources.limits: must be an object"),
    ],
)
def test_bad_resources(resources, fragment):
    assert fragment in problems(pod(resources=resources))


# Volumes


def test_volumes_and_mounts():
    spec = {
        "volumes": [
            {"name": "scratch", "emptyDir": {}},
            {"name": "ram", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}},
            {"name": "logs", "hostPath": {"path": "/var/log", "type": "Directory"}},
            {"name": "implicit"},
        ]
    }
    mounts = [{"name": "scratch", "mountPath": "/scratch"}, {"name": "logs", "mountPath": "/logs", "readOnly": True}]
    result = validate(pod(spec, volumeMounts=mounts))["spec"]
    assert result["volumes"][3] == {"name": "implicit", "emptyDir": {}}  # as Kubernetes defaults
    assert result["containers"][0]["volumeMounts"] == mounts


@pytest.mark.parametrize(
    ("volume", "fragment"),
    [
        ({"name": "v", "configMap": {"name": "x"}}, "spec.volumes[0].configMap: unsupported volume type: supported types: emptyDir, hostPath"),
        ({"name": "v", "persistentVolumeClaim": {}}, "spec.volumes[0].persistentVolumeClaim: unsupported volume type"),
        ({"name": "v", "secret": {}}, "unsupported volume type"),
        ({"name": "v", "emptyDir": {}, "hostPath": {"path": "/"}}, "spec.volumes[0].hostPath: may not specify more than 1 volume type"),
        ({"name": "v", "hostPath": {}}, "spec.volumes[0].hostPath.path: required value"),
        ({"name": "v", "hostPath": {"path": "/x", "type": "Dir"}}, 'hostPath.type: unsupported value "Dir"'),
        ({"name": "v", "emptyDir": {"medium": "Disk"}}, 'emptyDir.medium: unsupported value "Disk"'),
        ({"name": "v", "emptyDir": {"sizeLimit": "big"}}, 'emptyDir.sizeLimit: invalid quantity "big"'),
        ({"emptyDir": {}}, "spec.volumes[0].name: required value"),
        ({"name": "V", "emptyDir": {}}, 'spec.volumes[0].name: invalid value "V"'),
        ({"name": "v", "nonsense": {}}, "spec.volumes[0].nonsense: unknown field"),
    ],
)
def test_bad_volumes(volume, fragment):
    assert fragment in problems(pod({"volumes": [volume]}))


def test_volume_names_are_unique():
    volumes = [{"name": "v", "emptyDir": {}}, {"name": "v", "emptyDir": {}}]
    assert problems(pod({"volumes": volumes})) == 'Pod "web": spec.volumes[1].name: duplicate value "v"'


def test_mounts_must_name_a_declared_volume():
    obj = pod({"volumes": [{"name": "data"}]}, volumeMounts=[{"name": "date", "mountPath": "/d"}])
    assert problems(obj) == (
        'Pod "web": spec.containers[0].volumeMounts[0].name: not found: no volume named "date"'
    )


def test_mount_paths():
    spec = {"volumes": [{"name": "a"}, {"name": "b"}]}
    relative = [{"name": "a", "mountPath": "data"}]
    assert 'volumeMounts[0].mountPath: invalid value "data": must be an absolute path' in problems(pod(spec, volumeMounts=relative))
    twice = [{"name": "a", "mountPath": "/d"}, {"name": "b", "mountPath": "/d"}]
    assert 'volumeMounts[1].mountPath: duplicate value "/d"' in problems(pod(spec, volumeMounts=twice))
    assert "volumeMounts[0].mountPath: required value" in problems(pod(spec, volumeMounts=[{"name": "a"}]))


# Status


def test_pod_status_is_accepted_and_type_checked():
    status = {
        "phase": "Running",
        "podIP": "10.244.1.5",
        "hostIP": "10.0.0.2",
        "startTime": "2026-11-27T02:40:00Z",
        "conditions": [{"type": "Ready", "status": "True"}],
        "containerStatuses": [
            {
                "name": "web",
                "ready": True,
                "restartCount": 0,
                "state": {"running": {"startedAt": "2026-11-27T02:40:01Z"}},
                "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}},
                "containerID": "docker://abc",
            }
        ],
        "raftkubeNote": "kept: status is written by our own loops",
    }
    obj = pod()
    obj["status"] = status
    assert validate(obj)["status"] == status
    obj["status"] = {"phase": "Sleeping", "podIP": "nope"}
    message = problems(obj)
    assert 'status.phase: unsupported value "Sleeping"' in message
    assert 'status.podIP: invalid value "nope"' in message


def test_cross_field_problems_are_reported_with_field_problems():
    obj = pod({"volumes": [{"name": "v"}, {"name": "v"}], "restartPolicy": "Sometimes"}, imagee="x")
    obj["spec"]["containers"].append({"name": "web", "image": "redis", "volumeMounts": [{"name": "w", "mountPath": "w"}]})
    message = problems(obj)
    for part in [
        "spec.containers[0].imagee: unknown field",
        'spec.containers[1].volumeMounts[0].mountPath: invalid value "w": must be an absolute path',
        'spec.restartPolicy: unsupported value "Sometimes"',
        'spec.containers[1].name: duplicate value "web"',
        'spec.volumes[1].name: duplicate value "v"',
        'spec.containers[1].volumeMounts[0].name: not found: no volume named "w"',
    ]:
        assert part in message
    assert message.count("; ") == 5


@pytest.mark.parametrize("containers", [["nginx"], [None], "nginx", [{"name": ["x"], "image": "y"}]])
def test_odd_shapes_give_errors_not_crashes(containers):
    problems(pod({"containers": containers}))
