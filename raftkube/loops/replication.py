"""The replication manager: keeps `spec.replicas` pods of each ReplicationController.

Pods are created from the template with `generateName` and an ownerReference
(controller: true) to the RC; matching orphans are adopted and owned pods whose labels
stopped matching are released. On scale-down the least useful pods go first:
unscheduled, then pending, then not ready, then the newest. Status counts replicas,
readyReplicas and availableReplicas (ready for minReadySeconds). A terminating RC is
left to the garbage collector.

Creates whose outcome is unknown (no quorum in time) are remembered as expectations,
so a retry does not create more while they may still land.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from raftkube.loops.cache import controller_ref, key_of
from raftkube.loops.controller import Controller, Fenced, LoopContext, Retry
from raftkube.loops.podutil import is_active, is_ready, is_terminating, labels_match, ready_since
from raftkube.state.names import generate_name

logger = logging.getLogger(__name__)

BURST = 500            # creates or deletes per sync, like Kubernetes' burstReplicas
EXPECTATION_TTL = 30.0
KIND = "ReplicationController"


@dataclass
class Plan:
    """One step of an RC toward its spec."""

    adopt: list = field(default_factory=list)
    release: list = field(default_factory=list)
    create: int = 0
    delete: list = field(default_factory=list)
    active: list = field(default_factory=list)


def deletion_rank(pod: dict) -> tuple:
    """Sort key: the pod to delete first sorts first (Kubernetes' ActivePods order)."""
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    phase = {"Pending": 0, "Unknown": 1, "Running": 2}.get(status.get("phase") or "Pending", 0)
    restarts = sum(c.get("restartCount", 0) for c in status.get("containerStatuses") or ())
    created = pod["metadata"].get("creationTimestamp") or ""
    return (1 if spec.get("nodeName") else 0, phase, 1 if is_ready(pod) else 0, -restarts,
            _descending(created), pod["metadata"]["name"])


def _descending(text: str) -> tuple:
    return tuple(-ord(ch) for ch in text)


def plan(rc: dict, pods: list[dict]) -> Plan:
    """What to do for `rc` given the pods of its namespace."""
    uid = rc["metadata"]["uid"]
    selector = (rc.get("spec") or {}).get("selector") or {}
    result = Plan()
    for pod in pods:
        ref = controller_ref(pod)
        matches = labels_match(selector, pod["metadata"].get("labels"))
        if ref is not None and ref.get("uid") == uid:
            if not matches:
                result.release.append(pod)
            elif is_active(pod):
                result.active.append(pod)
        elif ref is None and matches and is_active(pod):
            result.adopt.append(pod)
            result.active.append(pod)
    replicas = (rc.get("spec") or {}).get("replicas", 1)
    diff = len(result.active) - replicas
    if diff < 0:
        result.create = min(-diff, BURST)
    elif diff > 0:
        result.delete = sorted(result.active, key=deletion_rank)[:min(diff, BURST)]
    return result


def rc_status(rc: dict, active: list[dict], now: float) -> tuple[dict, float | None]:
    """The RC's status from its active pods, and when availability next changes."""
    min_ready = (rc.get("spec") or {}).get("minReadySeconds") or 0
    ready = [pod for pod in active if is_ready(pod)]
    available, wake = 0, None
    for pod in ready:
        since = ready_since(pod) or 0.0
        if since + min_ready <= now:
            available += 1
        else:
            wake = min(wake or float("inf"), since + min_ready - now)
    status = {**(rc.get("status") or {}), "replicas": len(active), "fullyLabeledReplicas": len(active),
              "readyReplicas": len(ready), "availableReplicas": available,
              "observedGeneration": rc["metadata"].get("generation", 1)}
    return status, wake


def pod_from_template(rc: dict) -> dict:
    meta, template = rc["metadata"], rc["spec"]["template"]
    template_meta = template.get("metadata") or {}
    prefix = f"{meta['name']}-"
    pod_meta = {"name": generate_name(prefix), "generateName": prefix, "namespace": meta["namespace"],
                "labels": dict(template_meta.get("labels") or {}),
                "ownerReferences": [{"apiVersion": "v1", "kind": KIND, "name": meta["name"], "uid": meta["uid"],
                                     "controller": True, "blockOwnerDeletion": True}]}
    if template_meta.get("annotations"):
        pod_meta["annotations"] = dict(template_meta["annotations"])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta, "spec": template["spec"],
            "status": {"phase": "Pending"}}


