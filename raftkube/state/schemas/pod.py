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
    Labels,
    List,
    Nested,
    Object,
    ResourceList,
    Status,
    Str,
    Timestamp,
    in_range,
    ipv4,
    name_rule,
    not_empty,
    one_of,
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


def _duplicates(values: list[Any]) -> list[tuple[int, Any]]:
    """(index, value) of every value already seen earlier in the list."""
    seen = set()
    repeated = []
    for index, value in enumerate(values):
        if value in seen:
            repeated.append((index, value))
        seen.add(value)
    return repeated


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
    mountPath = Str(required=True, validate=not_empty)
    readOnly = Bool()

    @validates_schema
    def _absolute(self, data: dict, **kwargs: Any) -> None:
        if not data["mountPath"].startswith("/"):
            raise ValidationError(
                {"mountPath": [f'invalid value "{data["mountPath"]}": must be an absolute path']}
            )


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

    @validates_schema
    def _unique_names(self, data: dict, **kwargs: Any) -> None:
        errors = {}
        paths = [mount["mountPath"] for mount in data.get("volumeMounts", [])]
        for index, path in _duplicates(paths):
            errors[f"volumeMounts[{index}].mountPath"] = [f'duplicate value "{path}"']
        port_names = [port.get("name") for port in data.get("ports", [])]
        for index, name in _duplicates(port_names):
            if name is not None:
                errors[f"ports[{index}].name"] = [f'duplicate value "{name}"']
        if errors:
            raise ValidationError(errors)

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

    @validates_schema
    def _consistent(self, data: dict, **kwargs: Any) -> None:
        errors: dict[str, list[str]] = {}
        containers = data["containers"]
        for index, name in _duplicates([container["name"] for container in containers]):
            errors[f"containers[{index}].name"] = [f'duplicate value "{name}"']
        volumes = [volume["name"] for volume in data.get("volumes", [])]
        for index, name in _duplicates(volumes):
            errors[f"volumes[{index}].name"] = [f'duplicate value "{name}"']
        host_ports = []
        for c_index, container in enumerate(containers):
            for m_index, mount in enumerate(container.get("volumeMounts", [])):
                if mount["name"] not in volumes:
                    path = f"containers[{c_index}].volumeMounts[{m_index}].name"
                    errors[path] = [f'not found: no volume named "{mount["name"]}"']
            for p_index, port in enumerate(container.get("ports", [])):
                if port.get("hostPort"):
                    key = (port["hostPort"], port["protocol"], port.get("hostIP", ""))
                    host_ports.append((f"containers[{c_index}].ports[{p_index}]", key))
        for index, key in _duplicates([key for _, key in host_ports]):
            errors[f"{host_ports[index][0]}.hostPort"] = [f'duplicate value "{key[0]}/{key[1]}"']
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
