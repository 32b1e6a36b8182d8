"""What every controller gets (`LoopContext`) and is (`Controller`).

A controller registers cache handlers that queue keys, and implements `sync(key)`: read
the cache, make one step toward the desired state with conditional writes, return.
A sync that raises is retried with per-key back-off; `Fenced` ends the controller.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Hashable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from raftkube.errors import UserError
from raftkube.loops.cache import Cache
from raftkube.loops.workqueue import WorkQueue
from raftkube.state.committer import Committer

logger = logging.getLogger(__name__)


class Fenced(UserError):
    """This master no longer holds the lease (or the term changed): stop acting."""


class NotLeader(UserError):
    """An operation that only the leading master can do was asked of another one."""

    def __init__(self, message: str, leader_api: str | None = None):
        super().__init__(message)
        self.leader_api = leader_api


def rfc3339(seconds: float | None = None) -> str:
    """Unix seconds (default now) as the store's timestamps: `2026-11-27T02:40:00Z`."""
    moment = datetime.fromtimestamp(time.time() if seconds is None else seconds, timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str | None) -> float | None:
    """An RFC 3339 timestamp as Unix seconds (None if absent or malformed)."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


@dataclass
class LoopSettings:
    """Tunables from the inventory (the master's merged host variables)."""

    node_grace: float = 5.0                # raftkube_node_grace
    pod_eviction_timeout: float = 10.0     # raftkube_pod_eviction_timeout
    event_ttl: float = 3600.0              # raftkube_event_ttl
    max_events: int = 5000                 # raftkube_max_events

    @classmethod
    def from_vars(cls, variables: dict) -> "LoopSettings":
        def number(name: str, default: float) -> float:
            try:
                return float(variables.get(name, default))
            except (TypeError, ValueError):
                logger.warning("inventory variable %s=%r is not a number; using %s", name, variables.get(name), default)
                return default

        return cls(node_grace=number("raftkube_node_grace", cls.node_grace),
                   pod_eviction_timeout=number("raftkube_pod_eviction_timeout", cls.pod_eviction_timeout),
                   event_ttl=number("raftkube_event_ttl", cls.event_ttl),
                   max_events=int(number("raftkube_max_events", cls.max_events)))


@dataclass
class LoopContext:
    """Everything a controller may use, for one leadership term.

    `hosts` is the leader's `HostPool` (None when the inventory has no nodes) and
    `node_hosts` the `[nodes]` hosts by name; `executor` runs blocking host calls;
    `heard[node]` is when (monotonic) that node's helper last answered (the kubelet
    worker writes it, node lifecycle reads it); `events` is the `EventRecorder`;
    `masters_heard(silence)` maps each master's address to whether this leader heard
    from it over Raft within `silence` seconds (None without an inventory).
    """

    holder: str
    term: int
    cache: Cache
    committer: Committer
    fenced: Callable[[], bool]
    settings: LoopSettings = field(default_factory=LoopSettings)
    hosts: Any = None
    node_hosts: dict = field(default_factory=dict)
    executor: Executor | None = None
    events: Any = None
    started: float = field(default_factory=time.monotonic)
    heard: dict[str, float] = field(default_factory=dict)
    masters_heard: Callable[[float], dict[str, bool]] | None = None

    def check(self) -> None:
        """Raise `Fenced` unless this master may act now."""
        if self.fenced():
            raise Fenced(f"lease for term {self.term} lost")

    async def commit(self, command: dict) -> dict:
        """Commit one command (fenced, with a fresh request id unless it has one)."""
        self.check()
        command.setdefault("rid", f"loops/{self.holder}/{self.term}/{uuid.uuid4().hex}")
        return await self.committer.run(command)

    async def create(self, obj: dict, rid: str | None = None) -> dict:
        return await self.commit({"op": "create", "object": obj, "uid": str(uuid.uuid4()),
                                  "now": rfc3339(), **({"rid": rid} if rid else {})})

    async def update(self, obj: dict) -> dict:
        """Replace `obj`; it must carry the resourceVersion it was read at (CAS)."""
        assert obj["metadata"].get("resourceVersion"), "loops write only conditionally"
        return await self.commit({"op": "update", "object": obj, "now": rfc3339()})

    async def delete(self, obj: dict, grace: int | None = None, propagation: str | None = None) -> dict:
        """Delete `obj` if it is still the object read (same uid)."""
        meta = obj["metadata"]
        command = {"op": "delete", "kind": obj["kind"], "namespace": meta.get("namespace", ""),
                   "name": meta["name"], "uid": meta.get("uid"), "now": rfc3339()}
        if grace is not None:
            command["gracePeriodSeconds"] = grace
        if propagation is not None:
            command["propagationPolicy"] = propagation
        return await self.commit(command)

    async def host_call(self, node: str, op: str, args: dict | None = None, timeout: float = 30.0) -> Any:
        """Run a helper op on `node` in the executor, stamped with this term."""
        self.check()
        if self.hosts is None:
            raise Fenced("no host pool")  # pragma: no cover - kubelets start only with a pool
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, self.hosts.call, node, op, args, self.term, timeout)


class Controller:
    """One loop: cache handlers queue keys, workers run `sync(key)` one key at a time."""

    name = "controller"
    workers = 1

    def __init__(self, ctx: LoopContext):
        self.ctx = ctx
        self.cache = ctx.cache
        self.queue = WorkQueue()

    def setup(self) -> None:
        """Register cache handlers and queue the initial keys (called before `run`)."""

    async def sync(self, key: Hashable) -> None:
        raise NotImplementedError

    async def background(self) -> None:
        """Optional periodic work next to the workers (timers, resyncs)."""

    async def run(self) -> None:
        tasks = [asyncio.create_task(self._worker(), name=f"{self.name}-worker-{n}") for n in range(self.workers)]
        tasks.append(asyncio.create_task(self.background(), name=f"{self.name}-background"))
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            self.queue.close()

    async def _worker(self) -> None:
        while True:
            key = await self.queue.get()
            try:
                await self.sync(key)
            except Fenced:
                raise
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                delay = self.queue.retry(key)
                if isinstance(exc, UserError):
                    logger.info("%s: sync %s failed (retry in %.2fs): %s", self.name, key, delay, exc)
                else:
                    logger.exception("%s: sync %s failed (retry in %.2fs)", self.name, key, delay)
            else:
                self.queue.forget(key)
            finally:
                self.queue.done(key)


class Retry(UserError):
    """A sync could not finish its step (a conflict, a host error): retry with back-off."""
