"""`get` output: kubectl's tables, ages and status words; json, yaml and names."""

import datetime
import json

import pytest
import yaml

from raftkube.client.printing import (
    OutputError,
    format_endpoints,
    format_objects,
    human_age,
    human_duration,
    nothing_found,
    pod_status,
)
from raftkube.state.objects import kind_info

NOW = datetime.datetime(2026, 11, 27, 12, 0, 0, tzinfo=datetime.timezone.utc)


def ago(**delta) -> str:
    return (NOW - datetime.timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


def running_pod(name="web", namespace="default", restarts=0, **status):
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "creationTimestamp": ago(minutes=5)},
        "spec": {"containers": [{"name": "app", "image": "busybox"}], "nodeName": "node1"},
        "status": {
            "phase": "Running",
            "podIP": "10.244.1.5",
            "containerStatuses": [
                {"name": "app", "ready": True, "restartCount": restarts, "state": {"running": {}}}
            ],
            **status,
        },
    }


def table(objects, kind, output="", **kwargs) -> list[list[str]]:
    text = format_objects(objects, output, kind_info(kind), NOW, **kwargs)
    return [line.split() for line in text.splitlines()]


# Ages


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (-0.5, "0s"),
        (-5, "<invalid>"),
        (5, "5s"),
        (119, "119s"),
        (120, "2m"),
        (200, "3m20s"),
        (600, "10m"),
        (3 * 3600 - 1, "179m"),
        (3 * 3600, "3h"),
        (3 * 3600 + 1800, "3h30m"),
        (8 * 3600, "8h"),
        (47 * 3600, "47h"),
        (48 * 3600, "2d"),
        (4 * 86400 + 5 * 3600, "4d5h"),
        (8 * 86400, "8d"),
        (400 * 86400, "400d"),
        (2 * 365 * 86400, "2y"),
        (3 * 365 * 86400 + 10 * 86400, "3y10d"),
        (9 * 365 * 86400, "9y"),
    ],
)
def test_human_duration_matches_kubectl(seconds, text):
    assert human_duration(seconds) == text


def test_human_age():
    assert human_age(ago(seconds=5), NOW) == "5s"
    assert human_age(ago(hours=5), NOW.timestamp()) == "5h"
    assert human_age("2026-11-27T11:59:30.123456+00:00", NOW) == "29s"
    assert human_age(None, NOW) == "<unknown>"
    assert human_age("garbage", NOW) == "<unknown>"


# Pods


def test_pod_table():
    pods = [running_pod(restarts=3), {"kind": "Pod", "metadata": {"name": "new"}, "spec": {"containers": [{}, {}]}}]
    assert table(pods, "pods") == [
        ["NAME", "READY", "STATUS", "RESTARTS", "AGE"],
        ["web", "1/1", "Running", "3", "5m"],
        ["new", "0/2", "Pending", "0", "<unknown>"],
    ]


def test_pod_table_columns_align_like_kubectl():
    text = format_objects([running_pod(name="a-rather-long-pod-name")], "", kind_info("po"), NOW)
    header, row = text.splitlines()
    assert header == "NAME                     READY   STATUS    RESTARTS   AGE"
    assert row == "a-rather-long-pod-name   1/1     Running   0          5m"


def test_pod_wide_and_all_namespaces():
    pods = [running_pod(namespace="team-a"), {"kind": "Pod", "metadata": {"name": "p", "namespace": "b"}, "spec": {"containers": [{}]}}]
    assert table(pods, "pod", "wide", all_namespaces=True) == [
        ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE"],
        ["team-a", "web", "1/1", "Running", "0", "5m", "10.244.1.5", "node1"],
        ["b", "p", "0/1", "Pending", "0", "<unknown>", "<none>", "<none>"],
    ]


@pytest.mark.parametrize(
    ("state", "ready", "status"),
    [
        ({"waiting": {"reason": "ImagePullBackOff"}}, False, "ImagePullBackOff"),
        ({"waiting": {"reason": "CrashLoopBackOff"}}, False, "CrashLoopBackOff"),
        ({"terminated": {"reason": "Completed", "exitCode": 0}}, False, "Completed"),
        ({"terminated": {"exitCode": 2}}, False, "ExitCode:2"),
        ({"terminated": {"exitCode": 137, "signal": 9}}, False, "Signal:9"),
        ({"running": {}}, True, "Running"),
    ],
)
def test_pod_status_words(state, ready, status):
    pod = running_pod()
    pod["status"]["containerStatuses"][0].update(state=state, ready=ready)
    assert pod_status(pod)[0] == status


