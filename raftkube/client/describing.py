"""`raftkube describe`: one object in detail, with its recent events, like kubectl.

Pure: the command fetches the object and its events and passes `now`; this module
only lays them out. The layout follows kubectl's describers
(`pkg/describe/describe.go`), including its tab-aligned "Key:  value" blocks.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable

from raftkube.client.printing import format_endpoints, human_age

NONE = "<none>"
UNSET = "<unset>"


class _Writer:
    """kubectl's PrefixWriter: lines of tab-separated cells, indented by level."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def write(self, level: int, text: str) -> None:
        self.lines.append("  " * level + text)

    def render(self) -> str:
        return tabwrite([line.split("\t") for line in self.lines])


def tabwrite(lines: list[list[str]], padding: int = 2) -> str:
    """Go's text/tabwriter as kubectl describe sets it up (min width 0, padding 2).

    A cell ends at a tab; the last cell of a line is not aligned. Consecutive lines
    that have a cell in the same column form a block whose cells share a width, so a
    line without tabs (a section title) starts new blocks, as in kubectl's output.
    """
    widths: list[list[int]] = [[0] * (len(cells) - 1) for cells in lines]

    def align(column: int, start: int, end: int) -> None:
        line = start
        while line < end:
            if len(lines[line]) - 1 <= column:
                line += 1
                continue
            block_end = line
            while block_end < end and len(lines[block_end]) - 1 > column:
                block_end += 1
            width = max(len(lines[i][column]) for i in range(line, block_end)) + padding
            for i in range(line, block_end):
                widths[i][column] = width
            align(column + 1, line, block_end)
            line = block_end

    align(0, 0, len(lines))
    out = []
    for cells, cell_widths in zip(lines, widths):
        padded = [cell.ljust(width) for cell, width in zip(cells, cell_widths)]
        out.append(("".join(padded) + cells[-1]).rstrip())
    return "\n".join(out)


def describe(
    obj: dict,
    events: list[dict],
    now: datetime.datetime | float,
    endpoints: dict | None = None,
) -> str:
    """The `describe` text of an object; `events` are those whose involvedObject it is.

    `endpoints` (for a Service) fills its Endpoints line, as kubectl looks them up.
    """
    writer = _Writer()
    describer = _DESCRIBERS.get(obj.get("kind", ""), _describe_generic)
    describer(writer, obj, now, endpoints)
    _events(writer, events, now)
    return writer.render()


def _rfc1123(timestamp: str | None) -> str:
    """kubectl's time format in describe: `Fri, 27 Nov 2026 02:40:00 +0000`."""
    if not timestamp:
        return NONE
    try:
        moment = datetime.datetime.fromisoformat(timestamp)
    except ValueError:
        return timestamp
    return moment.strftime("%a, %d %b %Y %H:%M:%S %z")


def _map_lines(
    writer: _Writer, level: int, title: str, values: dict | None, sep: str = "="
) -> None:
    """`Labels:  a=b` then one `k=v` per line under it, sorted; `<none>` when empty."""
    if not values:
        writer.write(level, f"{title}:\t{NONE}")
        return
    for index, key in enumerate(sorted(values)):
        writer.write(level, f"{title + ':' if index == 0 else ''}\t{key}{sep}{values[key]}")


def _header(writer: _Writer, obj: dict) -> None:
    meta = obj.get("metadata", {})
    writer.write(0, f"Name:\t{meta.get('name', '')}")
    if "namespace" in meta:
        writer.write(0, f"Namespace:\t{meta['namespace']}")
    _map_lines(writer, 0, "Labels", meta.get("labels"))
    _map_lines(writer, 0, "Annotations", meta.get("annotations"), sep=": ")


def _selector(selector: dict | None) -> str:
    if not selector:
        return NONE
    return ",".join(f"{key}={value}" for key, value in sorted(selector.items()))


def _controlled_by(writer: _Writer, obj: dict) -> None:
    for owner in obj.get("metadata", {}).get("ownerReferences", []):
        if owner.get("controller"):
            writer.write(0, f"Controlled By:\t{owner.get('kind')}/{owner.get('name')}")


