"""Work queues of keys, as in Kubernetes' client-go: deduplicated, one worker per key
at a time, and exponential back-off per key for keys whose sync failed.

A key added while it is being processed is processed again afterwards (its change may
have come after the worker read the cache), never twice at once.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Hashable

BASE_DELAY = 0.05
MAX_DELAY = 30.0


def backoff_delay(failures: int, base: float = BASE_DELAY, maximum: float = MAX_DELAY) -> float:
    """The wait before retry number `failures` (1, 2, ...): base doubling up to maximum."""
    return min(base * 2 ** max(failures - 1, 0), maximum)


class WorkQueue:
    """Keys to sync; `get` waits for one, `done` releases it."""

    def __init__(self, base_delay: float = BASE_DELAY, max_delay: float = MAX_DELAY):
        self._queue: deque = deque()
        self._dirty: set = set()
        self._processing: set = set()
        self._failures: dict = {}
        self._timers: dict = {}
        self._base, self._max = base_delay, max_delay
        self._ready = asyncio.Event()
        self._closed = False

    def __len__(self) -> int:
        return len(self._queue)

    def add(self, key: Hashable) -> None:
        if self._closed or key in self._dirty:
            return
        self._dirty.add(key)
        if key not in self._processing:
            self._queue.append(key)
            self._ready.set()

    def add_after(self, key: Hashable, delay: float) -> None:
        """Add `key` after `delay` seconds; an earlier pending timer for it wins."""
        if delay <= 0:
            self.add(key)
            return
        loop = asyncio.get_running_loop()
        when = loop.time() + delay
        timer = self._timers.get(key)
        if timer is not None and timer.when() <= when:
            return
        if timer is not None:
            timer.cancel()
        self._timers[key] = loop.call_at(when, self._fire, key)

    def _fire(self, key: Hashable) -> None:
        self._timers.pop(key, None)
        self.add(key)

    def retry(self, key: Hashable) -> float:
        """The sync of `key` failed: add it again after its back-off; returns the delay."""
        failures = self._failures.get(key, 0) + 1
        self._failures[key] = failures
        delay = backoff_delay(failures, self._base, self._max)
        self.add_after(key, delay)
        return delay

    def forget(self, key: Hashable) -> None:
        """The sync of `key` succeeded: its back-off starts over."""
        self._failures.pop(key, None)

    async def get(self) -> Hashable:
        while not self._queue:
            self._ready.clear()
            await self._ready.wait()
        key = self._queue.popleft()
        self._dirty.discard(key)
        self._processing.add(key)
        return key

    def get_nowait(self) -> Hashable | None:
        """A queued key without waiting, or None (for workers that take batches)."""
        if not self._queue:
            return None
        key = self._queue.popleft()
        self._dirty.discard(key)
        self._processing.add(key)
        return key

    def done(self, key: Hashable) -> None:
        self._processing.discard(key)
        if key in self._dirty:
            self._queue.append(key)
            self._ready.set()

    def close(self) -> None:
        self._closed = True
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
