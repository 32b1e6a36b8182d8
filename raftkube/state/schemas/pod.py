"""Pod, its containers and volumes, and the pod template an RC stamps pods from."""

from typing import Any

from marshmallow import ValidationError, post_load, pre_load, validates_schema

from raftkube.state import names
from raftkube.state.quantity import parse_quantity
from raftkube.state.schemas.fields import (
    PORT,
    PROTOCOL,
    Bool,
    Int,
    IntOrString,
    Labels,
    List,
    Nested,
    Object,
    ResourceList,
    Status,
    Str,
    Timestamp,
    absolute_path,
    dicts_in,
    duplicates,
    http_header_name,
    in_range,
    ipv4,
    name_rule,
    not_empty,
    one_of,
    port_number_or_name,
    quantity,
)
from raftkube.state.schemas.meta import ObjectMeta, TopLevel

SUPPORTED_VOLUME_TYPES = ("emptyDir", "hostPath")
# Volume sources Kubernetes knows but raftkube does not implement: naming them as
# unsupported tells the user more than "unknown field" would.
KNOWN_VOLUME_TYPES = (
    "awsElasticBlockStore", "azureDisk", "azureFile", "cephfs", "cinder", "configMap", "csi",
    "downwardAPI", "ephemeral", "fc", "flexVolume", "flocker", "gcePersistentDisk", "gitRepo",
    "glusterfs", "image", "iscsi", "nfs", "persistentVolumeClaim", "photonPersistentDisk",
    "portworxVolume", "projected", "quobyte", "rbd", "scaleIO", "secret", "storageos",
    "vsphereVolume",
)  # fmt: skip
RESTART_POLICIES = ("Always", "OnFailure", "Never")


def default_pull_policy(image: str) -> str:
    """Kubernetes' default: pull `:latest` and untagged images every time."""
    if "@" in image:
        return "IfNotPresent"
    last_part = image.rsplit("/", 1)[-1]
    tag = last_part.partition(":")[2]
    return "Always" if tag in ("", "latest") else "IfNotPresent"


class ContainerPort(Object):
    name = Str(validate=name_rule(names.port_name))
    containerPort = Int(required=True, validate=PORT)
    hostPort = Int(validate=in_range(0, 65535))
    hostIP = Str(validate=ipv4)
    protocol = Str(load_default="TCP", validate=PROTOCOL)


class EnvVar(Object):
    name = Str(required=True, validate=name_rule(names.env_var_name))
    value = Str()


class ResourceRequirements(Object):
    limits = ResourceList(allowed=("cpu", "memory"))
    requests = ResourceList(allowed=("cpu", "memory"))

    @validates_schema
    def _requests_within_limits(self, data: dict, **kwargs: Any) -> None:
        limits, requests = data.get("limits", {}), data.get("requests", {})
        errors = [
            f"{name}: must be less than or equal to {name} limit of {limits[name]}"
            for name, request in requests.items()
            if name in limits and parse_quantity(request) > parse_quantity(limits[name])
        ]
        if errors:
            raise ValidationError({"requests": errors})

    @post_load
    def _requests_default_to_limits(self, data: dict, **kwargs: Any) -> dict:
        limits = data.get("limits", {})
        if limits:
            data["requests"] = {**limits, **data.get("requests", {})}
        return data


class VolumeMount(Object):
    name = Str(required=True, validate=not_empty)
    mountPath = Str(required=True, validate=[not_empty, absolute_path])
    readOnly = Bool()


