"""Addresses the cluster hands out, allocated inside the replicated state machine.

Node pod CIDRs, pod IPs, ClusterIPs and NodePorts live in the objects themselves
(`Node.spec.podCIDR`, `Pod.status.podIP`, `Service.spec.clusterIP`/`ports[].nodePort`)
and are chosen here, while a create or update command is applied. Every replica applies
the same commands in the same order, so each picks the same value: a new leader keeps
every address, and nothing can hand one address to two live objects (the choice and
the store are one step). Released with the object: what is in use is read from the
objects that exist, never from a separate index that could drift.

Pure like the rest of the state machine: no I/O, no randomness (the lowest free value
wins), and failures are `AllocationError` values the command turns into a 422.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Collection, Iterable

CLUSTER_CIDR = "10.244.0.0/16"
SERVICE_CIDR = "10.96.0.0/12"
NODE_PREFIX = 24
# The cluster DNS service's well-known address (Kubernetes' default with this range).
KUBE_DNS_IP = "10.96.0.10"
# Dynamic ClusterIPs start above the lowest band, left to addresses users ask for
# (10.96.0.1, kube-dns' 10.96.0.10), as Kubernetes' allocator prefers.
_SERVICE_STATIC_BAND = 16
NODE_PORT_RANGE = (30000, 32767)
# Setup records the inventory's raftkube_cluster_cidr on each Node it registers.
CLUSTER_CIDR_ANNOTATION = "raftkube.io/cluster-cidr"

HEADLESS = "None"

Lister = Callable[[str], list[dict]]


class AllocationError(Exception):
    """An address that cannot be given: taken, out of range, or none left."""

    def __init__(self, message: str, reason: str = "Invalid"):
        super().__init__(message)
        self.message = message
        self.reason = reason


def complete(lister: Lister, getter: Callable[[str, str, str], dict | None],
             kind: str, current: dict | None, obj: dict, pod_ips: Collection[str] | None = None) -> dict:
    """`obj` (about to be stored over `current`, None on create) with its addresses.

    `lister(kind)` lists every stored object of a kind, `getter(kind, ns, name)` finds one;
    `pod_ips` are the pod IPs held now, required for a Pod (the caller keeps them indexed:
    reading them from the pods at every bind scanned every pod). Returns `obj` itself when
    nothing changes, else a new dict (stored objects are never mutated).
    """
    if kind == "Pod":
        assert pod_ips is not None, "a pod's addresses need the pod IPs in use"
        return _guarded(kind, _pod_of, lister, getter, current, obj, pod_ips)
    allocate = {"Service": _service, "Node": _node}.get(kind)
    if allocate is None:
        return obj
    return _guarded(kind, allocate, lister, getter, current, obj)


def _guarded(kind: str, allocate, *args) -> dict:
    try:
        return allocate(*args)
    except (TypeError, ValueError, AttributeError, KeyError) as exc:
        # Objects arrive validated; one that is not must be refused, never wedge Raft.
        raise AllocationError(f"{kind} has malformed address fields ({exc.__class__.__name__}: {exc})",
                              "BadRequest") from None


# -- nodes ----------------------------------------------------------------------------


def _node(lister: Lister, getter, current: dict | None, obj: dict) -> dict:
    spec = obj.get("spec") or {}
    kept = ((current or {}).get("spec") or {}).get("podCIDR")
    wanted = spec.get("podCIDR")
    name = obj["metadata"]["name"]
    if kept:
        if wanted and wanted != kept:
            raise AllocationError(f'Node "{name}": spec.podCIDR: field is immutable: "{kept}" cannot change to "{wanted}"')
        cidr = kept
    else:
        taken = [ipaddress.IPv4Network(n["spec"]["podCIDR"]) for n in lister("Node")
                 if (n.get("spec") or {}).get("podCIDR") and n["metadata"]["name"] != name]
        if wanted:
            network = ipaddress.IPv4Network(wanted)
            clash = next((t for t in taken if t.overlaps(network)), None)
            if clash is not None:
                raise AllocationError(f'Node "{name}": spec.podCIDR: Invalid value: "{wanted}": overlaps {clash} of another node')
            cidr = wanted
        else:
            cidr = str(node_cidr(cluster_cidr_of(obj), taken))
    if spec.get("podCIDR") == cidr and spec.get("podCIDRs") == [cidr]:
        return obj
    return {**obj, "spec": {**spec, "podCIDR": cidr, "podCIDRs": [cidr]}}


def cluster_cidr_of(node: dict) -> str:
    return ((node.get("metadata") or {}).get("annotations") or {}).get(CLUSTER_CIDR_ANNOTATION) or CLUSTER_CIDR


def node_cidr(cluster_cidr: str, taken: Iterable[ipaddress.IPv4Network]) -> ipaddress.IPv4Network:
    """The lowest /24 of the cluster CIDR that no node holds."""
    try:
        cluster = ipaddress.IPv4Network(cluster_cidr)
    except ValueError:
        raise AllocationError(f'cluster CIDR "{cluster_cidr}" is not an IPv4 network') from None
    if cluster.prefixlen > NODE_PREFIX:
        raise AllocationError(f"cluster CIDR {cluster} is smaller than one /{NODE_PREFIX} per node")
    # Node ranges are /24s or smaller: those count by the /24 they sit in, so each
    # candidate is one set lookup (a scan of every node per candidate made adding the
    # n-th node cost n^2). A larger range set by hand is checked for overlap as it is.
    taken = list(taken)
    step = 2 ** (32 - NODE_PREFIX)
    in_block = {int(t.network_address) // step for t in taken if t.prefixlen >= NODE_PREFIX}
    wide = [t for t in taken if t.prefixlen < NODE_PREFIX]
    for number in range(int(cluster.network_address), int(cluster.broadcast_address) + 1, step):
        if number // step in in_block:
            continue
        candidate = ipaddress.IPv4Network((number, NODE_PREFIX))
        if not any(candidate.overlaps(t) for t in wide):
            return candidate
    raise AllocationError(f"no pod CIDR left: every /{NODE_PREFIX} of the cluster CIDR {cluster} "
                          f"is held by a node ({len(taken)} nodes)")


# -- pods -----------------------------------------------------------------------------


def _pod_of(lister: Lister, getter, current: dict | None, obj: dict, pod_ips: Collection[str]) -> dict:
    """A pod keeps the IP it got when first bound to a node with a pod CIDR, for life.

    Whatever a status write says about podIP is replaced by the allocated one, so a
    loop that rebuilds status from a host report cannot drop or change it.
    """
    status = obj.get("status") or {}
    ip = ((current or {}).get("status") or {}).get("podIP")
    if not ip:
        node_name = (obj.get("spec") or {}).get("nodeName")
        node = getter("Node", "", node_name) if node_name else None
        cidr = ((node or {}).get("spec") or {}).get("podCIDR")
        if cidr:
            ip = str(pod_ip(cidr, pod_ips))
    if ip:
        if status.get("podIP") == ip and status.get("podIPs") == [{"ip": ip}]:
            return obj
        return {**obj, "status": {**status, "podIP": ip, "podIPs": [{"ip": ip}]}}
    if "podIP" in status or "podIPs" in status:
        return {**obj, "status": {k: v for k, v in status.items() if k not in ("podIP", "podIPs")}}
    return obj


def pod_ip(node_cidr: str, taken: Collection[str]) -> ipaddress.IPv4Address:
    """The lowest address of a node's range that no pod holds (the first is the gateway)."""
    network = ipaddress.IPv4Network(node_cidr)
    first, last = int(network.network_address) + 2, int(network.broadcast_address) - 1
    for number in range(first, last + 1):
        address = ipaddress.IPv4Address(number)
        if str(address) not in taken:
            return address
    raise AllocationError(f"no pod IP left in {network}: every address is held by a pod on this node")


