"""Service (a stable virtual IP in front of pods) and Endpoints (the pods behind it)."""

from typing import Any

from marshmallow import ValidationError, post_load, validates_schema

from raftkube.state import names
from raftkube.state.schemas.fields import (
    PORT,
    PROTOCOL,
    Int,
    IntOrString,
    Labels,
    List,
    Nested,
    Object,
    Status,
    Str,
    dicts_in,
    duplicates,
    in_range,
    ipv4,
    name_rule,
    one_of,
)
from raftkube.state.schemas.meta import ObjectReference, TopLevel

HEADLESS = "None"


def _cluster_ip(value: str) -> None:
    if value in ("", HEADLESS):
        return
    ipv4(value)


def _target_port(value: int | str) -> None:
    if isinstance(value, int):
        PORT(value)
    else:
        name_rule(names.port_name)(value)


def _unsupported(why: str):
    def check(value: Any) -> None:
        raise ValidationError(f"not supported by raftkube: {why}")

    return check


def _service_type(value: str) -> None:
    if value == "LoadBalancer":
        raise ValidationError('unsupported value "LoadBalancer": raftkube has no load balancer; use "NodePort"')
    one_of("ClusterIP", "NodePort")(value)


NODE_PORTS = in_range(30000, 32767)


class ServicePort(Object):
    name = Str(validate=name_rule(names.dns1123_label))
    protocol = Str(load_default="TCP", validate=PROTOCOL)
    port = Int(required=True, validate=PORT)
    targetPort = IntOrString(validate=_target_port)
    nodePort = Int(validate=NODE_PORTS)

    @post_load
    def _target_defaults_to_port(self, data: dict, **kwargs: Any) -> dict:
        data.setdefault("targetPort", data["port"])
        return data


class ServiceSpec(Object):
    selector = Labels()
    ports = List(Nested(ServicePort))
    clusterIP = Str(validate=_cluster_ip)
    type = Str(load_default="ClusterIP", validate=_service_type)
    sessionAffinity = Str(load_default="None", validate=one_of("None"))
    # Named so that a manifest using them gets a reason, not just "unknown field".
    externalTrafficPolicy = Str(validate=_unsupported(
        "NodePort traffic is always spread over every endpoint in the cluster (Cluster)"))
    externalIPs = List(Str(), validate=_unsupported("there is no external address routing; use a NodePort"))
    loadBalancerIP = Str(validate=_unsupported("there is no load balancer; use type NodePort"))

    @validates_schema(pass_original=True, skip_on_field_errors=False)
    def _ports_consistent(self, data: dict, original: Any, **kwargs: Any) -> None:
        if not isinstance(original, dict):
            return
        errors = {}
        ports = dicts_in(original.get("ports"))
        if not original.get("ports") and original.get("clusterIP") != HEADLESS:
            errors["ports"] = ["required value"]
        service_type = original.get("type", "ClusterIP")
        if service_type == "NodePort" and original.get("clusterIP") == HEADLESS:
            errors["clusterIP"] = ['may not be "None" when type is "NodePort"']
        if service_type != "NodePort":
            for index, port in ports:
                if port.get("nodePort"):
                    errors[f"ports[{index}].nodePort"] = ['forbidden: may only be set when type is "NodePort"']
        node_ports = [(f"ports[{i}].nodePort", p["nodePort"]) for i, p in ports if p.get("nodePort")]
        for path, number in duplicates(node_ports):
            errors[path] = [f'duplicate value "{number}"']
        if len(ports) > 1:
            for index, port in ports:
                if not port.get("name"):
                    errors[f"ports[{index}].name"] = [
                        "required value when there is more than one port"
                    ]
        named = [(f"ports[{i}].name", port["name"]) for i, port in ports if port.get("name")]
        for path, name in duplicates(named):
            errors[path] = [f'duplicate value "{name}"']
        keyed = [(f"ports[{i}]", (p.get("port"), p.get("protocol", "TCP"))) for i, p in ports]
        for path, (number, protocol) in duplicates(keyed):
            errors[path] = [f'duplicate value "{number}/{protocol}"']
        if errors:
            raise ValidationError(errors)


class LoadBalancerStatus(Status):
    ingress = List(Nested(Status))


class ServiceStatus(Status):
    loadBalancer = Nested(LoadBalancerStatus)


class Service(TopLevel):
    spec = Nested(ServiceSpec, required=True)
    status = Nested(ServiceStatus)


class EndpointAddress(Object):
    ip = Str(required=True, validate=ipv4)
    hostname = Str(validate=name_rule(names.dns1123_label))
    nodeName = Str()
    targetRef = Nested(ObjectReference)


class EndpointPort(Object):
    name = Str(validate=name_rule(names.dns1123_label))
    port = Int(required=True, validate=PORT)
    protocol = Str(load_default="TCP", validate=PROTOCOL)
    appProtocol = Str()


class EndpointSubset(Object):
    addresses = List(Nested(EndpointAddress))
    notReadyAddresses = List(Nested(EndpointAddress))
    ports = List(Nested(EndpointPort))


class Endpoints(TopLevel):
    subsets = List(Nested(EndpointSubset))
