"""The scheduler: binds pods that have no `spec.nodeName` to a node.

Keeps each node's usage up to date from cache events (a pod counts where it is bound,
or where the scheduler has just decided to bind it: "assumed", as in kube-scheduler,
so a batch never overfills a node), takes the pending pods in batches, places each
with `placement.place` and binds them all with concurrent conditional updates (the
Committer turns them into a few Raft entries). A pod that fits nowhere gets
PodScheduled=False and a FailedScheduling event, and is tried again when a node or a
pod changes.

Binds are the scheduler's work; PodScheduled=False is news about it. Those status
writes go out at most REPORTS_PER_S (kube-scheduler's API client is rate-limited the
same way, 50 QPS by default), oldest first, so a storm of pods that fit nowhere never
takes the masters' write capacity from the users creating them nor from binds.
"""

from __future__ import annotations

import asyncio
import itertools
import logging

from raftkube.loops import placement
from raftkube.loops.cache import key_of
from raftkube.loops.controller import Controller, Fenced, LoopContext, rfc3339
from raftkube.loops.podutil import set_condition

logger = logging.getLogger(__name__)

BATCH = 2000
YIELD_EVERY = 100
WRITE_CHUNK = 200
RETRY_UNSCHEDULABLE = 15.0
RETRY_MIN_INTERVAL = 1.0
REPORTS_PER_S = 100


