"""The remote kubelet: one worker per `[nodes]` host, driving that host's helper.

Each worker asks its helper for a `report` about once a second (it doubles as the
node's heartbeat: `ctx.heard`), and right away when a pod bound to its node changes in
the cache. It then compares the pods bound to the node with what the host runs:

- a pod missing on the host, changed since it was last ensured (spec or pod IP), or
  whose helper lost its spec (restarted) is ensured (`ensure_pod`, the whole pod);
- an exited container is restarted when `podstatus.restart_plan` says so;
- a terminating pod is stopped (`stop_pod` with its grace), removed and then deleted
  with grace 0, which removes the object; containers of pods not bound here (deleted,
  evicted, bound elsewhere) are stopped and removed;
- the pod's status is rebuilt with `podstatus.pod_status` and written only when it
  differs from what is stored.

Host calls run in the loops' executor; slow ones (ensure, stop) run as their own tasks,
so a slow or dead host delays only its own worker, and a long stop never delays the
heartbeat. A stale-term answer means a newer leader has spoken to the host: fenced.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time

from raftkube.errors import UserError
from raftkube.loops import podstatus
from raftkube.loops.controller import Controller, Fenced, LoopContext
from raftkube.loops.podutil import is_finished, is_terminating
from raftkube.remote.connection import StaleTermError

logger = logging.getLogger(__name__)

REPORT_PERIOD = 1.0
REPORT_TIMEOUT = 5.0
ENSURE_TIMEOUT = 120.0
ORPHAN_GRACE = 2
WARNINGS = {"Unhealthy", "BackOff", "Failed", "FailedKillPod"}


def fingerprint(pod: dict) -> str:
    """What, when it changes, makes the host need the pod again."""
    data = json.dumps([pod.get("spec"), (pod.get("status") or {}).get("podIP")], sort_keys=True)
    return hashlib.sha1(data.encode()).hexdigest()


def needs_ensure(pod: dict, seen: dict | None, ensured: str | None) -> bool:
    if seen is None or not seen.get("ensured"):
        return True
    pause = seen.get("pause") or {}
    if pause.get("state") != "running":
        return True
    wanted = {c["name"] for c in pod["spec"].get("containers") or ()}
    if {c.get("name") for c in seen.get("containers") or ()} != wanted:
        return True
    return ensured != fingerprint(pod)


class Kubelets(Controller):
    """Runs a `NodeWorker` per `[nodes]` host of the inventory."""

    name = "kubelet"

    def __init__(self, ctx: LoopContext):
        super().__init__(ctx)
        self.workers_by_node = {name: NodeWorker(ctx, name, host) for name, host in ctx.node_hosts.items()}

    def setup(self) -> None:
        self.cache.on("Pod", self._on_pod)

    def _on_pod(self, event: str, old: dict | None, new: dict | None) -> None:
        for pod in (old, new):
            node = (pod or {}).get("spec", {}).get("nodeName")
            worker = self.workers_by_node.get(node)
            if worker is not None:
                worker.wake.set()

    async def background(self) -> None:
        if self.ctx.hosts is None or not self.workers_by_node:
            return
        await asyncio.gather(*(worker.run() for worker in self.workers_by_node.values()))


class NodeWorker:
    """The kubelet of one node."""

    def __init__(self, ctx: LoopContext, node: str, host):
        self.ctx = ctx
        self.node = node
        self.host_ip = host.address
        self.wake = asyncio.Event()
        self._seq = 0
        self._ensured: dict[str, str] = {}          # uid -> fingerprint last ensured in this term
        self._busy: dict[str, asyncio.Task] = {}     # uid -> ensure/stop task running
        self._retry_at: dict[str, float] = {}        # uid -> monotonic time to try a failed ensure again
        self._backoffs: dict[tuple, float] = {}      # (uid, container) -> restart time announced
        self._next_wake: float | None = None
        self._failures: dict[str, int] = {}         # uid -> ensures failed in a row

    async def run(self) -> None:
        reachable = True
        while True:
            self.wake.clear()
            try:
                report = await self.ctx.host_call(self.node, "report", {"events_since": self._seq},
                                                  timeout=REPORT_TIMEOUT)
            except StaleTermError as exc:
                raise Fenced(f"{self.node}: {exc}") from None
            except UserError as exc:
                if reachable:
                    logger.warning("node %s: no report: %s", self.node, exc)
                reachable = False
                await self._sleep(REPORT_PERIOD)
                continue
            if not reachable:
                logger.warning("node %s answers again", self.node)
            reachable = True
            self.ctx.heard[self.node] = time.monotonic()
            self._seq = report.get("seq", self._seq)
            self._record_host_events(report.get("events") or ())
            acted = await self.reconcile(report)
            if not acted:
                await self._sleep(REPORT_PERIOD)

    async def _sleep(self, period: float) -> None:
        timeout = period
        if self._next_wake is not None:
            timeout = max(0.0, min(timeout, self._next_wake - time.time()))
        try:
            await asyncio.wait_for(self.wake.wait(), timeout)
        except asyncio.TimeoutError:
            pass

    def _record_host_events(self, events) -> None:
        for event in events:
            pod = self.ctx.cache.by_uid(event.get("uid"))
            if pod is None or pod.get("kind") != "Pod":
                continue
            reason = event.get("reason") or "Unknown"
            self.ctx.events.record(pod, reason, event.get("message") or "",
                                   type=event.get("type") or ("Warning" if reason in WARNINGS else "Normal"))

    async def reconcile(self, report: dict) -> bool:
        """One pass over the node; True if it started something worth a fresh report."""
        observed = {entry["uid"]: entry for entry in report.get("pods") or ()}
        now = time.time()
        self._next_wake = None
        acted = False
        writes = []
        bound = set()
        for pod in self.ctx.cache.pods_on_node(self.node):
            uid = pod["metadata"]["uid"]
            bound.add(uid)
            if uid in self._busy:
                continue
            seen = observed.get(uid)
            if is_terminating(pod):
                self._start(uid, self._stop(pod, uid, pod["metadata"].get("deletionGracePeriodSeconds") or 0, seen))
                continue
            if not is_finished(pod) and needs_ensure(pod, seen, self._ensured.get(uid)):
                if time.monotonic() >= self._retry_at.get(uid, 0):
                    self._start(uid, self._ensure(pod))
                    acted = True
            elif seen is not None:
                acted |= await self._restarts(pod, seen, now)
            status = podstatus.pod_status(pod, seen, self.host_ip, now)
            if status != pod.get("status"):
                writes.append(self._write_status(pod, status))
        for uid, seen in observed.items():
            if uid not in bound and uid not in self._busy:
                self._start(uid, self._stop(None, uid, ORPHAN_GRACE, seen))
        for uid in [uid for uid in self._ensured if uid not in bound]:
            del self._ensured[uid]
            self._retry_at.pop(uid, None)
        if writes:
            await asyncio.gather(*writes)
        return acted

    def _start(self, uid: str, coroutine) -> None:
        task = asyncio.create_task(coroutine, name=f"kubelet-{self.node}-{uid}")
        self._busy[uid] = task

        def finished(done: asyncio.Task) -> None:
            if self._busy.get(uid) is done:
                del self._busy[uid]
            self.wake.set()
            if not done.cancelled() and isinstance(done.exception(), Fenced):
                logger.warning("node %s: fenced", self.node)

        task.add_done_callback(finished)

    async def _ensure(self, pod: dict) -> None:
        uid, name = pod["metadata"]["uid"], pod["metadata"]["name"]
        wanted = fingerprint(pod)
        try:
            result = await self.ctx.host_call(self.node, "ensure_pod", {"pod": pod}, timeout=ENSURE_TIMEOUT)
        except StaleTermError as exc:
            raise Fenced(str(exc)) from None
        except UserError as exc:
            self._failures[uid] = self._failures.get(uid, 0) + 1
            delay = min(2.0 ** self._failures[uid], 60.0)
            self._retry_at[uid] = time.monotonic() + delay
            self.ctx.events.record(pod, "Failed", f"Error: {exc}", type="Warning")
            logger.info("node %s: ensure %s failed (retry in %.0fs): %s", self.node, name, delay, exc)
            return
        self._failures.pop(uid, None)
        self._ensured[uid] = wanted
        for container in result.get("created") or ():
            if container == "POD":
                continue
            image = next((c.get("image") for c in pod["spec"]["containers"] if c["name"] == container), "")
            self.ctx.events.record(pod, "Pulled", f'Container image "{image}" already present on machine')
            self.ctx.events.record(pod, "Created", f"Created container {container}")
            self.ctx.events.record(pod, "Started", f"Started container {container}")

    async def _restarts(self, pod: dict, seen: dict, now: float) -> bool:
        acted = False
        uid = pod["metadata"]["uid"]
        counts = {c.get("name"): c.get("restart_count") or 0 for c in seen.get("containers") or ()}
        for container, when in podstatus.restart_plan(pod, seen, now):
            if when <= now:
                try:
                    # Conditional on the count seen: never a second restart of a run just begun.
                    await self.ctx.host_call(self.node, "restart_container",
                                             {"uid": uid, "container": container,
                                              "restart_count": counts.get(container, 0)}, timeout=30)
                    acted = True
                except StaleTermError as exc:
                    raise Fenced(str(exc)) from None
                except UserError as exc:
                    logger.info("node %s: restart %s/%s failed: %s", self.node, pod["metadata"]["name"], container, exc)
                self._backoffs.pop((uid, container), None)
            else:
                self._next_wake = min(self._next_wake or when, when)
                # A first crash has no back-off (only a host clock ahead of ours delays it).
                if self._backoffs.get((uid, container)) != when and counts.get(container, 0):
                    self._backoffs[(uid, container)] = when
                    self.ctx.events.record(pod, "BackOff", f"Back-off restarting failed container {container} "
                                                           f"in pod {pod['metadata']['name']}", type="Warning")
        return acted

    async def _stop(self, pod: dict | None, uid: str, grace: float, seen: dict | None) -> None:
        """Stop and remove the pod's containers; then delete a terminating pod for good."""
        try:
            if seen is not None:
                if pod is not None:
                    for container in pod["spec"].get("containers") or ():
                        self.ctx.events.record(pod, "Killing", f"Stopping container {container['name']}")
                await self.ctx.host_call(self.node, "stop_pod", {"uid": uid, "grace_seconds": grace},
                                         timeout=grace + 30)
                await self.ctx.host_call(self.node, "remove_pod", {"uid": uid}, timeout=60)
            self._ensured.pop(uid, None)
            if pod is not None:
                result = await self.ctx.delete(pod, grace=0)
                if not result["ok"] and result["reason"] not in ("NotFound", "Conflict"):
                    logger.info("node %s: deleting %s: %s", self.node, pod["metadata"]["name"], result["message"])
        except StaleTermError as exc:
            raise Fenced(str(exc)) from None
        except UserError as exc:
            logger.info("node %s: stopping pod %s failed: %s", self.node, uid, exc)
            await asyncio.sleep(1.0)

    async def _write_status(self, pod: dict, status: dict) -> None:
        result = await self.ctx.update({**pod, "status": status})
        if not result["ok"] and result["reason"] not in ("Conflict", "NotFound"):
            logger.info("node %s: status of %s not written: %s", self.node, pod["metadata"]["name"], result["message"])
