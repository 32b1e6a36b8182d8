"""describe shows a pod's probes and QoS class as kubectl does."""

from raftkube.client.describing import describe, probe_text
from raftkube.state.objects import validate


def test_probe_lines_read_like_kubectls():
    assert probe_text({"exec": {"command": ["cat", "/tmp/healthy"]}, "initialDelaySeconds": 5, "timeoutSeconds": 1,
                       "periodSeconds": 5, "successThreshold": 1, "failureThreshold": 3}) == (
        "exec [cat /tmp/healthy] delay=5s timeout=1s period=5s #success=1 #failure=3")
    assert probe_text({"httpGet": {"path": "/ready", "port": 8080, "scheme": "HTTP"}}) == (
        "http-get http://:8080/ready delay=0s timeout=1s period=10s #success=1 #failure=3")
    assert probe_text({"tcpSocket": {"port": "http"}, "failureThreshold": 30}).startswith("tcp-socket :http delay=0s")


def test_describe_pod_lists_probes_and_qos_class():
    pod = validate({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "default"},
                    "spec": {"containers": [{"name": "app", "image": "busybox",
                                             "livenessProbe": {"tcpSocket": {"port": 80}},
                                             "readinessProbe": {"httpGet": {"port": 80, "path": "/ready"}}}]}})
    pod["status"] = {"phase": "Running", "qosClass": "BestEffort"}
    lines = describe(pod, [], "2026-11-30T17:00:00Z").splitlines()
    assert "    Liveness:       tcp-socket :80 delay=0s timeout=1s period=10s #success=1 #failure=3" in lines
    assert "    Readiness:      http-get http://:80/ready delay=0s timeout=1s period=10s #success=1 #failure=3" in lines
    assert not any(line.strip().startswith("Startup:") for line in lines)
    assert any(line.split() == ["QoS", "Class:", "BestEffort"] for line in lines)
