"""ReplicationController, Service, Endpoints, Node, Namespace and Event rules."""

import pytest

from raftkube.state.objects import ValidationError, validate


def problems(obj) -> str:
    with pytest.raises(ValidationError) as caught:
        validate(obj)
    return str(caught.value)


def rc(selector=None, labels=None, **spec):
    template = {
        "metadata": {"labels": {"app": "web"} if labels is None else labels},
        "spec": {"containers": [{"name": "web", "image": "nginx:1.25"}]},
    }
    body = {"template": template, **spec}
    if selector is not None:
        body["selector"] = selector
    return {"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": "web"}, "spec": body}


def service(**spec):
    body = {"selector": {"app": "web"}, "ports": [{"port": 80}], **spec}
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}, "spec": body}


# ReplicationController


def test_rc_defaults_selector_and_replicas():
    spec = validate(rc())["spec"]
    assert spec["selector"] == {"app": "web"}
    assert spec["replicas"] == 1
    assert spec["template"]["spec"]["restartPolicy"] == "Always"
    assert "namespace" not in spec["template"]["metadata"]


def test_rc_selector_may_be_a_subset_of_template_labels():
    spec = validate(rc(selector={"app": "web"}, labels={"app": "web", "tier": "front"}, replicas=0))["spec"]
    assert spec["replicas"] == 0


def test_rc_selector_must_match_template_labels():
    assert problems(rc(selector={"app": "db"})) == (
        'ReplicationController "web": spec.selector: does not match template labels'
    )


def test_rc_needs_a_selector_or_template_labels():
    assert problems(rc(labels={})) == (
        'ReplicationController "web": spec.selector: required value (or labels in the template)'
    )


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ({"replicas": -1}, "spec.replicas: must be greater than or equal to 0"),
        ({"replicas": "3"}, "spec.replicas: must be an integer"),
        ({"minReadySeconds": -5}, "spec.minReadySeconds: must be greater than or equal to 0"),
        ({"selector": {"app": 1}}, 'spec.selector: value of "app" must be a string'),
        ({"paused": True}, "spec.paused: unknown field"),
    ],
)
def test_bad_rc_spec(spec, fragment):
    assert fragment in problems(rc(**spec))


def test_rc_template_is_validated_as_a_pod_spec():
    obj = rc()
    obj["spec"]["template"]["spec"]["containers"][0]["imagee"] = "x"
    assert problems(obj) == 'ReplicationController "web": spec.template.spec.containers[0].imagee: unknown field'
    del obj["spec"]["template"]
    assert "spec.template: required value" in problems(obj)


def test_rc_pods_must_restart_always():
    obj = rc()
    obj["spec"]["template"]["spec"]["restartPolicy"] = "Never"
    assert problems(obj) == (
        'ReplicationController "web": spec.template.spec.restartPolicy: '
        'unsupported value "Never": supported values: "Always"'
    )


def test_rc_status():
    obj = rc()
    obj["status"] = {"replicas": 2, "readyReplicas": 1, "observedGeneration": 4}
    assert validate(obj)["status"] == obj["status"]
    obj["status"] = {"replicas": -2}
    assert "status.replicas: must be greater than or equal to 0" in problems(obj)


# Service


def test_service_defaults():
    spec = validate(service())["spec"]
    assert spec["type"] == "ClusterIP"
    assert spec["sessionAffinity"] == "None"
    assert spec["ports"] == [{"protocol": "TCP", "port": 80, "targetPort": 80}]
    assert "clusterIP" not in spec  # allocated by the store


