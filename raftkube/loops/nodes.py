"""Node lifecycle: the Ready condition from the kubelet workers' heartbeats, eviction.

A node's helper answers its kubelet worker about once a second (`ctx.heard`). Silent
for `node_grace` s: Ready becomes Unknown, its pods not ready, and a NodeNotReady event
is recorded. Silent `pod_eviction_timeout` s more: its pods are deleted at once (force),
so their controllers replace them elsewhere; the node's kubelet removes their
containers once it answers again. Pods bound to a node that has no Node object are
deleted too. Nodes annotated `raftkube.io/unmanaged: "true"` (objects with no host,
as the scheduler bench makes) are left alone. A new leader counts silence from its own
start, so a failover never evicts by itself; and while 55% or more of the nodes are
silent at once, nothing is evicted (Kubernetes' disruption rule: see `pause_evictions`).
"""

from __future__ import annotations

import asyncio
import logging
import time

from raftkube.loops.controller import Controller, Retry, rfc3339
from raftkube.loops.podutil import condition, is_terminating, set_condition

logger = logging.getLogger(__name__)

UNMANAGED_ANNOTATION = "raftkube.io/unmanaged"
PERIOD = 0.5
UNHEALTHY_THRESHOLD = 0.55  # kube-controller-manager's --unhealthy-zone-threshold


def is_unmanaged(node: dict) -> bool:
    return (node["metadata"].get("annotations") or {}).get(UNMANAGED_ANNOTATION) == "true"


def node_verdict(silent: float | None, grace: float, eviction: float) -> str:
    """"ready", "unknown" or "evict" after `silent` seconds without a report (None:
    not heard yet in this term, and not silent long enough to say)."""
    if silent is None:
        return "unheard"
    if silent <= grace:
        return "ready"
    if silent <= grace + eviction:
        return "unknown"
    return "evict"


def pause_evictions(verdicts: list[str]) -> bool:
    """Kubernetes' disruption rule: when most nodes fall silent at once, the fault is more
    likely the leader's own view (a new leader still connecting under load, a partition on
    its side) than every node dying together, and evicting would move every pod onto the
    few nodes left. kube-controller-manager stops evicting in a small cluster once
    UNHEALTHY_THRESHOLD of a zone's nodes are not ready; so do we, in any cluster."""
    if not verdicts:
        return False
    unhealthy = sum(verdict in ("unknown", "evict") for verdict in verdicts)
    return unhealthy / len(verdicts) >= UNHEALTHY_THRESHOLD


def ready_condition(verdict: str, now: str) -> dict:
    if verdict == "ready":
        return {"type": "Ready", "status": "True", "reason": "KubeletReady",
                "message": "kubelet is posting ready status", "lastHeartbeatTime": now, "lastTransitionTime": now}
    return {"type": "Ready", "status": "Unknown", "reason": "NodeStatusUnknown",
            "message": "Kubelet stopped posting node status.", "lastHeartbeatTime": now, "lastTransitionTime": now}


class NodeLifecycle(Controller):
    name = "node-lifecycle"

    def setup(self) -> None:
        self._paused = False
        self._wake = asyncio.Event()
        self.cache.on("Node", lambda event, old, new: self._wake.set())

    async def background(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), PERIOD)
            except asyncio.TimeoutError:
                pass
            self._wake.clear()
            await self.check_nodes()

    async def check_nodes(self) -> None:
        settings = self.ctx.settings
        now = time.monotonic()
        steps = []
        names = set()
        verdicts = []
        for node in self.cache.list("Node"):
            name = node["metadata"]["name"]
            names.add(name)
            if is_unmanaged(node):
                continue
            heard = self.ctx.heard.get(name)
            if heard is None and now - self.ctx.started > settings.node_grace:
                heard = self.ctx.started  # silent since this leader started
            verdict = node_verdict(None if heard is None else now - heard, settings.node_grace,
                                   settings.pod_eviction_timeout)
            verdicts.append((node, verdict))
        paused = pause_evictions([verdict for _, verdict in verdicts])
        if paused != self._paused:
            self._paused = paused
            if paused:
                logger.warning("most nodes are silent: evictions paused until more than half answer")
        for node, verdict in verdicts:
            if verdict == "unheard":
                continue
            if paused and verdict == "evict":
                verdict = "unknown"
            steps.append(self._node_step(node, verdict))
        for name in self.cache.nodes_with_pods():
            if name not in names:
                steps.extend(self._force_delete(pod) for pod in self.cache.pods_on_node(name)
                             if not is_terminating(pod) or pod["metadata"].get("deletionGracePeriodSeconds"))
        if steps:
            await asyncio.gather(*steps)

    async def _node_step(self, node: dict, verdict: str) -> None:
        current = condition(node, "Ready")
        wanted_status = "True" if verdict == "ready" else "Unknown"
        if current is None or current.get("status") != wanted_status:
            status = set_condition(node.get("status") or {}, ready_condition(verdict, rfc3339()))
            result = await self.ctx.update({**node, "status": status})
            if not result["ok"]:
                raise Retry(result["message"])
            if verdict != "ready":
                self.ctx.events.record(node, "NodeNotReady", f"Node {node['metadata']['name']} status is now: NodeNotReady",
                                       type="Warning")
            else:
                self.ctx.events.record(node, "NodeReady", f"Node {node['metadata']['name']} status is now: NodeReady")
        if verdict == "ready":
            return
        pods = self.cache.pods_on_node(node["metadata"]["name"])
        if verdict == "unknown":
            await asyncio.gather(*(self._not_ready(pod) for pod in pods))
        else:
            await asyncio.gather(*(self._force_delete(pod) for pod in pods
                                   if not is_terminating(pod) or pod["metadata"].get("deletionGracePeriodSeconds")))

    async def _not_ready(self, pod: dict) -> None:
        cond = condition(pod, "Ready")
        if cond is not None and cond.get("status") == "False":
            return
        now = rfc3339()
        status = pod.get("status") or {}
        for kind in ("Ready", "ContainersReady"):
            status = set_condition(status, {"type": kind, "status": "False", "reason": "NodeNotReady",
                                            "lastTransitionTime": now})
        await self.ctx.update({**pod, "status": status})

    async def _force_delete(self, pod: dict) -> None:
        result = await self.ctx.delete(pod, grace=0)
        if result["ok"]:
            logger.warning("pod %s/%s deleted: its node %s is gone or silent", pod["metadata"]["namespace"],
                           pod["metadata"]["name"], pod["spec"].get("nodeName"))