# Pods


def probe_text(probe: dict) -> str:
    """kubectl's one line for a probe: `http-get http://:8080/ready delay=0s timeout=1s ...`."""
    if "exec" in probe:
        action = f"exec [{' '.join(probe['exec'].get('command', []))}]"
    elif "httpGet" in probe:
        get = probe["httpGet"]
        action = (f"http-get {get.get('scheme', 'HTTP').lower()}://{get.get('host', '')}:{get.get('port')}"
                  f"{get.get('path', '/')}")
    elif "tcpSocket" in probe:
        action = f"tcp-socket {probe['tcpSocket'].get('host', '')}:{probe['tcpSocket'].get('port')}"
    else:
        action = "unknown"
    return (f"{action} delay={probe.get('initialDelaySeconds', 0)}s timeout={probe.get('timeoutSeconds', 1)}s "
            f"period={probe.get('periodSeconds', 10)}s #success={probe.get('successThreshold', 1)} "
            f"#failure={probe.get('failureThreshold', 3)}")


def _container_state(writer: _Writer, title: str, state: dict | None) -> None:
    state = state or {}
    if "running" in state:
        writer.write(2, f"{title}:\tRunning")
        writer.write(3, f"Started:\t{_rfc1123(state['running'].get('startedAt'))}")
    elif "waiting" in state:
        writer.write(2, f"{title}:\tWaiting")
        if state["waiting"].get("reason"):
            writer.write(3, f"Reason:\t{state['waiting']['reason']}")
    elif "terminated" in state:
        terminated = state["terminated"]
        writer.write(2, f"{title}:\tTerminated")
        if terminated.get("reason"):
            writer.write(3, f"Reason:\t{terminated['reason']}")
        if terminated.get("message"):
            writer.write(3, f"Message:\t{terminated['message']}")
        writer.write(3, f"Exit Code:\t{terminated.get('exitCode', 0)}")
        if terminated.get("signal"):
            writer.write(3, f"Signal:\t{terminated['signal']}")
        writer.write(3, f"Started:\t{_rfc1123(terminated.get('startedAt'))}")
        writer.write(3, f"Finished:\t{_rfc1123(terminated.get('finishedAt'))}")
    else:
        writer.write(2, f"{title}:\tWaiting" if title == "State" else f"{title}:\t")


def _containers(writer: _Writer, containers: list[dict], statuses: list[dict]) -> None:
    by_name = {status.get("name"): status for status in statuses}
    writer.write(0, "Containers:")
    for container in containers:
        status = by_name.get(container.get("name"), {})
        writer.write(1, f"{container.get('name')}:")
        if status.get("containerID"):
            writer.write(2, f"Container ID:\t{status['containerID']}")
        writer.write(2, f"Image:\t{container.get('image', '')}")
        if status.get("imageID"):
            writer.write(2, f"Image ID:\t{status['imageID']}")
        ports = container.get("ports", [])
        port_text = ", ".join(f"{p.get('containerPort')}/{p.get('protocol', 'TCP')}" for p in ports)
        host_text = ", ".join(f"{p.get('hostPort', 0)}/{p.get('protocol', 'TCP')}" for p in ports)
        writer.write(2, f"{'Ports' if len(ports) > 1 else 'Port'}:\t{port_text or NONE}")
        writer.write(2, f"{'Host Ports' if len(ports) > 1 else 'Host Port'}:\t{host_text or NONE}")
        for title, key in (("Command", "command"), ("Args", "args")):
            if container.get(key):
                writer.write(2, f"{title}:")
                for argument in container[key]:
                    writer.write(3, argument)
        _container_state(writer, "State", status.get("state"))
        if status.get("lastState"):
            _container_state(writer, "Last State", status["lastState"])
        writer.write(2, f"Ready:\t{'True' if status.get('ready') else 'False'}")
        writer.write(2, f"Restart Count:\t{status.get('restartCount', 0)}")
        resources = container.get("resources", {})
        for title, key in (("Limits", "limits"), ("Requests", "requests")):
            if resources.get(key):
                writer.write(2, f"{title}:")
                for name in sorted(resources[key]):
                    writer.write(3, f"{name}:\t{resources[key][name]}")
        for title, key in (("Liveness", "livenessProbe"), ("Readiness", "readinessProbe"), ("Startup", "startupProbe")):
            if container.get(key):
                writer.write(2, f"{title}:\t{probe_text(container[key])}")
        env = container.get("env", [])
        writer.write(2, "Environment:" + ("" if env else f"\t{NONE}"))
        for variable in env:
            writer.write(3, f"{variable.get('name')}:\t{variable.get('value', '')}")
        mounts = container.get("volumeMounts", [])
        writer.write(2, "Mounts:" + ("" if mounts else f"\t{NONE}"))
        for mount in mounts:
            mode = "ro" if mount.get("readOnly") else "rw"
            writer.write(3, f"{mount.get('mountPath')} from {mount.get('name')} ({mode})")


