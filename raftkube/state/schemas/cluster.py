"""The cluster-scoped kinds: Namespace and Node."""

from raftkube.state import names
from raftkube.state.schemas.fields import (
    Bool,
    List,
    Nested,
    Object,
    ResourceList,
    Status,
    Str,
    Timestamp,
    ipv4_cidr,
    name_rule,
    one_of,
)
from raftkube.state.schemas.meta import TopLevel


class NamespaceSpec(Object):
    finalizers = List(Str())


class NamespaceStatus(Status):
    phase = Str(load_default="Active", validate=one_of("Active", "Terminating"))


class Namespace(TopLevel):
    spec = Nested(NamespaceSpec)
    status = Nested(NamespaceStatus, load_default=lambda: {"phase": "Active"})


class Taint(Object):
    key = Str(required=True, validate=name_rule(names.qualified_name))
    value = Str(validate=name_rule(names.label_value))
    effect = Str(required=True, validate=one_of("NoSchedule", "PreferNoSchedule", "NoExecute"))
    timeAdded = Timestamp()


class NodeSpec(Object):
    podCIDR = Str(validate=ipv4_cidr)
    podCIDRs = List(Str(validate=ipv4_cidr))
    unschedulable = Bool()
    taints = List(Nested(Taint))
    providerID = Str()


class NodeAddress(Status):
    type = Str(
        required=True,
        validate=one_of("Hostname", "InternalIP", "ExternalIP", "InternalDNS", "ExternalDNS"),
    )
    address = Str(required=True)


class NodeCondition(Status):
    type = Str(required=True)
    status = Str(required=True, validate=one_of("True", "False", "Unknown"))
    lastHeartbeatTime = Timestamp()
    lastTransitionTime = Timestamp()
    reason = Str()
    message = Str()


class NodeSystemInfo(Status):
    machineID = Str()
    systemUUID = Str()
    bootID = Str()
    kernelVersion = Str()
    osImage = Str()
    containerRuntimeVersion = Str()
    kubeletVersion = Str()
    kubeProxyVersion = Str()
    operatingSystem = Str()
    architecture = Str()


class NodeStatus(Status):
    capacity = ResourceList()
    allocatable = ResourceList()
    addresses = List(Nested(NodeAddress))
    conditions = List(Nested(NodeCondition))
    nodeInfo = Nested(NodeSystemInfo)
    phase = Str()


class Node(TopLevel):
    spec = Nested(NodeSpec, load_default=dict)
    status = Nested(NodeStatus)