PROBE_HANDLERS = ("exec", "httpGet", "tcpSocket")
# Kubernetes' defaults for a probe's timing; 0 (or absent) means the default, as there.
PROBE_DEFAULTS = {"timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3}


class ExecAction(Object):
    command = List(Str(), required=True, validate=not_empty)


class HTTPHeader(Object):
    name = Str(required=True, validate=http_header_name)
    value = Str(required=True)


class HTTPGetAction(Object):
    path = Str(load_default="/")
    port = IntOrString(required=True, validate=port_number_or_name)
    host = Str(validate=not_empty)
    scheme = Str(load_default="HTTP", validate=one_of("HTTP", "HTTPS"))
    httpHeaders = List(Nested(HTTPHeader))


class TCPSocketAction(Object):
    port = IntOrString(required=True, validate=port_number_or_name)
    host = Str(validate=not_empty)


class Probe(Object):
    """A readiness probe; liveness and startup probes add that successThreshold is 1."""

    exec = Nested(ExecAction)
    httpGet = Nested(HTTPGetAction)
    tcpSocket = Nested(TCPSocketAction)
    initialDelaySeconds = Int(load_default=0, validate=in_range(0))
    timeoutSeconds = Int(validate=in_range(0))
    periodSeconds = Int(validate=in_range(0))
    successThreshold = Int(validate=in_range(0))
    failureThreshold = Int(validate=in_range(0))
    terminationGracePeriodSeconds = Int(validate=in_range(1))

    @pre_load
    def _refuse_grpc(self, data: Any, **kwargs: Any) -> Any:
        if isinstance(data, dict) and "grpc" in data:
            message = "unsupported probe handler: supported handlers: " + ", ".join(PROBE_HANDLERS)
            raise ValidationError({"grpc": [message]})
        return data

    @validates_schema
    def _one_handler(self, data: dict, **kwargs: Any) -> None:
        given = [key for key in PROBE_HANDLERS if key in data]
        if not given:
            raise ValidationError({"exec": ["must specify a handler type (exec, httpGet or tcpSocket)"]})
        if len(given) > 1:
            raise ValidationError({given[1]: ["may not specify more than 1 handler type"]})

    @post_load
    def _defaults(self, data: dict, **kwargs: Any) -> dict:
        for name, default in PROBE_DEFAULTS.items():
            if not data.get(name):
                data[name] = default
        return data


class SingleSuccessProbe(Probe):
    """livenessProbe and startupProbe: one success is enough, by Kubernetes' rule."""

    @validates_schema
    def _success_once(self, data: dict, **kwargs: Any) -> None:
        if data.get("successThreshold") not in (None, 0, 1):
            raise ValidationError({"successThreshold": ["must be 1"]})


class Container(Object):
    name = Str(required=True, validate=name_rule(names.dns1123_label))
    image = Str(required=True, validate=not_empty)
    command = List(Str())
    args = List(Str())
    workingDir = Str()
    ports = List(Nested(ContainerPort))
    env = List(Nested(EnvVar))
    resources = Nested(ResourceRequirements, load_default=dict)
    volumeMounts = List(Nested(VolumeMount))
    imagePullPolicy = Str(validate=one_of("Always", "IfNotPresent", "Never"))
    terminationMessagePath = Str()
    terminationMessagePolicy = Str(validate=one_of("File", "FallbackToLogsOnError"))
    livenessProbe = Nested(SingleSuccessProbe)
    readinessProbe = Nested(Probe)
    startupProbe = Nested(SingleSuccessProbe)

    @validates_schema(pass_original=True, skip_on_field_errors=False)
    def _unique_names(self, data: dict, original: Any, **kwargs: Any) -> None:
        if not isinstance(original, dict):
            return
        mounts = dicts_in(original.get("volumeMounts"))
        ports = dicts_in(original.get("ports"))
        repeated = duplicates(
            (f"volumeMounts[{i}].mountPath", mount.get("mountPath")) for i, mount in mounts
        )
        repeated += duplicates(
            (f"ports[{i}].name", port["name"]) for i, port in ports if "name" in port
        )
        if repeated:
            raise ValidationError({path: [f'duplicate value "{v}"'] for path, v in repeated})

    @post_load
    def _default_pull_policy(self, data: dict, **kwargs: Any) -> dict:
        data.setdefault("imagePullPolicy", default_pull_policy(data["image"]))
        return data


class EmptyDirVolumeSource(Object):
    medium = Str(validate=one_of("", "Memory"))
    sizeLimit = Str(validate=quantity)


class HostPathVolumeSource(Object):
    path = Str(required=True, validate=not_empty)
    type = Str(
        validate=one_of(
            "", "DirectoryOrCreate", "Directory", "FileOrCreate", "File", "Socket",
            "CharDevice", "BlockDevice",
        )  # fmt: skip
    )


class Volume(Object):
    name = Str(required=True, validate=name_rule(names.dns1123_label))
    emptyDir = Nested(EmptyDirVolumeSource)
    hostPath = Nested(HostPathVolumeSource)

    @pre_load
    def _refuse_unsupported_types(self, data: Any, **kwargs: Any) -> Any:
        if isinstance(data, dict):
            unsupported = [key for key in data if key in KNOWN_VOLUME_TYPES]
            if unsupported:
                message = "unsupported volume type: supported types: " + ", ".join(
                    SUPPORTED_VOLUME_TYPES
                )
                raise ValidationError({key: [message] for key in unsupported})
        return data

    @validates_schema
    def _one_source(self, data: dict, **kwargs: Any) -> None:
        given = [key for key in SUPPORTED_VOLUME_TYPES if key in data]
        if len(given) > 1:
            raise ValidationError({given[1]: ["may not specify more than 1 volume type"]})

    @post_load
    def _default_to_empty_dir(self, data: dict, **kwargs: Any) -> dict:
        if not any(key in data for key in SUPPORTED_VOLUME_TYPES):
            data["emptyDir"] = {}
        return data


class PodSpec(Object):
    containers = List(Nested(Container), required=True, validate=not_empty)
    volumes = List(Nested(Volume))
    restartPolicy = Str(load_default="Always", validate=one_of(*RESTART_POLICIES))
    dnsPolicy = Str(
        load_default="ClusterFirst",
        validate=one_of("ClusterFirst", "ClusterFirstWithHostNet", "Default"),
    )
    terminationGracePeriodSeconds = Int(load_default=30, validate=in_range(0))
    activeDeadlineSeconds = Int(validate=in_range(1))
    nodeName = Str(validate=name_rule(names.dns1123_subdomain))
    nodeSelector = Labels()
    hostname = Str(validate=name_rule(names.dns1123_label))
    subdomain = Str(validate=name_rule(names.dns1123_label))

    @validates_schema(pass_original=True, skip_on_field_errors=False)
    def _consistent(self, data: dict, original: Any, **kwargs: Any) -> None:
        if not isinstance(original, dict):
            return
        containers = dicts_in(original.get("containers"))
        volumes = dicts_in(original.get("volumes"))
        repeated = duplicates((f"containers[{i}].name", c.get("name")) for i, c in containers)
        repeated += duplicates((f"volumes[{i}].name", v.get("name")) for i, v in volumes)
        errors = {path: [f'duplicate value "{value}"'] for path, value in repeated}
        declared = {v.get("name") for _, v in volumes if isinstance(v.get("name"), str)}
        host_ports = []
        for c_index, container in containers:
            for m_index, mount in dicts_in(container.get("volumeMounts")):
                name = mount.get("name")
                if isinstance(name, str) and name and name not in declared:
                    path = f"containers[{c_index}].volumeMounts[{m_index}].name"
                    errors[path] = [f'not found: no volume named "{name}"']
            for p_index, port in dicts_in(container.get("ports")):
                host_port = port.get("hostPort")
                if isinstance(host_port, int) and host_port:
                    protocol = port.get("protocol", "TCP")
                    path = f"containers[{c_index}].ports[{p_index}].hostPort"
                    host_ports.append((path, (host_port, protocol, port.get("hostIP", ""))))
        for path, (host_port, protocol, _) in duplicates(host_ports):
            errors[path] = [f'duplicate value "{host_port}/{protocol}"']
        if errors:
            raise ValidationError(errors)


class PodTemplateSpec(Object):
    metadata = Nested(ObjectMeta, load_default=dict)
    spec = Nested(PodSpec, required=True)


class ContainerStateWaiting(Status):
    reason = Str()
    message = Str()


class ContainerStateRunning(Status):
    startedAt = Timestamp()


class ContainerStateTerminated(Status):
    exitCode = Int()
    signal = Int()
    reason = Str()
    message = Str()
    startedAt = Timestamp()
    finishedAt = Timestamp()
    containerID = Str()


class ContainerState(Status):
    waiting = Nested(ContainerStateWaiting)
    running = Nested(ContainerStateRunning)
    terminated = Nested(ContainerStateTerminated)


class ContainerStatus(Status):
    name = Str(required=True)
    state = Nested(ContainerState)
    lastState = Nested(ContainerState)
    ready = Bool()
    started = Bool()
    restartCount = Int(validate=in_range(0))
    image = Str()
    imageID = Str()
    containerID = Str()


class PodCondition(Status):
    type = Str(required=True)
    status = Str(required=True, validate=one_of("True", "False", "Unknown"))
    lastProbeTime = Timestamp()
    lastTransitionTime = Timestamp()
    reason = Str()
    message = Str()


class PodIP(Status):
    ip = Str(required=True, validate=ipv4)


class PodStatus(Status):
    phase = Str(validate=one_of("Pending", "Running", "Succeeded", "Failed", "Unknown"))
    conditions = List(Nested(PodCondition))
    message = Str()
    reason = Str()
    hostIP = Str(validate=ipv4)
    podIP = Str(validate=ipv4)
    podIPs = List(Nested(PodIP))
    startTime = Timestamp()
    containerStatuses = List(Nested(ContainerStatus))
    qosClass = Str()
    nominatedNodeName = Str()


class Pod(TopLevel):
    spec = Nested(PodSpec, required=True)
    status = Nested(PodStatus)