def test_service_target_port_by_number_or_name():
    ports = [{"name": "http", "port": 80, "targetPort": 8080}, {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": "dns"}]
    assert validate(service(ports=ports))["spec"]["ports"][1]["targetPort"] == "dns"


@pytest.mark.parametrize("cluster_ip", ["10.96.0.10", "None", ""])
def test_service_cluster_ip_forms(cluster_ip):
    assert validate(service(clusterIP=cluster_ip))["spec"]["clusterIP"] == cluster_ip


def test_headless_service_may_have_no_ports():
    validate(service(ports=[], clusterIP="None"))
    assert problems(service(ports=[])) == 'Service "web": spec.ports: required value'


def test_service_without_selector_is_fine():
    obj = service()
    del obj["spec"]["selector"]
    assert "selector" not in validate(obj)["spec"]


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ({"clusterIP": "10.96.0.300"}, 'spec.clusterIP: invalid value "10.96.0.300": must be a valid IPv4 address'),
        ({"clusterIP": "fd00::1"}, "must be a valid IPv4 address"),
        ({"type": "LoadBalancer"}, 'spec.type: unsupported value "LoadBalancer": raftkube has no load balancer; use "NodePort"'),
        ({"type": "ExternalName"}, 'spec.type: unsupported value "ExternalName": supported values: "ClusterIP", "NodePort"'),
        ({"externalTrafficPolicy": "Local"}, "spec.externalTrafficPolicy: not supported by raftkube"),
        ({"externalIPs": ["192.0.2.1"]}, "spec.externalIPs: not supported by raftkube"),
        ({"type": "NodePort", "ports": [{"port": 80, "nodePort": 80}]}, "spec.ports[0].nodePort: must be between 30000 and 32767"),
        ({"type": "NodePort", "clusterIP": "None"}, 'spec.clusterIP: may not be "None" when type is "NodePort"'),
        ({"sessionAffinity": "ClientIP"}, 'spec.sessionAffinity: unsupported value "ClientIP"'),
        ({"ports": [{"port": 0}]}, "spec.ports[0].port: must be between 1 and 65535, inclusive"),
        ({"ports": [{"targetPort": 80}]}, "spec.ports[0].port: required value"),
        ({"ports": [{"port": 80, "targetPort": 70000}]}, "spec.ports[0].targetPort: must be between 1 and 65535"),
        ({"ports": [{"port": 80, "targetPort": "HTTP"}]}, 'spec.ports[0].targetPort: invalid value "HTTP"'),
        ({"ports": [{"port": 80, "targetPort": 8.5}]}, "spec.ports[0].targetPort: must be an integer or a string"),
        ({"ports": [{"port": 80, "protocol": "ICMP"}]}, 'spec.ports[0].protocol: unsupported value "ICMP"'),
        ({"ports": [{"port": 80, "nodePort": 30080}]}, 'spec.ports[0].nodePort: forbidden: may only be set when type is "NodePort"'),
        ({"ports": [{"port": 80, "name": "Web"}]}, 'spec.ports[0].name: invalid value "Web"'),
        ({"selector": {"bad key": "x"}}, 'spec.selector: invalid key "bad key"'),
    ],
)
def test_bad_service_spec(spec, fragment):
    assert fragment in problems(service(**spec))


def test_service_ports_need_unique_names_when_several():
    ports = [{"port": 80}, {"port": 443, "name": "https"}]
    assert problems(service(ports=ports)) == (
        'Service "web": spec.ports[0].name: required value when there is more than one port'
    )
    ports = [{"port": 80, "name": "web"}, {"port": 443, "name": "web"}]
    assert problems(service(ports=ports)) == 'Service "web": spec.ports[1].name: duplicate value "web"'


def test_service_ports_are_unique_per_protocol():
    ports = [{"port": 53, "name": "a"}, {"port": 53, "name": "b"}]
    assert 'spec.ports[1]: duplicate value "53/TCP"' in problems(service(ports=ports))
    ports[1]["protocol"] = "UDP"
    validate(service(ports=ports))


def test_service_names_are_dns1035_labels():
    obj = service()
    obj["metadata"]["name"] = "1web"
    assert 'metadata.name: invalid value "1web": a DNS-1035 label' in problems(obj)
    obj["metadata"]["name"] = "web.example"
    assert "a DNS-1035 label" in problems(obj)


