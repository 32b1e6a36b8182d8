"""Probes in a pod spec: Kubernetes' handlers, defaults and range checks."""

import pytest

from raftkube.state.objects import ValidationError, validate


def pod(**probes):
    container = {"name": "web", "image": "nginx:1.25", "ports": [{"name": "http", "containerPort": 80}], **probes}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"}, "spec": {"containers": [container]}}


def problems(obj) -> str:
    with pytest.raises(ValidationError) as caught:
        validate(obj)
    return str(caught.value)


def probe_of(obj, field):
    return validate(obj)["spec"]["containers"][0][field]


def test_defaults_fill_in_as_kubernetes_does():
    probe = probe_of(pod(livenessProbe={"httpGet": {"port": "http"}}), "livenessProbe")
    assert probe == {
        "httpGet": {"path": "/", "port": "http", "scheme": "HTTP"},
        "initialDelaySeconds": 0, "timeoutSeconds": 1, "periodSeconds": 10,
        "successThreshold": 1, "failureThreshold": 3,
    }  # fmt: skip
    zeros = probe_of(pod(readinessProbe={"tcpSocket": {"port": 80}, "periodSeconds": 0, "failureThreshold": 0}), "readinessProbe")
    assert (zeros["periodSeconds"], zeros["failureThreshold"]) == (10, 3)


def test_every_handler_and_field_is_accepted():
    probes = {
        "livenessProbe": {"exec": {"command": ["cat", "/tmp/healthy"]}, "initialDelaySeconds": 5, "periodSeconds": 2,
                          "timeoutSeconds": 3, "failureThreshold": 4, "successThreshold": 1,
                          "terminationGracePeriodSeconds": 7},
        "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080, "host": "127.0.0.1", "scheme": "HTTPS",
                                       "httpHeaders": [{"name": "X-Probe", "value": "1"}]}, "successThreshold": 3},
        "startupProbe": {"tcpSocket": {"port": "http", "host": "localhost"}, "failureThreshold": 30},
    }  # fmt: skip
    container = validate(pod(**probes))["spec"]["containers"][0]
    assert container["readinessProbe"]["successThreshold"] == 3
    assert container["livenessProbe"]["terminationGracePeriodSeconds"] == 7
    assert container["startupProbe"]["tcpSocket"] == {"port": "http", "host": "localhost"}


@pytest.mark.parametrize(
    "probes, message",
    [
        ({"livenessProbe": {"exec": {"command": ["true"]}, "successThreshold": 2}},
         "spec.containers[0].livenessProbe.successThreshold: must be 1"),
        ({"startupProbe": {"exec": {"command": ["true"]}, "successThreshold": 3}},
         "spec.containers[0].startupProbe.successThreshold: must be 1"),
        ({"readinessProbe": {"periodSeconds": 3}}, "readinessProbe.exec: must specify a handler type"),
        ({"readinessProbe": {"exec": {"command": ["true"]}, "tcpSocket": {"port": 1}}},
         "readinessProbe.tcpSocket: may not specify more than 1 handler type"),
        ({"readinessProbe": {"grpc": {"port": 9000}}}, "readinessProbe.grpc: unsupported probe handler"),
        ({"readinessProbe": {"exec": {"command": []}}}, "readinessProbe.exec.command: required value"),
        ({"readinessProbe": {"httpGet": {"path": "/"}}}, "readinessProbe.httpGet.port: required value"),
        ({"readinessProbe": {"httpGet": {"port": 0}}}, "httpGet.port: must be between 1 and 65535"),
        ({"readinessProbe": {"httpGet": {"port": "8080"}}}, "httpGet.port: invalid value \"8080\""),
        ({"readinessProbe": {"httpGet": {"port": 80, "scheme": "FTP"}}}, "httpGet.scheme: unsupported value \"FTP\""),
        ({"readinessProbe": {"httpGet": {"port": 80, "httpHeaders": [{"name": "Bad Name", "value": "x"}]}}},
         "httpHeaders[0].name: invalid value \"Bad Name\""),
        ({"readinessProbe": {"httpGet": {"port": 80, "httpHeaders": [{"name": "X"}]}}}, "httpHeaders[0].value: required value"),
        ({"readinessProbe": {"tcpSocket": {"port": 80}, "timeoutSeconds": -1}},
         "readinessProbe.timeoutSeconds: must be greater than or equal to 0"),
        ({"readinessProbe": {"tcpSocket": {"port": 80}, "initialDelaySeconds": "5"}},
         "readinessProbe.initialDelaySeconds: must be an integer"),
        ({"livenessProbe": {"tcpSocket": {"port": 80}, "terminationGracePeriodSeconds": 0}},
         "livenessProbe.terminationGracePeriodSeconds: must be greater than or equal to 1"),
        ({"livenessProbe": {"tcpSocket": {"port": 80}, "periodSecond": 3}}, "livenessProbe.periodSecond: unknown field"),
        ({"livenessProbe": {"tcpSocket": {"port": 80, "path": "/"}}}, "livenessProbe.tcpSocket.path: unknown field"),
    ],
)  # fmt: skip
def test_bad_probes_are_refused_naming_the_field(probes, message):
    assert message in problems(pod(**probes))


def test_termination_grace_period_must_not_be_negative():
    obj = pod()
    obj["spec"]["terminationGracePeriodSeconds"] = -1
    assert "spec.terminationGracePeriodSeconds: must be greater than or equal to 0" in problems(obj)
