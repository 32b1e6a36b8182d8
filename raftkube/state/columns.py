"""The columns `raftkube get` prints and the API's Tables carry, one definition per kind.

Shared by the client (`client/printing.py`) and the masters (Tables for kubectl), so
both show the same thing. Pure functions of an object and a `now` passed in; columns,
status words and ages follow kubectl's printers (`pkg/printers/internalversion/printers.go`).
Each kind has its columns and its wide ones (`-o wide`, priority 1 in a Table).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable

NONE = "<none>"
MAX_ENDPOINTS = 3

Row = list[str]


def columns(kind: str) -> tuple[Row, Row] | None:
    """(columns, wide columns) of `kind`, None for a kind without a printer."""
    printer = PRINTERS.get(kind)
    return (list(printer[0]), list(printer[1])) if printer else None


def row(obj: dict, kind: str, now: datetime.datetime | float) -> tuple[Row, Row]:
    """(cells, wide cells) of one object of `kind`."""
    return PRINTERS[kind][2](obj, as_time(now))


def human_age(then: str | None, now: datetime.datetime | float) -> str:
    """kubectl's AGE column: `5s`, `3m20s`, `2h`, `4d`, `<unknown>` without a time."""
    if not then:
        return "<unknown>"
    try:
        moment = parse_time(then)
    except ValueError:
        return "<unknown>"
    return human_duration((as_time(now) - moment).total_seconds())


def human_duration(seconds: float) -> str:
    """Go's `duration.HumanDuration`, the rounding kubectl uses for ages."""
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    total = int(seconds)
    if total < 60 * 2:
        return f"{total}s"
    minutes = total // 60
    if minutes < 10:
        rest = total % 60
        return f"{minutes}m" if rest == 0 else f"{minutes}m{rest}s"
    if minutes < 60 * 3:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h" if rest == 0 else f"{hours}h{rest}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d" if rest == 0 else f"{hours // 24}d{rest}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        years = hours // (24 * 365)
        return f"{years}y" if days == 0 else f"{years}y{days}d"
    return f"{hours // (24 * 365)}y"


def as_time(now: datetime.datetime | float) -> datetime.datetime:
    if isinstance(now, datetime.datetime):
        return now if now.tzinfo else now.replace(tzinfo=datetime.timezone.utc)
    return datetime.datetime.fromtimestamp(now, datetime.timezone.utc)


def parse_time(text: str) -> datetime.datetime:
    moment = datetime.datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.timezone.utc)


def _meta(obj: dict) -> dict:
    return obj.get("metadata", {})


def _name(obj: dict) -> str:
    return _meta(obj).get("name", "")


def _age(obj: dict, now: datetime.datetime) -> str:
    return human_age(_meta(obj).get("creationTimestamp"), now)


def _selector_text(selector: dict | None) -> str:
    if not selector:
        return NONE
    return ",".join(f"{key}={value}" for key, value in sorted(selector.items()))


def pod_status(pod: dict) -> tuple[str, int, int]:
    """kubectl's STATUS word, ready container count and total restarts of a pod."""
    status = pod.get("status", {})
    reason = status.get("reason") or status.get("phase") or "Pending"
    restarts = ready = 0
    running = False
    for container in reversed(status.get("containerStatuses", [])):
        restarts += container.get("restartCount", 0)
        state = container.get("state", {})
        waiting, terminated = state.get("waiting"), state.get("terminated")
        if waiting and waiting.get("reason"):
            reason = waiting["reason"]
        elif terminated and terminated.get("reason"):
            reason = terminated["reason"]
        elif terminated:
            signal = terminated.get("signal")
            reason = f"Signal:{signal}" if signal else f"ExitCode:{terminated.get('exitCode', 0)}"
        elif container.get("ready") and state.get("running") is not None:
            running = True
            ready += 1
    if reason == "Completed" and running:
        conditions = status.get("conditions", [])
        pod_ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
        reason = "Running" if pod_ready else "NotReady"
    if _meta(pod).get("deletionTimestamp"):
        reason = "Unknown" if status.get("reason") == "NodeLost" else "Terminating"
    return reason, ready, restarts


def _restarts(pod: dict, restarts: int, now: datetime.datetime) -> str:
    """`3 (5m ago)`: kubectl's RESTARTS, with the age of the latest restart when known."""
    finished = [
        container["lastState"]["terminated"]["finishedAt"]
        for container in pod.get("status", {}).get("containerStatuses", [])
        if container.get("lastState", {}).get("terminated", {}).get("finishedAt")
    ]
    if not restarts or not finished:
        return str(restarts)
    latest = max(finished, key=parse_time)
    return f"{restarts} ({human_age(latest, now)} ago)"


def _pod_row(pod: dict, now: datetime.datetime) -> tuple[Row, Row]:
    reason, ready, restarts = pod_status(pod)
    total = len(pod.get("spec", {}).get("containers", []))
    status = pod.get("status", {})
    row = [_name(pod), f"{ready}/{total}", reason, _restarts(pod, restarts, now), _age(pod, now)]
    return row, [status.get("podIP") or NONE, pod.get("spec", {}).get("nodeName") or NONE]


def _rc_row(rc: dict, now: datetime.datetime) -> tuple[Row, Row]:
    spec, status = rc.get("spec", {}), rc.get("status", {})
    containers = spec.get("template", {}).get("spec", {}).get("containers", [])
    row = [
        _name(rc),
        str(spec.get("replicas", 1)),
        str(status.get("replicas", 0)),
        str(status.get("readyReplicas", 0)),
        _age(rc, now),
    ]
    wide = [
        ",".join(c.get("name", "") for c in containers) or NONE,
        ",".join(c.get("image", "") for c in containers) or NONE,
        _selector_text(spec.get("selector")),
    ]
    return row, wide