def test_terminating_pod():
    pod = running_pod()
    pod["metadata"]["deletionTimestamp"] = ago(seconds=1)
    assert pod_status(pod) == ("Terminating", 1, 0)


def test_pod_reason_overrides_phase():
    pod = running_pod(reason="Evicted", phase="Failed")
    pod["status"]["containerStatuses"] = []
    assert pod_status(pod) == ("Evicted", 0, 0)


# Other kinds


def test_rc_table_and_wide():
    rc = {
        "kind": "ReplicationController",
        "metadata": {"name": "web", "creationTimestamp": ago(hours=4)},
        "spec": {"replicas": 3, "selector": {"app": "web", "tier": "front"}, "template": {"spec": {"containers": [{"name": "app", "image": "busybox:1.36"}, {"name": "side", "image": "redis"}]}}},
        "status": {"replicas": 3, "readyReplicas": 2},
    }
    assert table([rc], "rc") == [["NAME", "DESIRED", "CURRENT", "READY", "AGE"], ["web", "3", "3", "2", "4h"]]
    assert table([rc], "rc", "wide")[1][5:] == ["app,side", "busybox:1.36,redis", "app=web,tier=front"]


def test_service_table():
    svc = {
        "kind": "Service",
        "metadata": {"name": "web", "creationTimestamp": ago(days=4)},
        "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.12", "selector": {"app": "web"}, "ports": [{"port": 80, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}]},
    }
    headless = {"kind": "Service", "metadata": {"name": "db"}, "spec": {"clusterIP": "None", "ports": []}}
    assert table([svc, headless], "svc", "wide") == [
        ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE", "SELECTOR"],
        ["web", "ClusterIP", "10.96.0.12", "<none>", "80/TCP,53/UDP", "4d", "app=web"],
        ["db", "ClusterIP", "None", "<none>", "<none>", "<unknown>", "<none>"],
    ]