def gateway(node_cidr: str) -> ipaddress.IPv4Interface:
    """The bridge's address on a node: the first of its range."""
    network = ipaddress.IPv4Network(node_cidr)
    return ipaddress.IPv4Interface(f"{network.network_address + 1}/{network.prefixlen}")


# -- services -------------------------------------------------------------------------


def _service(lister: Lister, getter, current: dict | None, obj: dict) -> dict:
    spec = dict(obj.get("spec") or {})
    meta = obj["metadata"]
    subject = f'Service "{meta["name"]}"'
    others = [s for s in lister("Service")
              if (s["metadata"].get("namespace"), s["metadata"]["name"]) != (meta.get("namespace"), meta["name"])]
    old_spec = (current or {}).get("spec") or {}
    spec["clusterIP"] = _cluster_ip(subject, old_spec.get("clusterIP"), spec.get("clusterIP"), others)
    if spec.get("type") == "NodePort":
        spec["ports"] = _node_ports(subject, old_spec.get("ports") or [], spec.get("ports") or [], others)
    new = {**obj, "spec": spec}
    return obj if new == obj else new


def _cluster_ip(subject: str, kept: str | None, wanted: str | None, others: list[dict]) -> str:
    if kept:
        if wanted and wanted != kept:
            raise AllocationError(f'{subject}: spec.clusterIP: field is immutable: "{kept}" cannot change to "{wanted}"')
        return kept
    if wanted == HEADLESS:
        return HEADLESS
    service_range = ipaddress.IPv4Network(SERVICE_CIDR)
    taken = {(s.get("spec") or {}).get("clusterIP") for s in others}
    if wanted:
        address = ipaddress.IPv4Address(wanted)
        if address not in service_range or address in (service_range.network_address, service_range.broadcast_address):
            raise AllocationError(f'{subject}: spec.clusterIP: Invalid value: "{wanted}": provided IP is not in the '
                                  f"valid range. The range of valid IPs is {SERVICE_CIDR}")
        if wanted in taken:
            owner = next(s for s in others if (s.get("spec") or {}).get("clusterIP") == wanted)
            raise AllocationError(f'{subject}: spec.clusterIP: Invalid value: "{wanted}": provided IP is already '
                                  f'allocated (to service {owner["metadata"].get("namespace")}/{owner["metadata"]["name"]})')
        return wanted
    return str(_lowest_free_service_ip(service_range, taken))