def test_service_needs_a_spec():
    obj = service()
    del obj["spec"]
    assert problems(obj) == 'Service "web": spec: required value'


# Endpoints


def endpoints(subsets):
    return {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "web"}, "subsets": subsets}


def test_endpoints():
    subsets = [
        {
            "addresses": [{"ip": "10.244.1.5", "nodeName": "node1", "targetRef": {"kind": "Pod", "name": "web-abc", "namespace": "default", "uid": "u"}}],
            "notReadyAddresses": [{"ip": "10.244.2.7"}],
            "ports": [{"name": "http", "port": 8080}],
        }
    ]
    result = validate(endpoints(subsets))
    assert result["subsets"][0]["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    assert validate(endpoints([]))["subsets"] == []


@pytest.mark.parametrize(
    ("subset", "fragment"),
    [
        ({"addresses": [{}]}, "subsets[0].addresses[0].ip: required value"),
        ({"addresses": [{"ip": "10.244.1"}]}, 'subsets[0].addresses[0].ip: invalid value "10.244.1"'),
        ({"ports": [{"port": 99999}]}, "subsets[0].ports[0].port: must be between 1 and 65535"),
        ({"ports": [{"port": 80, "protocol": "tcp"}]}, 'subsets[0].ports[0].protocol: unsupported value "tcp"'),
        ({"addresses": [{"ip": "10.0.0.1", "targetRef": {"kind": "Pod", "nam": "x"}}]}, "targetRef.nam: unknown field"),
    ],
)
def test_bad_endpoints(subset, fragment):
    assert fragment in problems(endpoints([subset]))


def test_endpoints_have_no_spec():
    obj = endpoints([])
    obj["spec"] = {}
    assert problems(obj) == 'Endpoints "web": spec: unknown field'


# Node


def node(spec=None, status=None):
    obj = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node1", "labels": {"node-role.kubernetes.io/worker": ""}}}
    if spec is not None:
        obj["spec"] = spec
    if status is not None:
        obj["status"] = status
    return obj


def test_node_as_setup_posts_it():
    status = {
        "capacity": {"cpu": "2", "memory": "8Gi", "pods": "110"},
        "allocatable": {"cpu": "1900m", "memory": "7Gi", "pods": "110"},
        "addresses": [{"type": "InternalIP", "address": "10.0.0.2"}, {"type": "Hostname", "address": "node1"}],
        "conditions": [{"type": "Ready", "status": "True", "lastHeartbeatTime": "2026-11-27T02:40:00Z", "reason": "HostReachable"}],
        "nodeInfo": {"kernelVersion": "6.1.0", "osImage": "Debian GNU/Linux 12", "containerRuntimeVersion": "docker://20.10.24"},
    }
    result = validate(node({"podCIDR": "10.244.1.0/24", "unschedulable": False}, status))
    assert result["status"] == status
    assert result["spec"] == {"podCIDR": "10.244.1.0/24", "unschedulable": False}


def test_node_spec_defaults_to_empty():
    assert validate(node())["spec"] == {}


def test_node_capacity_numbers_become_quantity_strings():
    result = validate(node(status={"capacity": {"cpu": 2, "memory": 8589934592}}))
    assert result["status"]["capacity"] == {"cpu": "2", "memory": "8589934592"}


@pytest.mark.parametrize(
    ("spec", "status", "fragment"),
    [
        ({"podCIDR": "10.244.1.0/33"}, None, 'spec.podCIDR: invalid value "10.244.1.0/33": must be a valid IPv4 CIDR'),
        ({"podCIDR": "10.244.1.1/24"}, None, "must be a valid IPv4 CIDR"),
        ({"unschedulable": "yes"}, None, "spec.unschedulable: must be a boolean"),
        ({"taints": [{"key": "k", "effect": "Sometimes"}]}, None, 'spec.taints[0].effect: unsupported value "Sometimes"'),
        ({"externalID": "x"}, None, "spec.externalID: unknown field"),
        (None, {"capacity": {"cpu": "two"}}, 'status.capacity: cpu: invalid quantity "two"'),
        (None, {"addresses": [{"type": "Public", "address": "x"}]}, 'status.addresses[0].type: unsupported value "Public"'),
        (None, {"conditions": [{"type": "Ready", "status": "yes"}]}, 'status.conditions[0].status: unsupported value "yes"'),
        (None, {"conditions": [{"type": "Ready", "status": "True", "lastHeartbeatTime": "now"}]}, "lastHeartbeatTime: invalid value"),
    ],
)
def test_bad_node(spec, status, fragment):
    assert fragment in problems(node(spec, status))


def test_node_taints():
    taints = [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]
    assert validate(node({"taints": taints}))["spec"]["taints"] == taints


# Namespace


def test_namespace_gets_active_phase():
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}}
    assert validate(ns)["status"] == {"phase": "Active"}
    ns["status"] = {"phase": "Terminating"}
    assert validate(ns)["status"] == {"phase": "Terminating"}
    ns["status"] = {"phase": "Gone"}
    assert 'status.phase: unsupported value "Gone"' in problems(ns)


