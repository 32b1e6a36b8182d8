"""Events: what happened to an object, aggregated so repeats cost no write storm.

`EventRecorder.record(obj, reason, message)` only counts in memory. A flush every
FLUSH_PERIOD writes an Event for a new (object, reason, message) at once and then at
most every MIN_WRITE_INTERVAL with the count and lastTimestamp, as Kubernetes'
aggregation does. Events expire after `raftkube_event_ttl` (1 h) and the oldest go
first beyond `raftkube_max_events`. A new leader picks up the counts from the stored
Events, so repeats keep aggregating across failovers.

Events are best effort, as in Kubernetes: they never compete with the cluster's real
work. At most MAX_WRITES_PER_FLUSH are written per flush (100/s), and while
MAX_BACKLOG new events wait unwritten, further new ones are dropped and counted in the
log (client-go's recorder drops beyond 1,000 queued); repeats of waiting ones still count.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from dataclasses import dataclass, field

from raftkube.loops.controller import Controller, LoopContext, parse_time, rfc3339

logger = logging.getLogger(__name__)

FLUSH_PERIOD = 0.5
MIN_WRITE_INTERVAL = 3.0
EXPIRE_PERIOD = 60.0
MAX_WRITES_PER_FLUSH = 50
MAX_BACKLOG = 1000
COMPONENTS = {"Scheduled": "default-scheduler", "FailedScheduling": "default-scheduler",
              "SuccessfulCreate": "replication-controller", "SuccessfulDelete": "replication-controller",
              "NodeNotReady": "node-controller", "NodeReady": "node-controller"}


@dataclass
class _Pending:
    involved: dict
    namespace: str
    reason: str
    message: str
    type: str
    count: int = 0
    first: str = ""
    last: str = ""
    name: str | None = None          # the stored Event's name once written
    written: int = 0                 # the count last written
    written_at: float = float("-inf")
    touched: float = field(default_factory=time.monotonic)


def _reference(obj: dict) -> dict:
    meta = obj["metadata"]
    ref = {"kind": obj.get("kind"), "name": meta["name"], "apiVersion": obj.get("apiVersion", "v1")}
    for key in ("namespace", "uid", "resourceVersion"):
        if meta.get(key):
            ref[key] = meta[key]
    return ref


def expired(events: list[dict], now: float, ttl: float, cap: int) -> list[dict]:
    """The Events to delete: last seen more than `ttl` s before `now`, then the oldest
    beyond `cap`."""
    ordered = sorted(events, key=lambda e: parse_time(e.get("lastTimestamp")) or 0.0)
    old = [e for e in ordered if (parse_time(e.get("lastTimestamp")) or 0.0) < now - ttl]
    excess = len(ordered) - len(old) - cap
    return old + (ordered[len(old):len(old) + excess] if excess > 0 else [])


class EventRecorder(Controller):
    name = "events"

    def __init__(self, ctx: LoopContext):
        super().__init__(ctx)
        self._entries: dict[tuple, _Pending] = {}
        self._dirty: set[tuple] = set()
        self._unwritten = 0  # new events waiting for their first write
        self._dropped = 0
        self._host = ctx.holder

    def setup(self) -> None:
        for event in self.cache.list("Event"):
            involved = event.get("involvedObject") or {}
            key = (involved.get("uid") or involved.get("name"), event.get("reason"), event.get("message"))
            self._entries[key] = _Pending(involved, event["metadata"]["namespace"], event.get("reason") or "",
                                          event.get("message") or "", event.get("type") or "Normal",
                                          count=event.get("count") or 1, first=event.get("firstTimestamp") or "",
                                          last=event.get("lastTimestamp") or "", name=event["metadata"]["name"],
                                          written=event.get("count") or 1)

    def record(self, obj: dict, reason: str, message: str, type: str = "Normal") -> None:
        """Count one occurrence; written by the next flush (cheap, never blocks)."""
        meta = obj["metadata"]
        key = (meta.get("uid") or meta["name"], reason, message)
        now = rfc3339()
        entry = self._entries.get(key)
        if entry is None:
            if self._unwritten >= MAX_BACKLOG:
                self._dropped += 1
                return
            entry = self._entries[key] = _Pending(_reference(obj), meta.get("namespace") or "default",
                                                  reason, message, type, first=now)
            self._unwritten += 1
        entry.count += 1
        entry.last = now
        entry.touched = time.monotonic()
        self._dirty.add(key)

    async def background(self) -> None:
        last_expiry = time.monotonic()
        while True:
            await asyncio.sleep(FLUSH_PERIOD)
            await self.flush()
            if time.monotonic() - last_expiry >= EXPIRE_PERIOD:
                last_expiry = time.monotonic()
                await self.expire()

    async def flush(self, force: bool = False) -> None:
        now = time.monotonic()
        due = [key for key in self._dirty
               if force or self._entries[key].name is None or now - self._entries[key].written_at >= MIN_WRITE_INTERVAL]
        if self._dropped:
            logger.warning("dropped %d new events: %d are still waiting to be written", self._dropped, self._unwritten)
            self._dropped = 0
        if not due:
            return
        due = due[:MAX_WRITES_PER_FLUSH]  # the rest wait: events never make a write storm
        for key in due:
            self._dirty.discard(key)
        await asyncio.gather(*(self._write(key) for key in due))

    async def _write(self, key: tuple) -> None:
        entry = self._entries.get(key)
        if entry is None:
            return
        count = entry.count
        stored = self.cache.get("Event", entry.namespace, entry.name) if entry.name else None
        event = {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": entry.name or f"{entry.involved['name']}.{secrets.token_hex(8)}",
                         "namespace": entry.namespace},
            "involvedObject": entry.involved, "reason": entry.reason, "message": entry.message,
            "source": {"component": COMPONENTS.get(entry.reason, "kubelet"), "host": self._host},
            "firstTimestamp": entry.first, "lastTimestamp": entry.last, "count": count, "type": entry.type,
            "reportingComponent": COMPONENTS.get(entry.reason, "kubelet"), "reportingInstance": self._host,
        }
        try:
            if stored is not None:
                event["metadata"] = {**stored["metadata"]}
                result = await self.ctx.update(event)
            else:
                result = await self.ctx.create(event)
        except Exception as exc:  # an event is worth a retry, never a failed controller
            if isinstance(exc, asyncio.CancelledError):
                raise
            logger.info("event %s not written: %s", entry.reason, exc)
            result = {"ok": False}
        if result.get("ok"):
            if entry.name is None:
                self._unwritten -= 1
            entry.name = result["object"]["metadata"]["name"]
            entry.written, entry.written_at = count, time.monotonic()
        else:
            self._dirty.add(key)
            entry.written_at = time.monotonic()  # retried after MIN_WRITE_INTERVAL

    async def expire(self) -> None:
        """Delete Events older than the TTL, then the oldest beyond the cap."""
        doomed = expired(self.cache.list("Event"), time.time(), self.ctx.settings.event_ttl,
                         self.ctx.settings.max_events)
        await asyncio.gather(*(self.ctx.delete(event) for event in doomed), return_exceptions=True)
        stale = time.monotonic() - self.ctx.settings.event_ttl
        for key in [k for k, e in self._entries.items() if e.touched < stale and k not in self._dirty]:
            del self._entries[key]
        while len(self._entries) > 2 * self.ctx.settings.max_events:
            if self._entries.pop(next(iter(self._entries))).name is None:
                self._unwritten -= 1