def _lowest_free_service_ip(service_range: ipaddress.IPv4Network, taken: set) -> ipaddress.IPv4Address:
    first = int(service_range.network_address) + 1
    last = int(service_range.broadcast_address) - 1
    start = first + _SERVICE_STATIC_BAND - 1
    for number in [*range(start, last + 1), *range(first, start)]:
        address = ipaddress.IPv4Address(number)
        if str(address) not in taken:
            return address
    raise AllocationError(f"no ClusterIP left in the service range {SERVICE_CIDR}")


def _node_ports(subject: str, old_ports: list[dict], ports: list[dict], others: list[dict]) -> list[dict]:
    """Each port's nodePort: the one asked for if free, else the one it had, else the lowest free."""
    taken = {p.get("nodePort") for s in others for p in (s.get("spec") or {}).get("ports") or []} - {None}
    kept = {(p.get("port"), p.get("protocol", "TCP")): p.get("nodePort") for p in old_ports if p.get("nodePort")}
    kept_by_name = {p.get("name"): p.get("nodePort") for p in old_ports if p.get("nodePort") and p.get("name")}
    result = []
    for index, port in enumerate(ports):
        wanted = port.get("nodePort")
        if wanted:
            if wanted in taken:
                raise AllocationError(f'{subject}: spec.ports[{index}].nodePort: Invalid value: {wanted}: '
                                      "provided port is already allocated")
        else:
            wanted = kept.get((port.get("port"), port.get("protocol", "TCP"))) or kept_by_name.get(port.get("name"))
            if not wanted or wanted in taken:
                wanted = _lowest_free_port(taken)
        taken.add(wanted)
        result.append({**port, "nodePort": wanted})
    return result


def _lowest_free_port(taken: set) -> int:
    low, high = NODE_PORT_RANGE
    for number in range(low, high + 1):
        if number not in taken:
            return number
    raise AllocationError(f"no NodePort left in {low}-{high}")
