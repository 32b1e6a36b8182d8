"""What happened to pods on this host that the leader cannot see in a container list.

A probe failing, a container killed for it: the helper records these as it notices them
and the leader collects them with `report(events_since=seq)`, turning them into
Kubernetes Events. The ring is bounded, so a leader that stays away long loses the
oldest (it can tell: the first seq it gets is past the one it asked after).
"""

from __future__ import annotations

import threading
import time
from collections import deque


class EventRing:
    """Numbered events, the newest `size` kept; seq numbers start at 1 per helper process."""

    def __init__(self, size: int = 1000):
        self._events: deque[dict] = deque(maxlen=size)
        self._seq = 0
        self._lock = threading.Lock()

    @property
    def seq(self) -> int:
        """The number of the newest event (0: none yet)."""
        with self._lock:
            return self._seq

    def record(self, pod: dict, container: str, reason: str, message: str, type_: str = "Normal") -> dict:
        """`pod` names the pod: {uid, namespace, name}."""
        with self._lock:
            self._seq += 1
            event = {
                "seq": self._seq,
                "uid": pod.get("uid"),
                "namespace": pod.get("namespace"),
                "name": pod.get("name"),
                "container": container,
                "type": type_,
                "reason": reason,
                "message": message,
                "time": time.time(),
            }
            self._events.append(event)
            return event

    def since(self, seq: int) -> list[dict]:
        with self._lock:
            return [event for event in self._events if event["seq"] > seq]