def _service_ports(ports: list[dict]) -> str:
    texts = []
    for port in ports:
        node_port = f":{port['nodePort']}" if port.get("nodePort") else ""
        texts.append(f"{port.get('port')}{node_port}/{port.get('protocol', 'TCP')}")
    return ",".join(texts) or NONE


def _service_row(svc: dict, now: datetime.datetime) -> tuple[Row, Row]:
    spec = svc.get("spec", {})
    external = ",".join(spec.get("externalIPs", [])) or NONE
    row = [
        _name(svc),
        spec.get("type", "ClusterIP"),
        spec.get("clusterIP") or NONE,
        external,
        _service_ports(spec.get("ports", [])),
        _age(svc, now),
    ]
    return row, [_selector_text(spec.get("selector"))]


def _node_status(node: dict) -> str:
    conditions = node.get("status", {}).get("conditions", [])
    ready = next((c for c in conditions if c.get("type") == "Ready"), None)
    words = []
    if ready is None:
        words.append("Unknown")
    elif ready.get("status") == "True":
        words.append("Ready")
    else:
        words.append("NotReady")
    if node.get("spec", {}).get("unschedulable"):
        words.append("SchedulingDisabled")
    return ",".join(words)


def _node_roles(node: dict) -> str:
    roles = set()
    for key, value in _meta(node).get("labels", {}).items():
        if key.startswith("node-role.kubernetes.io/"):
            roles.add(key.partition("/")[2])
        elif key == "kubernetes.io/role":
            roles.add(value)
    return ",".join(sorted(r for r in roles if r)) or NONE


def _node_address(node: dict, kind: str) -> str:
    addresses = node.get("status", {}).get("addresses", [])
    return next((a.get("address") for a in addresses if a.get("type") == kind), None) or NONE


def _node_row(node: dict, now: datetime.datetime) -> tuple[Row, Row]:
    info = node.get("status", {}).get("nodeInfo", {})
    row = [
        _name(node),
        _node_status(node),
        _node_roles(node),
        _age(node, now),
        info.get("kubeletVersion") or NONE,
    ]
    wide = [
        _node_address(node, "InternalIP"),
        _node_address(node, "ExternalIP"),
        info.get("osImage") or "<unknown>",
        info.get("kernelVersion") or "<unknown>",
        info.get("containerRuntimeVersion") or "<unknown>",
    ]
    return row, wide


def _namespace_row(ns: dict, now: datetime.datetime) -> tuple[Row, Row]:
    return [_name(ns), ns.get("status", {}).get("phase", "Active"), _age(ns, now)], []


def format_endpoints(endpoints: dict, limit: int = MAX_ENDPOINTS) -> str:
    """`10.244.1.5:80,10.244.2.3:80 + 2 more...`: kubectl's ENDPOINTS column."""
    shown, count = [], 0
    for subset in endpoints.get("subsets", []):
        ports = subset.get("ports") or [None]
        for port in ports:
            for address in subset.get("addresses", []):
                if count < limit:
                    ip = address.get("ip", "")
                    shown.append(f"{ip}:{port['port']}" if port else ip)
                count += 1
    text = ",".join(shown)
    if count > limit:
        text += f" + {count - limit} more..."
    return text or NONE


def _endpoints_row(ep: dict, now: datetime.datetime) -> tuple[Row, Row]:
    return [_name(ep), format_endpoints(ep), _age(ep, now)], []


def _event_row(event: dict, now: datetime.datetime) -> tuple[Row, Row]:
    last = event.get("lastTimestamp") or event.get("eventTime") or event.get("firstTimestamp")
    involved = event.get("involvedObject", {})
    subject = f"{involved.get('kind', '').lower()}/{involved.get('name', '')}"
    source = event.get("source", {})
    row = [
        human_age(last or _meta(event).get("creationTimestamp"), now),
        event.get("type", ""),
        event.get("reason", ""),
        subject,
        event.get("message", "").strip().replace("\n", " "),
    ]
    wide = [
        involved.get("fieldPath", ""),
        ", ".join(v for v in (source.get("component"), source.get("host")) if v),
        human_age(event.get("firstTimestamp") or last, now),
        str(event.get("count", 1)),
        _name(event),
    ]
    return row, wide


PRINTERS: dict[str, tuple[Row, Row, Callable[[dict, datetime.datetime], tuple[Row, Row]]]] = {
    "Pod": (["NAME", "READY", "STATUS", "RESTARTS", "AGE"], ["IP", "NODE"], _pod_row),
    "ReplicationController": (
        ["NAME", "DESIRED", "CURRENT", "READY", "AGE"],
        ["CONTAINERS", "IMAGES", "SELECTOR"],
        _rc_row,
    ),
    "Service": (
        ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"],
        ["SELECTOR"],
        _service_row,
    ),
    "Node": (
        ["NAME", "STATUS", "ROLES", "AGE", "VERSION"],
        ["INTERNAL-IP", "EXTERNAL-IP", "OS-IMAGE", "KERNEL-VERSION", "CONTAINER-RUNTIME"],
        _node_row,
    ),
    "Namespace": (["NAME", "STATUS", "AGE"], [], _namespace_row),
    "Endpoints": (["NAME", "ENDPOINTS", "AGE"], [], _endpoints_row),
    "Event": (
        ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"],
        ["SUBOBJECT", "SOURCE", "FIRST SEEN", "COUNT", "NAME"],
        _event_row,
    ),
}
