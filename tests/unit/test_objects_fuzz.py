"""Property-style checks: any mangled object gives a ValidationError, never a crash,
and whatever validates is a fixed point (the store re-validates what it stored)."""

import copy
import random

import pytest

from raftkube.state.objects import ValidationError, validate

SAMPLES = [
    {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web", "labels": {"app": "web"}, "annotations": {"a": "b"}},
        "spec": {
            "containers": [
                {
                    "name": "web",
                    "image": "busybox",
                    "command": ["sh", "-c"],
                    "args": ["sleep 1"],
                    "ports": [{"name": "http", "containerPort": 80, "hostPort": 8080}],
                    "env": [{"name": "A", "value": "1"}],
                    "resources": {"limits": {"cpu": "1", "memory": "64Mi"}, "requests": {"cpu": "100m"}},
                    "volumeMounts": [{"name": "data", "mountPath": "/data", "readOnly": True}],
                }
            ],
            "volumes": [{"name": "data", "emptyDir": {}}, {"name": "h", "hostPath": {"path": "/tmp"}}],
            "nodeSelector": {"disk": "ssd"},
            "restartPolicy": "OnFailure",
        },
        "status": {
            "phase": "Running",
            "podIP": "10.244.1.2",
            "containerStatuses": [{"name": "web", "ready": True, "restartCount": 1, "state": {"running": {}}}],
        },
    },
    {
        "apiVersion": "v1",
        "kind": "ReplicationController",
        "metadata": {"name": "web", "namespace": "team"},
        "spec": {
            "replicas": 3,
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "busybox:1.36"}]},
            },
        },
    },
    {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {
            "selector": {"app": "web"},
            "clusterIP": "10.96.0.10",
            "ports": [{"name": "http", "port": 80, "targetPort": "http"}, {"name": "dns", "port": 53, "protocol": "UDP"}],
        },
    },
    {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {"name": "web"},
        "subsets": [{"addresses": [{"ip": "10.244.1.2", "targetRef": {"kind": "Pod", "name": "web"}}], "ports": [{"port": 80}]}],
    },
    {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": "node1"},
        "spec": {"podCIDR": "10.244.1.0/24", "unschedulable": True},
        "status": {
            "capacity": {"cpu": "2", "memory": "4Gi"},
            "addresses": [{"type": "InternalIP", "address": "10.0.0.2"}],
            "conditions": [{"type": "Ready", "status": "True", "lastHeartbeatTime": "2026-11-27T02:40:00Z"}],
        },
    },
    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}},
    {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": "web.1"},
        "involvedObject": {"kind": "Pod", "name": "web"},
        "reason": "Started",
        "count": 1,
        "lastTimestamp": "2026-11-27T02:40:00Z",
    },
]

JUNK = [None, 0, -1, 70000, 1.5, True, "", "x", "Bad Key", "-", [], ["a"], [None], {}, {"a": 1}, {"bad key": "v"}]


def paths(value, prefix=()):
    """Every (path) to a value inside nested dicts and lists."""
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from paths(item, (*prefix, index))


def mangle(obj, rng):
    obj = copy.deepcopy(obj)
    path = rng.choice([p for p in paths(obj) if p])
    parent = obj
    for step in path[:-1]:
        parent = parent[step]
    action = rng.random()
    if action < 0.15 and isinstance(parent, dict):
        del parent[path[-1]]
    elif action < 0.25 and isinstance(parent, dict):
        parent["unexpected" + str(rng.randrange(3))] = rng.choice(JUNK)
    else:
        parent[path[-1]] = copy.deepcopy(rng.choice(JUNK))
    return obj


@pytest.mark.parametrize("sample", SAMPLES, ids=[s["kind"] for s in SAMPLES])
def test_samples_are_valid_and_a_fixed_point(sample):
    result = validate(sample)
    assert validate(result) == result


@pytest.mark.parametrize("seed", range(8))
def test_mangled_objects_never_crash(seed):
    rng = random.Random(seed)
    for _ in range(150):
        obj = mangle(rng.choice(SAMPLES), rng)
        try:
            result = validate(obj)
        except ValidationError as error:
            message = str(error)
            assert "\n" not in message and error.errors
            assert all(isinstance(path, str) and problem for path, problem in error.errors)
        else:
            assert validate(result) == result
