"""Where a pod can run and where it runs best: a pipeline of small filters and scorers.

As in Nomad's feasibility/ranking and kube-scheduler's plugins: each filter answers
"can this node take the pod?" with None or the reason it cannot (worded as
kube-scheduler words it, so the FailedScheduling message reads the same); each scorer
rates a feasible node, and the best tuple of scores wins (spread first, then least
requested). Pure functions over plain records, tested without a cluster.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from raftkube.state.quantity import QuantityError, parse_cpu, parse_memory

DEFAULT_MAX_PODS = 110
# Like kube-scheduler's percentageOfNodesToScore: on a big cluster, stop looking once
# this many feasible nodes are found (the search starts where the last one ended, so
# every node gets its turn).
MIN_FEASIBLE = 50


@dataclass(frozen=True)
class PodRequest:
    """What a pod asks of a node."""

    cpu: int = 0                        # millicores
    memory: int = 0                     # bytes
    host_ports: frozenset = frozenset()  # (port, protocol, hostIP)
    owner: str | None = None            # its controller's uid
    node_selector: tuple = ()           # sorted (key, value) pairs


@dataclass
class NodeUsage:
    """What the pods bound to one node take of it."""

    cpu: int = 0
    memory: int = 0
    pods: int = 0
    host_ports: Counter = field(default_factory=Counter)
    owners: Counter = field(default_factory=Counter)

    def add(self, request: PodRequest, sign: int = 1) -> None:
        self.cpu += sign * request.cpu
        self.memory += sign * request.memory
        self.pods += sign
        for port in request.host_ports:
            self.host_ports[port] += sign
            if self.host_ports[port] <= 0:
                del self.host_ports[port]
        if request.owner:
            self.owners[request.owner] += sign
            if self.owners[request.owner] <= 0:
                del self.owners[request.owner]


@dataclass
class NodeInfo:
    """A schedulable view of a Node object plus its usage."""

    name: str
    ready: bool
    unschedulable: bool
    labels: dict
    cpu: float           # allocatable millicores (inf when not reported)
    memory: float        # allocatable bytes
    max_pods: int
    usage: NodeUsage = field(default_factory=NodeUsage)


def pod_request(pod: dict) -> PodRequest:
    spec = pod.get("spec") or {}
    cpu = memory = 0
    ports = set()
    for container in spec.get("containers") or ():
        requests = (container.get("resources") or {}).get("requests") or {}
        try:
            cpu += parse_cpu(requests["cpu"]) if "cpu" in requests else 0
            memory += parse_memory(requests["memory"]) if "memory" in requests else 0
        except QuantityError:
            pass  # validated at the API; never fail scheduling over it
        for port in container.get("ports") or ():
            if port.get("hostPort"):
                ports.add((port["hostPort"], port.get("protocol", "TCP"), port.get("hostIP", "")))
    owner = next((ref.get("uid") for ref in pod["metadata"].get("ownerReferences") or () if ref.get("controller")), None)
    return PodRequest(cpu, memory, frozenset(ports), owner, tuple(sorted((spec.get("nodeSelector") or {}).items())))


def node_info(node: dict, usage: NodeUsage | None = None) -> NodeInfo:
    status = node.get("status") or {}
    allocatable = status.get("allocatable") or status.get("capacity") or {}
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or ())
    try:
        cpu = parse_cpu(allocatable["cpu"]) if "cpu" in allocatable else float("inf")
        memory = parse_memory(allocatable["memory"]) if "memory" in allocatable else float("inf")
        max_pods = int(allocatable.get("pods", DEFAULT_MAX_PODS))
    except (QuantityError, ValueError, TypeError):
        cpu, memory, max_pods = float("inf"), float("inf"), DEFAULT_MAX_PODS
    return NodeInfo(name=node["metadata"]["name"],
                    ready=ready and not node["metadata"].get("deletionTimestamp"),
                    unschedulable=bool((node.get("spec") or {}).get("unschedulable")),
                    labels=node["metadata"].get("labels") or {}, cpu=cpu, memory=memory, max_pods=max_pods,
                    usage=usage if usage is not None else NodeUsage())


# -- filters: None when the node can take the pod, else why not ------------------------

def node_ready(pod: PodRequest, node: NodeInfo) -> str | None:
    return None if node.ready else "node(s) were not ready"


def node_schedulable(pod: PodRequest, node: NodeInfo) -> str | None:
    return "node(s) were unschedulable" if node.unschedulable else None


def node_selector(pod: PodRequest, node: NodeInfo) -> str | None:
    for key, value in pod.node_selector:
        if node.labels.get(key) != value:
            return "node(s) didn't match Pod's node affinity/selector"
    return None


def pod_count(pod: PodRequest, node: NodeInfo) -> str | None:
    return "Too many pods" if node.usage.pods + 1 > node.max_pods else None


def enough_cpu(pod: PodRequest, node: NodeInfo) -> str | None:
    return "Insufficient cpu" if pod.cpu and node.usage.cpu + pod.cpu > node.cpu else None


def enough_memory(pod: PodRequest, node: NodeInfo) -> str | None:
    return "Insufficient memory" if pod.memory and node.usage.memory + pod.memory > node.memory else None


def free_host_ports(pod: PodRequest, node: NodeInfo) -> str | None:
    for port, protocol, host_ip in pod.host_ports:
        for used_port, used_protocol, used_ip in node.usage.host_ports:
            if used_port == port and used_protocol == protocol and (not host_ip or not used_ip or host_ip == used_ip):
                return "node(s) didn't have free ports for the requested pod ports"
    return None


Filter = Callable[[PodRequest, NodeInfo], "str | None"]
# Filters that ignore the pod: `candidates` applies them once per batch, not per pod.
NODE_FILTERS: list[Filter] = [node_ready, node_schedulable]
POD_FILTERS: list[Filter] = [node_selector, pod_count, enough_cpu, enough_memory, free_host_ports]
FILTERS: list[Filter] = NODE_FILTERS + POD_FILTERS


# -- scorers: higher is better -------------------------------------------------------

def spread(pod: PodRequest, node: NodeInfo) -> float:
    """Fewer pods of the same controller on the node is better."""
    return -node.usage.owners.get(pod.owner, 0) if pod.owner else 0


def least_requested(pod: PodRequest, node: NodeInfo) -> float:
    """The share of cpu and memory left after placing the pod, and of pod slots."""
    shares = [1 - (node.usage.pods + 1) / node.max_pods]
    if node.cpu != float("inf") and node.cpu:
        shares.append(1 - (node.usage.cpu + pod.cpu) / node.cpu)
    if node.memory != float("inf") and node.memory:
        shares.append(1 - (node.usage.memory + pod.memory) / node.memory)
    return sum(shares) / len(shares)


Scorer = Callable[[PodRequest, NodeInfo], float]
SCORERS: list[Scorer] = [spread, least_requested]


# -- the pipeline ----------------------------------------------------------------------

@dataclass
class Placement:
    node: str | None
    failures: Counter  # reason -> number of nodes
    total: int

    @property
    def message(self) -> str:
        """kube-scheduler's FailedScheduling wording."""
        if not self.total:
            return "0/0 nodes are available: no nodes available to schedule pods."
        reasons = sorted(self.failures.items(), key=lambda item: (-item[1], item[0]))
        return f"0/{self.total} nodes are available: " + ", ".join(f"{n} {r}" for r, n in reasons) + "."


