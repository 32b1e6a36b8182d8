"""Which pods `drain` removes from a node, and what each node has promised (pure).

A pod a controller owns comes back elsewhere when it is deleted; one nobody owns is
simply gone, so drain refuses those unless forced, as kubectl does. Finished pods are
removed either way (nothing is lost). The requests a node carries are what the
scheduler counts against its allocatable resources.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from raftkube.state.quantity import parse_cpu, parse_memory

FINISHED = ("Succeeded", "Failed")


@dataclass
class DrainPlan:
    """The pods to delete from the node, and those refused (with why)."""

    delete: list[dict] = field(default_factory=list)
    refused: list[tuple[dict, str]] = field(default_factory=list)


def pod_ref(pod: dict) -> str:
    meta = pod.get("metadata", {})
    return f"{meta.get('namespace', '')}/{meta.get('name', '')}"


def controller_of(pod: dict) -> dict | None:
    """The ownerReference marked `controller: true`, if any."""
    for owner in pod.get("metadata", {}).get("ownerReferences") or []:
        if owner.get("controller"):
            return owner
    return None


def plan_drain(pods: list[dict], node: str, force: bool = False) -> DrainPlan:
    """What draining `node` deletes, given every pod (those on other nodes are skipped)."""
    plan = DrainPlan()
    for pod in pods:
        if pod.get("spec", {}).get("nodeName") != node:
            continue
        if pod.get("metadata", {}).get("deletionTimestamp"):
            plan.delete.append(pod)  # already going; drain still waits for it
        elif pod.get("status", {}).get("phase") in FINISHED or controller_of(pod) or force:
            plan.delete.append(pod)
        else:
            plan.refused.append((pod, "declares no controller"))
    return plan


def refusal_message(plan: DrainPlan) -> str:
    """kubectl's wording, all refused pods in one line."""
    names = ", ".join(pod_ref(pod) for pod, _ in plan.refused)
    return f"cannot delete Pods that declare no controller (use --force to override): {names}"


def pod_requests(pod: dict) -> tuple[int, int]:
    """(cpu millicores, memory bytes) a pod requests: its containers' sum, or its largest
    init container's if that is more (init containers run one at a time, before)."""
    spec = pod.get("spec", {})

    def requests(container: dict) -> tuple[int, int]:
        wanted = (container.get("resources") or {}).get("requests") or {}
        return parse_cpu(wanted.get("cpu", 0)), parse_memory(wanted.get("memory", 0))

    running = [requests(c) for c in spec.get("containers") or []]
    init = [requests(c) for c in spec.get("initContainers") or []]
    cpu = max([sum(c for c, _ in running), *(c for c, _ in init)])
    memory = max([sum(m for _, m in running), *(m for _, m in init)])
    return cpu, memory


def node_requests(pods: list[dict]) -> dict[str, tuple[int, int]]:
    """Per node name, the (cpu millicores, memory bytes) its unfinished pods request."""
    totals: dict[str, tuple[int, int]] = {}
    for pod in pods:
        node = pod.get("spec", {}).get("nodeName")
        if not node or pod.get("status", {}).get("phase") in FINISHED:
            continue
        cpu, memory = pod_requests(pod)
        before = totals.get(node, (0, 0))
        totals[node] = (before[0] + cpu, before[1] + memory)
    return totals