def _volumes(writer: _Writer, volumes: list[dict]) -> None:
    if not volumes:
        writer.write(0, f"Volumes:\t{NONE}")
        return
    writer.write(0, "Volumes:")
    for volume in volumes:
        writer.write(1, f"{volume.get('name')}:")
        if "hostPath" in volume:
            source = volume["hostPath"]
            writer.write(2, "Type:\tHostPath (bare host directory volume)")
            writer.write(2, f"Path:\t{source.get('path', '')}")
            writer.write(2, f"HostPathType:\t{source.get('type', '')}")
        else:
            source = volume.get("emptyDir", {})
            writer.write(2, "Type:\tEmptyDir (a temporary directory that shares a pod's lifetime)")
            writer.write(2, f"Medium:\t{source.get('medium', '')}")
            writer.write(2, f"SizeLimit:\t{source.get('sizeLimit', UNSET)}")


def _describe_pod(writer: _Writer, pod: dict, now, endpoints) -> None:
    spec, status = pod.get("spec", {}), pod.get("status", {})
    meta = pod.get("metadata", {})
    writer.write(0, f"Name:\t{meta.get('name', '')}")
    writer.write(0, f"Namespace:\t{meta.get('namespace', '')}")
    node = spec.get("nodeName")
    host_ip = status.get("hostIP")
    writer.write(0, f"Node:\t{(node + ('/' + host_ip if host_ip else '')) if node else NONE}")
    if status.get("startTime"):
        writer.write(0, f"Start Time:\t{_rfc1123(status['startTime'])}")
    _map_lines(writer, 0, "Labels", meta.get("labels"))
    _map_lines(writer, 0, "Annotations", meta.get("annotations"), sep=": ")
    if meta.get("deletionTimestamp"):
        writer.write(0, f"Status:\tTerminating (lasts {human_age(meta['deletionTimestamp'], now)})")
        grace = spec.get("terminationGracePeriodSeconds", 30)
        writer.write(0, f"Termination Grace Period:\t{grace}s")
    else:
        writer.write(0, f"Status:\t{status.get('phase', 'Pending')}")
    if status.get("reason"):
        writer.write(0, f"Reason:\t{status['reason']}")
    if status.get("message"):
        writer.write(0, f"Message:\t{status['message']}")
    writer.write(0, f"IP:\t{status.get('podIP', '')}")
    _controlled_by(writer, pod)
    _containers(writer, spec.get("containers", []), status.get("containerStatuses", []))
    conditions = status.get("conditions", [])
    if conditions:
        writer.write(0, "Conditions:")
        writer.write(1, "Type\tStatus")
        for condition in conditions:
            writer.write(1, f"{condition.get('type')}\t{condition.get('status')}")
    _volumes(writer, spec.get("volumes", []))
    if status.get("qosClass"):
        writer.write(0, f"QoS Class:\t{status['qosClass']}")
    node_selector = spec.get("nodeSelector")
    writer.write(0, f"Node-Selectors:\t{_selector(node_selector)}")


# Controllers, services, endpoints