def counts_on_node(pod: dict) -> str | None:
    """The node whose resources `pod` takes: bound and not finished."""
    node = (pod.get("spec") or {}).get("nodeName")
    if node and (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed"):
        return node
    return None


def wants_scheduling(pod: dict) -> bool:
    return not (pod.get("spec") or {}).get("nodeName") and not pod["metadata"].get("deletionTimestamp")


class Scheduler(Controller):
    name = "scheduler"

    def __init__(self, ctx: LoopContext):
        super().__init__(ctx)
        self._usage: dict[str, placement.NodeUsage] = {}
        self._counted: dict[str, tuple[str, placement.PodRequest]] = {}  # pod uid -> (node, request)
        self._pending: dict[tuple, None] = {}  # ordered set of pod keys
        self._unschedulable: set[tuple] = set()
        self._nodes: dict[str, placement.NodeInfo] = {}
        self._node_list: placement.Candidates | None = None  # the nodes a pod may get, by name
        self._next_start = 0
        self._wake = asyncio.Event()
        self._reports: dict[tuple, placement.Placement] = {}  # unwritten PodScheduled=False, oldest first
        self._report_wake = asyncio.Event()
        self._retry_requested = False
        self._last_retry = float("-inf")

    def setup(self) -> None:
        for node in self.cache.list("Node"):
            self._on_node("ADDED", None, node)
        for pod in self.cache.list("Pod"):
            self._on_pod("ADDED", None, pod)
        self.cache.on("Pod", self._on_pod)
        self.cache.on("Node", self._on_node)

    # -- bookkeeping from cache events ------------------------------------------------

    def _usage_of(self, node: str) -> placement.NodeUsage:
        usage = self._usage.get(node)
        if usage is None:
            usage = self._usage[node] = placement.NodeUsage()
        return usage

    def _count(self, uid: str, node: str | None, request: placement.PodRequest | None) -> None:
        counted = self._counted.get(uid)
        if counted is not None and counted[0] == node:
            return
        if counted is not None:
            self._usage_of(counted[0]).add(counted[1], -1)
            del self._counted[uid]
            self._retry_unschedulable()  # room was freed
        if node is not None and request is not None:
            self._usage_of(node).add(request)
            self._counted[uid] = (node, request)

    def _on_pod(self, event: str, old: dict | None, new: dict | None) -> None:
        pod = new or old
        uid, key = pod["metadata"]["uid"], key_of(pod)
        node = counts_on_node(new) if new is not None else None
        counted = self._counted.get(uid)
        if counted is None or counted[0] != node:
            self._count(uid, node, placement.pod_request(new) if node else None)
        if new is not None and wants_scheduling(new):
            if key not in self._unschedulable:
                self._pending[key] = None
                self._wake.set()
        else:
            self._pending.pop(key, None)
            self._unschedulable.discard(key)

    def _on_node(self, event: str, old: dict | None, new: dict | None) -> None:
        name = (new or old)["metadata"]["name"]
        if new is None:
            self._nodes.pop(name, None)
        else:
            info = placement.node_info(new, self._usage_of(name))
            before = self._nodes.get(name)
            self._nodes[name] = info
            if before is not None and (before.ready, before.unschedulable, before.labels, before.cpu,
                                       before.memory, before.max_pods) == (
                    info.ready, info.unschedulable, info.labels, info.cpu, info.memory, info.max_pods):
                return
        self._node_list = None
        self._retry_unschedulable()

    def _retry_unschedulable(self) -> None:
        """Something changed that may make room: retry the unschedulable pods soon (at
        most every RETRY_MIN_INTERVAL, so a burst of node changes costs one retry)."""
        if self._unschedulable:
            self._retry_requested = True
            self._wake.set()

    def _move_unschedulable(self) -> None:
        self._retry_requested = False
        self._last_retry = asyncio.get_running_loop().time()
        for key in self._unschedulable:
            self._pending[key] = None
        self._unschedulable.clear()

    # -- scheduling -------------------------------------------------------------------

    async def background(self) -> None:
        tasks = [asyncio.create_task(self._schedule_loop()), asyncio.create_task(self._report_loop())]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:  # one failed (fenced): the other must not outlive it
                task.cancel()

    async def _schedule_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            timeout = RETRY_UNSCHEDULABLE
            if self._retry_requested:
                timeout = max(0.0, self._last_retry + RETRY_MIN_INTERVAL - loop.time())
            try:
                await asyncio.wait_for(self._wake.wait(), timeout)
            except asyncio.TimeoutError:
                pass
            self._wake.clear()
            since = loop.time() - self._last_retry
            if since >= RETRY_UNSCHEDULABLE or (self._retry_requested and since >= RETRY_MIN_INTERVAL):
                self._move_unschedulable()
            while self._pending:
                await self.schedule_batch()

    async def schedule_batch(self) -> None:
        keys = []
        for key in self._pending:
            keys.append(key)
            if len(keys) >= BATCH:
                break
        for key in keys:
            del self._pending[key]
        if self._node_list is None:
            self._node_list = placement.candidates(sorted(self._nodes.values(), key=lambda n: n.name))
        nodes = self._node_list
        binds, failures = [], []
        # Pods asking the same as one that fit nowhere in this batch fit nowhere either
        # (binds only take room): one search per shape, as kube-scheduler's equivalence classes.
        misfits: dict[tuple, placement.Placement] = {}
        for count, key in enumerate(keys, 1):
            if count % YIELD_EVERY == 0:
                await asyncio.sleep(0)  # never hold the loop (the lease renewal runs on it)
                self.ctx.check()
            pod = self.cache.get("Pod", *key)
            if pod is None or not wants_scheduling(pod):
                continue
            request = placement.pod_request(pod)
            shape = (request.cpu, request.memory, request.host_ports, request.node_selector)
            result = misfits.get(shape)
            if result is None:
                result = placement.place(request, nodes, self._next_start)
                if result.node is None:
                    misfits[shape] = result
            if nodes.nodes:
                self._next_start = (self._next_start + 1) % len(nodes.nodes)
            if result.node is None:
                self._unschedulable.add(key)
                failures.append((pod, result))
                continue
            self._count(pod["metadata"]["uid"], result.node, request)  # assumed until the bind lands
            binds.append((pod, result.node))
        self.ctx.check()
        # In chunks: all at once would be one huge Raft entry, whose apply holds up the
        # tick thread (and heartbeats) on every master.
        writes = [(self._bind, pod, node) for pod, node in binds]
        for pod, result in failures:
            self.ctx.events.record(pod, "FailedScheduling", result.message, type="Warning")
            self._reports.pop(key_of(pod), None)
            self._reports[key_of(pod)] = result  # the newest verdict, at the back of the line
        if failures:
            self._report_wake.set()
        for start in range(0, len(writes), WRITE_CHUNK):
            self.ctx.check()
            await asyncio.gather(*(write(pod, arg) for write, pod, arg in writes[start:start + WRITE_CHUNK]))

    async def _bind(self, pod: dict, node: str) -> None:
        status = set_condition(pod.get("status") or {}, {
            "type": "PodScheduled", "status": "True", "lastTransitionTime": rfc3339()})
        bound = {**pod, "spec": {**pod["spec"], "nodeName": node}, "status": status}
        try:
            result = await self.ctx.update(bound)
        except Fenced:
            raise
        except Exception as exc:
            result = {"ok": False, "reason": "Error", "message": str(exc)}
        uid = pod["metadata"]["uid"]
        if result["ok"]:
            self.ctx.events.record(pod, "Scheduled",
                                   f"Successfully assigned {pod['metadata']['namespace']}/{pod['metadata']['name']} to {node}")
            return
        # Not bound: forget the assumption; the cache's newer version (if any) queues it again.
        counted = self._counted.get(uid)
        if counted is not None and counted[0] == node and self._bound_node(pod) != node:
            self._usage_of(node).add(counted[1], -1)
            del self._counted[uid]
        current = self.cache.get("Pod", *key_of(pod))
        if current is not None and wants_scheduling(current):
            self._pending[key_of(pod)] = None
            self._wake.set()
        if result.get("reason") not in ("Conflict", "NotFound"):
            logger.info("binding %s to %s failed: %s", pod["metadata"]["name"], node, result.get("message"))
            await asyncio.sleep(0.1)

    def _bound_node(self, pod: dict) -> str | None:
        current = self.cache.get("Pod", *key_of(pod))
        return counts_on_node(current) if current else None

    async def _report_loop(self) -> None:
        """Write PodScheduled=False for pods still unschedulable, REPORTS_PER_S at most."""
        loop = asyncio.get_running_loop()
        while True:
            await self._report_wake.wait()
            self._report_wake.clear()
            while self._reports:
                started = loop.time()
                keys = list(itertools.islice(self._reports, REPORTS_PER_S // 10))
                writes = []
                for key in keys:
                    result = self._reports.pop(key)
                    pod = self.cache.get("Pod", *key)
                    if pod is not None and wants_scheduling(pod) and key in self._unschedulable:
                        writes.append(self._unschedulable_status(pod, result))
                self.ctx.check()
                written = sum(await asyncio.gather(*writes))
                await asyncio.sleep(max(0.0, started + written / REPORTS_PER_S - loop.time()))

    async def _unschedulable_status(self, pod: dict, result: placement.Placement) -> bool:
        """PodScheduled=False with the verdict, once per pod; whether it wrote."""
        message = result.message
        status = set_condition(pod.get("status") or {}, {
            "type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message,
            "lastTransitionTime": rfc3339()})
        status.setdefault("phase", "Pending")
        old = next((c for c in (pod.get("status") or {}).get("conditions") or () if c.get("type") == "PodScheduled"), None)
        if old and old.get("status") == "False":
            return False  # written once; the FailedScheduling event carries each new reason
        result = await self.ctx.update({**pod, "status": status})
        if not result["ok"] and result.get("reason") != "NotFound":
            logger.debug("PodScheduled=False for %s not written: %s", pod["metadata"]["name"], result.get("message"))
        return True