class ReplicationManager(Controller):
    name = "replication"
    workers = 2

    def __init__(self, ctx: LoopContext):
        super().__init__(ctx)
        self._expected: dict[str, dict[tuple, float]] = {}  # rc uid -> {(op, pod name): since}

    def setup(self) -> None:
        self.cache.on(KIND, self._on_rc)
        self.cache.on("Pod", self._on_pod)
        for key in self.cache.keys(KIND):
            self.queue.add(key)

    def _on_rc(self, event: str, old: dict | None, new: dict | None) -> None:
        if new is None:
            self._expected.pop(old["metadata"].get("uid"), None)
            return
        self.queue.add(key_of(new))

    def _on_pod(self, event: str, old: dict | None, new: dict | None) -> None:
        for pod in (old, new):
            if pod is None:
                continue
            ref = controller_ref(pod)
            if ref is not None:
                if ref.get("kind") == KIND:
                    self.queue.add((pod["metadata"]["namespace"], ref.get("name")))
                continue
            if is_active(pod) and pod["metadata"].get("labels"):
                for rc in self.cache.list(KIND, pod["metadata"]["namespace"]):
                    if labels_match((rc.get("spec") or {}).get("selector"), pod["metadata"]["labels"]):
                        self.queue.add(key_of(rc))

    def _pending(self, rc: dict) -> bool:
        """Creates/deletes of ours whose outcome the cache does not show yet."""
        expected = self._expected.get(rc["metadata"]["uid"])
        if not expected:
            return False
        now = time.monotonic()
        namespace = rc["metadata"]["namespace"]
        for (op, name), since in list(expected.items()):
            pod = self.cache.get("Pod", namespace, name)
            seen = pod is not None if op == "create" else (pod is None or is_terminating(pod))
            if seen or now - since > EXPECTATION_TTL:
                del expected[(op, name)]
        return bool(expected)

    async def sync(self, key: tuple) -> None:
        rc = self.cache.get(KIND, *key)
        if rc is None or is_terminating(rc):
            return
        step = plan(rc, self.cache.list("Pod", key[0]))
        await asyncio.gather(*(self._set_owner(pod, rc) for pod in step.adopt),
                             *(self._set_owner(pod, None) for pod in step.release))
        if not self._pending(rc):
            if step.create:
                await self._create(rc, step.create)
            elif step.delete:
                await self._delete(rc, step.delete)
            if step.create or step.delete:
                step = plan(self.cache.get(KIND, *key) or rc, self.cache.list("Pod", key[0]))
        await self._write_status(key, step.active)

    async def _set_owner(self, pod: dict, rc: dict | None) -> None:
        refs = [r for r in pod["metadata"].get("ownerReferences") or () if not r.get("controller")]
        if rc is not None:
            refs.append({"apiVersion": "v1", "kind": KIND, "name": rc["metadata"]["name"],
                         "uid": rc["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True})
        meta = {**pod["metadata"], "ownerReferences": refs}
        if not refs:
            del meta["ownerReferences"]
        result = await self.ctx.update({**pod, "metadata": meta})
        if not result["ok"] and result["reason"] != "NotFound":
            raise Retry(f"pod {pod['metadata']['name']}: {result['message']}")

    async def _create(self, rc: dict, count: int) -> None:
        expected = self._expected.setdefault(rc["metadata"]["uid"], {})

        async def one() -> None:
            pod = pod_from_template(rc)
            name = pod["metadata"]["name"]
            try:
                result = await self.ctx.create(pod, rid=f"rc/{rc['metadata']['uid']}/{name}")
            except Fenced:
                raise
            except Exception as exc:  # unknown outcome: it may still land
                expected[("create", name)] = time.monotonic()
                logger.info("creating a pod for rc %s: %s", rc["metadata"]["name"], exc)
                return
            if result["ok"]:
                self.ctx.events.record(rc, "SuccessfulCreate", f"Created pod: {name}")
            elif result["reason"] != "AlreadyExists":
                self.ctx.events.record(rc, "FailedCreate", f"Error creating: {result['message']}", type="Warning")

        await asyncio.gather(*(one() for _ in range(count)))

    async def _delete(self, rc: dict, pods: list[dict]) -> None:
        expected = self._expected.setdefault(rc["metadata"]["uid"], {})

        async def one(pod: dict) -> None:
            name = pod["metadata"]["name"]
            try:
                result = await self.ctx.delete(pod)
            except Fenced:
                raise
            except Exception as exc:
                expected[("delete", name)] = time.monotonic()
                logger.info("deleting pod %s: %s", name, exc)
                return
            if result["ok"]:
                self.ctx.events.record(rc, "SuccessfulDelete", f"Deleted pod: {name}")

        await asyncio.gather(*(one(pod) for pod in pods))

    async def _write_status(self, key: tuple, active: list[dict]) -> None:
        rc = self.cache.get(KIND, *key)
        if rc is None or is_terminating(rc):
            return
        status, wake = rc_status(rc, active, time.time())
        if wake is not None:
            self.queue.add_after(key, wake + 0.05)
        if status == rc.get("status"):
            return
        result = await self.ctx.update({**rc, "status": status})
        if not result["ok"] and result["reason"] == "Conflict":
            self.queue.add(key)