def _describe_rc(writer: _Writer, rc: dict, now, endpoints) -> None:
    spec, status = rc.get("spec", {}), rc.get("status", {})
    meta = rc.get("metadata", {})
    writer.write(0, f"Name:\t{meta.get('name', '')}")
    writer.write(0, f"Namespace:\t{meta.get('namespace', '')}")
    writer.write(0, f"Selector:\t{_selector(spec.get('selector'))}")
    _map_lines(writer, 0, "Labels", meta.get("labels"))
    _map_lines(writer, 0, "Annotations", meta.get("annotations"), sep=": ")
    writer.write(
        0, f"Replicas:\t{status.get('replicas', 0)} current / {spec.get('replicas', 1)} desired"
    )
    writer.write(0, f"Ready Replicas:\t{status.get('readyReplicas', 0)}")
    template = spec.get("template", {})
    writer.write(0, "Pod Template:")
    _map_lines(writer, 1, "Labels", template.get("metadata", {}).get("labels"))
    sub = _Writer()
    _containers(sub, template.get("spec", {}).get("containers", []), [])
    writer.lines += ["  " + line for line in sub.lines]
    sub = _Writer()
    _volumes(sub, template.get("spec", {}).get("volumes", []))
    writer.lines += ["  " + line for line in sub.lines]


def _describe_service(writer: _Writer, svc: dict, now, endpoints) -> None:
    spec = svc.get("spec", {})
    _header(writer, svc)
    writer.write(0, f"Selector:\t{_selector(spec.get('selector'))}")
    writer.write(0, f"Type:\t{spec.get('type', 'ClusterIP')}")
    writer.write(0, f"IP:\t{spec.get('clusterIP') or NONE}")
    ports = spec.get("ports", [])
    if not ports:
        writer.write(0, f"Port:\t{NONE}")
    for port in ports:
        name = port.get("name") or UNSET
        protocol = port.get("protocol", "TCP")
        writer.write(0, f"Port:\t{name}\t{port.get('port')}/{protocol}")
        target = port.get("targetPort", port.get("port"))
        suffix = f"/{protocol}" if isinstance(target, int) else f" ({protocol})"
        writer.write(0, f"TargetPort:\t{target}{suffix}")
        if endpoints is not None:
            writer.write(0, f"Endpoints:\t{_endpoints_for_port(endpoints, port)}")
    writer.write(0, f"Session Affinity:\t{spec.get('sessionAffinity', 'None')}")


def _endpoints_for_port(endpoints: dict, port: dict) -> str:
    """The addresses serving one service port, matched by port name like kubectl."""
    name = port.get("name", "")
    subsets = []
    for subset in endpoints.get("subsets", []):
        ports = [p for p in subset.get("ports", []) if p.get("name", "") == name]
        if ports:
            subsets.append({**subset, "ports": ports})
    return format_endpoints({"subsets": subsets}) if subsets else NONE


def _describe_endpoints(writer: _Writer, ep: dict, now, endpoints) -> None:
    _header(writer, ep)
    subsets = ep.get("subsets", [])
    writer.write(0, "Subsets:" if subsets else f"Subsets:\t{NONE}")
    for subset in subsets:
        ready = ",".join(a.get("ip", "") for a in subset.get("addresses", []))
        not_ready = ",".join(a.get("ip", "") for a in subset.get("notReadyAddresses", []))
        writer.write(1, f"Addresses:\t{ready or NONE}")
        writer.write(1, f"NotReadyAddresses:\t{not_ready or NONE}")
        ports = subset.get("ports", [])
        if ports:
            writer.write(1, "Ports:")
            writer.write(2, "Name\tPort\tProtocol")
            writer.write(2, "----\t----\t--------")
            for port in ports:
                name, protocol = port.get("name") or UNSET, port.get("protocol", "TCP")
                writer.write(2, f"{name}\t{port.get('port')}\t{protocol}")


# Cluster-scoped kinds and the rest