@dataclass
class Candidates:
    """The nodes that pass the pod-independent filters, and why the others did not."""

    nodes: list[NodeInfo]
    failures: Counter
    total: int


def _first_failure(pod: PodRequest, node: NodeInfo, filters: list[Filter]) -> str | None:
    """Why the first filter that refuses `node` does, None when all accept it."""
    for check in filters:
        reason = check(pod, node)
        if reason is not None:
            return reason
    return None


def candidates(nodes: list[NodeInfo], filters: list[Filter] = NODE_FILTERS) -> Candidates:
    failures: Counter = Counter()
    passed = []
    anything = PodRequest()  # these filters do not look at it
    for node in nodes:
        reason = _first_failure(anything, node, filters)
        if reason is None:
            passed.append(node)
        else:
            failures[reason] += 1
    return Candidates(passed, failures, len(nodes))


def place(pod: PodRequest, nodes: "list[NodeInfo] | Candidates", start: int = 0, enough: int | None = None,
          filters: list[Filter] | None = None, scorers: list[Scorer] = SCORERS) -> Placement:
    """The best feasible node for `pod`, looking at nodes from index `start` round the
    list and stopping after `enough` feasible ones (default: MIN_FEASIBLE or 5%).

    Given `Candidates`, only the pod filters run (the node filters already did);
    given a plain list, all of them."""
    if isinstance(nodes, Candidates):
        failures, total, nodes = Counter(nodes.failures), nodes.total, nodes.nodes
        filters = POD_FILTERS if filters is None else filters
    else:
        failures, total = Counter(), len(nodes)
        filters = FILTERS if filters is None else filters
    if enough is None:
        enough = max(MIN_FEASIBLE, total // 20)
    best, best_score, feasible = None, None, 0
    count = len(nodes)
    for offset in range(count):
        node = nodes[(start + offset) % count]
        reason = _first_failure(pod, node, filters)
        if reason is not None:
            failures[reason] += 1
            continue
        score = tuple(scorer(pod, node) for scorer in scorers)
        if best_score is None or score > best_score:
            best, best_score = node, score
        feasible += 1
        if feasible >= enough:
            break
    return Placement(best.name if best else None, failures, total)