def test_node_table():
    ready = {
        "kind": "Node",
        "metadata": {"name": "node1", "creationTimestamp": ago(minutes=30), "labels": {"node-role.kubernetes.io/worker": ""}},
        "spec": {"unschedulable": True},
        "status": {"conditions": [{"type": "Ready", "status": "True"}], "addresses": [{"type": "InternalIP", "address": "10.0.0.2"}], "nodeInfo": {"kernelVersion": "6.1.0", "osImage": "Debian", "containerRuntimeVersion": "docker://20.10"}},
    }
    down = {"kind": "Node", "metadata": {"name": "node2"}, "status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}}
    fresh = {"kind": "Node", "metadata": {"name": "node3"}}
    assert table([ready, down, fresh], "nodes", "wide", all_namespaces=True) == [
        ["NAME", "STATUS", "ROLES", "AGE", "VERSION", "INTERNAL-IP", "EXTERNAL-IP", "OS-IMAGE", "KERNEL-VERSION", "CONTAINER-RUNTIME"],
        ["node1", "Ready,SchedulingDisabled", "worker", "30m", "<none>", "10.0.0.2", "<none>", "Debian", "6.1.0", "docker://20.10"],
        ["node2", "NotReady", "<none>", "<unknown>", "<none>", "<none>", "<none>", "<unknown>", "<unknown>", "<unknown>"],
        ["node3", "Unknown", "<none>", "<unknown>", "<none>", "<none>", "<none>", "<unknown>", "<unknown>", "<unknown>"],
    ]


def test_namespace_table():
    ns = [{"kind": "Namespace", "metadata": {"name": "default", "creationTimestamp": ago(days=1)}, "status": {"phase": "Active"}}]
    assert table(ns, "ns") == [["NAME", "STATUS", "AGE"], ["default", "Active", "24h"]]


def test_endpoints_column():
    ep = {"subsets": [{"addresses": [{"ip": f"10.244.1.{i}"} for i in range(1, 6)], "ports": [{"port": 80}]}]}
    assert format_endpoints(ep) == "10.244.1.1:80,10.244.1.2:80,10.244.1.3:80 + 2 more..."
    assert format_endpoints({"subsets": [{"addresses": [{"ip": "10.0.0.1"}]}]}) == "10.0.0.1"
    assert format_endpoints({"subsets": [{"notReadyAddresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 1}]}]}) == "<none>"
    assert format_endpoints({}) == "<none>"
    two_ports = {"subsets": [{"addresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 80}, {"port": 443}]}]}
    assert format_endpoints(two_ports) == "10.0.0.1:80,10.0.0.1:443"


def test_endpoints_table():
    ep = {"kind": "Endpoints", "metadata": {"name": "web"}, "subsets": [{"addresses": [{"ip": "10.244.1.5"}], "ports": [{"port": 80}]}]}
    assert table([ep], "ep") == [["NAME", "ENDPOINTS", "AGE"], ["web", "10.244.1.5:80", "<unknown>"]]


def test_event_table():
    event = {
        "kind": "Event",
        "metadata": {"name": "web.1", "namespace": "default"},
        "involvedObject": {"kind": "Pod", "name": "web"},
        "type": "Warning",
        "reason": "BackOff",
        "message": "Back-off restarting failed container",
        "firstTimestamp": ago(minutes=10),
        "lastTimestamp": ago(seconds=30),
        "count": 4,
    }
    text = format_objects([event], "", kind_info("events"), NOW, all_namespaces=True)
    header, row = text.splitlines()
    assert header.split("   ")[:3] == ["NAMESPACE", "LAST SEEN", "TYPE"]
    assert row.split() == ["default", "30s", "Warning", "BackOff", "pod/web", "Back-off", "restarting", "failed", "container"]


# json, yaml, name


def test_json_single_object_is_itself():
    pod = running_pod()
    assert json.loads(format_objects([pod], "json", kind_info("pod"), NOW, single=True)) == pod


def test_json_list_is_a_kubernetes_list():
    pods = [running_pod("a"), running_pod("b")]
    text = format_objects(pods, "json", kind_info("pod"), NOW)
    assert json.loads(text) == {"apiVersion": "v1", "kind": "List", "items": pods, "metadata": {}}
    assert text.startswith('{\n    "apiVersion"')  # kubectl's four-space indent


def test_json_empty_list():
    assert json.loads(format_objects([], "json", kind_info("pod"), NOW))["items"] == []


def test_yaml():
    pod = running_pod()
    assert yaml.safe_load(format_objects([pod], "yaml", kind_info("pod"), NOW, single=True)) == pod
    listed = yaml.safe_load(format_objects([pod], "yaml", kind_info("pod"), NOW))
    assert listed["kind"] == "List" and listed["items"] == [pod]


def test_name_output():
    objects = [running_pod("a"), {"kind": "ReplicationController", "metadata": {"name": "web"}}]
    assert format_objects(objects, "name", kind_info("pod"), NOW) == "pod/a\nreplicationcontroller/web"
    assert format_objects([{"metadata": {"name": "x"}}], "name", kind_info("svc"), NOW) == "service/x"


def test_empty_table_is_empty_text():
    assert format_objects([], "", kind_info("pod"), NOW) == ""
    assert nothing_found("default") == "No resources found in default namespace."
    assert nothing_found(None) == "No resources found"


def test_unknown_output_format():
    with pytest.raises(OutputError, match='unsupported output format "xml"'):
        format_objects([], "xml", kind_info("pod"), NOW)


# describe


def test_tabwrite_aligns_blocks_like_go_tabwriter():
    from raftkube.client.describing import tabwrite

    lines = [["Name:", "web"], ["Namespace:", "default"], ["Containers:"], ["  app:"], ["    Image:", "x"], ["    Ready:", "True"]]
    assert tabwrite(lines) == (
        "Name:       web\nNamespace:  default\nContainers:\n  app:\n    Image:  x\n    Ready:  True"
    )


def test_describe_pod():
    from raftkube.client.describing import describe

    pod = running_pod()
    pod["metadata"]["labels"] = {"app": "web", "tier": "front"}
    pod["metadata"]["ownerReferences"] = [{"kind": "ReplicationController", "name": "web", "controller": True}]
    pod["status"]["hostIP"] = "10.0.0.2"
    pod["spec"]["containers"][0].update(
        ports=[{"containerPort": 80, "protocol": "TCP"}],
        resources={"limits": {"cpu": "500m"}, "requests": {"cpu": "500m"}},
        volumeMounts=[{"name": "data", "mountPath": "/data", "readOnly": True}],
    )
    pod["spec"]["volumes"] = [{"name": "data", "hostPath": {"path": "/srv"}}]
    pod["status"]["containerStatuses"][0]["lastState"] = {"terminated": {"exitCode": 1, "reason": "Error"}}
    events = [
        {"type": "Warning", "reason": "BackOff", "message": "Back-off restarting", "count": 4,
         "firstTimestamp": ago(minutes=4), "lastTimestamp": ago(seconds=20), "source": {"component": "kubelet"}},
        {"type": "Normal", "reason": "Scheduled", "message": "Successfully assigned default/web to node1",
         "lastTimestamp": ago(minutes=5), "source": {"component": "scheduler"}},
    ]  # fmt: skip
    lines = describe(pod, events, NOW).splitlines()
    assert [line.split() for line in lines[:5]] == [
        ["Name:", "web"],
        ["Namespace:", "default"],
        ["Node:", "node1/10.0.0.2"],
        ["Labels:", "app=web"],
        ["tier=front"],
    ]
    assert len({line.index(line.split()[-1]) for line in lines[:5]}) == 1  # one value column
    for expected in [
        "Controlled By:  ReplicationController/web",
        "    Image:          busybox",
        "    Port:           80/TCP",
        "    State:          Running",
        "    Last State:     Terminated",
        "      Exit Code:    1",
        "      /data from data (ro)",
        "    Type:          HostPath (bare host directory volume)",
        "  Normal   Scheduled  5m                scheduler  Successfully assigned default/web to node1",
        "  Warning  BackOff    20s (x4 over 4m)  kubelet    Back-off restarting",
    ]:
        assert expected in lines
    assert lines.index("Events:") < lines.index("  Normal   Scheduled  5m                scheduler  Successfully assigned default/web to node1")


def test_describe_service_with_endpoints():
    from raftkube.client.describing import describe

    svc = {
        "kind": "Service",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"selector": {"app": "web"}, "clusterIP": "10.96.0.10", "ports": [{"name": "http", "port": 80, "targetPort": "web", "protocol": "TCP"}]},
    }
    ep = {"subsets": [{"addresses": [{"ip": "10.244.1.2"}, {"ip": "10.244.2.3"}], "ports": [{"name": "http", "port": 8080}]}]}
    text = describe(svc, [], NOW, endpoints=ep)
    assert "Port:              http  80/TCP" in text
    assert "TargetPort:        web (TCP)" in text
    assert "Endpoints:         10.244.1.2:8080,10.244.2.3:8080" in text
    assert text.endswith("Events:            <none>")
    assert "Endpoints:         <none>" in describe(svc, [], NOW, endpoints={})


def test_describe_rc_node_namespace_endpoints_event():
    from raftkube.client.describing import describe

    rc = {
        "kind": "ReplicationController",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"replicas": 3, "selector": {"app": "web"}, "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "app", "image": "busybox"}]}}},
        "status": {"replicas": 2, "readyReplicas": 1},
    }
    text = describe(rc, [], NOW)
    assert "Replicas:        2 current / 3 desired" in text
    assert "Pod Template:" in text and "      Image:" in text
    node = {
        "kind": "Node",
        "metadata": {"name": "node1", "labels": {"node-role.kubernetes.io/worker": ""}},
        "spec": {"podCIDR": "10.244.1.0/24"},
        "status": {"capacity": {"cpu": "2"}, "conditions": [{"type": "Ready", "status": "True", "lastHeartbeatTime": "2026-11-27T11:59:00Z", "reason": "HostReachable"}], "addresses": [{"type": "InternalIP", "address": "10.0.0.2"}]},
    }
    text = describe(node, [], NOW)
    assert "Roles:              worker" in text
    assert "  Ready  True    Fri, 27 Nov 2026 11:59:00 +0000  HostReachable" in text
    assert "  InternalIP:  10.0.0.2" in text
    ns = {"kind": "Namespace", "metadata": {"name": "team"}, "status": {"phase": "Active"}}
    assert describe(ns, [], NOW).splitlines()[:2] == ["Name:         team", "Labels:       <none>"]
    ep = {"kind": "Endpoints", "metadata": {"name": "web", "namespace": "default"}, "subsets": [{"addresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 80, "protocol": "TCP"}]}]}
    assert "    <unset>  80    TCP" in describe(ep, [], NOW)
    event = {"kind": "Event", "metadata": {"name": "e", "namespace": "default"}, "reason": "Started", "count": 2}
    assert "Reason:       Started" in describe(event, [], NOW)


def test_restarts_show_when_the_last_one_was():
    pod = running_pod(restarts=3)
    pod["status"]["containerStatuses"][0]["lastState"] = {"terminated": {"exitCode": 1, "finishedAt": ago(minutes=5)}}
    assert table([pod], "pods")[1][3:6] == ["3", "(5m", "ago)"]
    assert "3 (5m ago)" in format_objects([pod], "", kind_info("pods"), NOW)


def test_completed_container_beside_a_running_one():
    pod = running_pod()
    done = {"name": "init", "ready": False, "restartCount": 0, "state": {"terminated": {"reason": "Completed", "exitCode": 0}}}
    pod["status"]["containerStatuses"].insert(0, done)
    assert pod_status(pod)[0] == "NotReady"
    pod["status"]["conditions"] = [{"type": "Ready", "status": "True"}]
    assert pod_status(pod)[0] == "Running"