def _describe_node(writer: _Writer, node: dict, now, endpoints) -> None:
    spec, status = node.get("spec", {}), node.get("status", {})
    meta = node.get("metadata", {})
    writer.write(0, f"Name:\t{meta.get('name', '')}")
    roles = sorted(
        key.partition("/")[2]
        for key in meta.get("labels", {})
        if key.startswith("node-role.kubernetes.io/")
    )
    writer.write(0, f"Roles:\t{','.join(roles) or NONE}")
    _map_lines(writer, 0, "Labels", meta.get("labels"))
    _map_lines(writer, 0, "Annotations", meta.get("annotations"), sep=": ")
    writer.write(0, f"CreationTimestamp:\t{_rfc1123(meta.get('creationTimestamp'))}")
    writer.write(0, f"Unschedulable:\t{'true' if spec.get('unschedulable') else 'false'}")
    conditions = status.get("conditions", [])
    writer.write(0, "Conditions:" if conditions else f"Conditions:\t{NONE}")
    if conditions:
        writer.write(1, "Type\tStatus\tLastHeartbeatTime\tReason\tMessage")
        writer.write(1, "----\t------\t-----------------\t------\t-------")
        for c in conditions:
            writer.write(
                1,
                f"{c.get('type')}\t{c.get('status')}\t{_rfc1123(c.get('lastHeartbeatTime'))}"
                f"\t{c.get('reason', '')}\t{c.get('message', '')}",
            )
    addresses = status.get("addresses", [])
    writer.write(0, "Addresses:" if addresses else f"Addresses:\t{NONE}")
    for address in addresses:
        writer.write(1, f"{address.get('type')}:\t{address.get('address')}")
    for title, key in (("Capacity", "capacity"), ("Allocatable", "allocatable")):
        if status.get(key):
            writer.write(0, f"{title}:")
            for name in sorted(status[key]):
                writer.write(1, f"{name}:\t{status[key][name]}")
    info = status.get("nodeInfo", {})
    if info:
        writer.write(0, "System Info:")
        for title, key in (
            ("Kernel Version", "kernelVersion"),
            ("OS Image", "osImage"),
            ("Operating System", "operatingSystem"),
            ("Architecture", "architecture"),
            ("Container Runtime Version", "containerRuntimeVersion"),
        ):
            writer.write(1, f"{title}:\t{info.get(key, '')}")
    writer.write(0, f"PodCIDR:\t{spec.get('podCIDR', '')}")


def _describe_namespace(writer: _Writer, ns: dict, now, endpoints) -> None:
    _header(writer, ns)
    writer.write(0, f"Status:\t{ns.get('status', {}).get('phase', 'Active')}")


def _describe_generic(writer: _Writer, obj: dict, now, endpoints) -> None:
    _header(writer, obj)
    for key, value in obj.items():
        if key in ("apiVersion", "kind", "metadata") or not isinstance(value, (str, int)):
            continue
        writer.write(0, f"{key[:1].upper()}{key[1:]}:\t{value}")


def _events(writer: _Writer, events: list[dict], now) -> None:
    if not events:
        writer.write(0, f"Events:\t{NONE}")
        return
    writer.write(0, "Events:")
    writer.write(1, "Type\tReason\tAge\tFrom\tMessage")
    writer.write(1, "----\t------\t----\t----\t-------")
    for event in sorted(events, key=_last_seen):
        last = _last_seen(event)
        age = human_age(last, now)
        count = event.get("count", 1)
        if count > 1:
            first = event.get("firstTimestamp") or last
            age = f"{age} (x{count} over {human_age(first, now)})"
        source = event.get("source", {}).get("component") or event.get("reportingComponent", "")
        message = event.get("message", "").strip().replace("\n", " ")
        writer.write(
            1, f"{event.get('type', '')}\t{event.get('reason', '')}\t{age}\t{source}\t{message}"
        )


def _last_seen(event: dict) -> str:
    return (
        event.get("lastTimestamp")
        or event.get("eventTime")
        or event.get("firstTimestamp")
        or event.get("metadata", {}).get("creationTimestamp")
        or ""
    )


_DESCRIBERS: dict[str, Callable[[_Writer, dict, object, dict | None], None]] = {
    "Pod": _describe_pod,
    "ReplicationController": _describe_rc,
    "Service": _describe_service,
    "Endpoints": _describe_endpoints,
    "Node": _describe_node,
    "Namespace": _describe_namespace,
}