def test_namespace_names_are_dns_labels():
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team.a"}}
    assert 'Namespace "team.a": metadata.name: invalid value "team.a": a lowercase RFC 1123 label' in problems(ns)


# Event


def event(**fields):
    body = {
        "involvedObject": {"kind": "Pod", "namespace": "default", "name": "web", "uid": "u1"},
        "reason": "Scheduled",
        "message": "Successfully assigned default/web to node1",
        "source": {"component": "scheduler"},
        "firstTimestamp": "2026-11-27T02:40:00Z",
        "lastTimestamp": "2026-11-27T02:41:00Z",
        "count": 2,
        **fields,
    }
    return {"apiVersion": "v1", "kind": "Event", "metadata": {"name": "web.17a2b3c4"}, **body}


def test_event():
    result = validate(event())
    assert result["type"] == "Normal"
    assert result["involvedObject"]["name"] == "web"
    assert validate(event(type="Warning"))["type"] == "Warning"


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"type": "Error"}, 'type: unsupported value "Error": supported values: "Normal", "Warning"'),
        ({"count": -1}, "count: must be greater than or equal to 0"),
        ({"firstTimestamp": "02:40"}, 'firstTimestamp: invalid value "02:40"'),
        ({"involvedObject": "pod/web"}, "involvedObject: must be an object"),
        ({"source": {"component": "x", "node": "y"}}, "source.node: unknown field"),
    ],
)
def test_bad_event(fields, fragment):
    assert fragment in problems(event(**fields))


def test_event_needs_its_subject():
    obj = event()
    del obj["involvedObject"]
    assert problems(obj) == 'Event "web.17a2b3c4": involvedObject: required value'


def test_rc_reports_every_problem_at_once():
    obj = rc(selector={"app": "db"}, replicas=-1)
    obj["spec"]["template"]["spec"]["restartPolicy"] = "OnFailure"
    obj["spec"]["template"]["spec"]["containers"][0]["imagee"] = "x"
    message = problems(obj)
    for part in [
        "spec.replicas: must be greater than or equal to 0",
        "spec.selector: does not match template labels",
        'spec.template.spec.restartPolicy: unsupported value "OnFailure"',
        "spec.template.spec.containers[0].imagee: unknown field",
    ]:
        assert part in message


def test_rc_with_a_bad_restart_policy_is_reported_once():
    obj = rc()
    obj["spec"]["template"]["spec"]["restartPolicy"] = "Sometimes"
    assert problems(obj).count("restartPolicy") == 1


def test_service_reports_every_problem_at_once():
    message = problems(service(type="Weird", ports=[{"port": 80, "name": "a"}, {"port": 80, "name": "a", "protocol": "XX"}]))
    assert 'spec.type: unsupported value "Weird"' in message
    assert 'spec.ports[1].protocol: unsupported value "XX"' in message
    assert 'spec.ports[1].name: duplicate value "a"' in message
