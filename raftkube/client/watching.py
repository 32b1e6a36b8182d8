"""Follow changes to a collection across master failures, each change exactly once.

A watch is a stream from one master. When that master dies, the stream breaks; the
next one starts from the last resourceVersion seen, on whichever master answers. Change
events carry the global revision at which they happened, so anything at or below what
was already seen is a repeat and dropped. When the masters no longer remember that far
back (410 Gone), the collection is listed again and the difference to what was seen
becomes the missed changes, as client-go's reflector does.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator

from raftkube.client.api import ApiClient, ApiError, MastersUnreachable

logger = logging.getLogger(__name__)

Key = tuple[str, str]  # (namespace, name)


def _key(obj: dict) -> Key:
    meta = obj.get("metadata", {})
    return meta.get("namespace", ""), meta.get("name", "")


def _version(obj: dict) -> int:
    try:
        return int(obj.get("metadata", {}).get("resourceVersion", 0))
    except (TypeError, ValueError):
        return 0


class WatchCursor:
    """What a watcher has seen: the newest revision and each object's version (pure)."""

    def __init__(self, revision: int, objects: list[dict] = ()):
        self.revision = revision
        self.seen: dict[Key, dict] = {_key(obj): obj for obj in objects}

    def accept(self, event_type: str, obj: dict) -> bool:
        """Record a change; False when it is one already seen (a replay after reconnecting)."""
        version = _version(obj)
        if version <= self.revision:
            return False
        self.revision = version
        if event_type == "DELETED":
            self.seen.pop(_key(obj), None)
        else:
            self.seen[_key(obj)] = obj
        return True

    def relisted(self, items: list[dict], revision: int) -> list[tuple[str, dict]]:
        """The changes missed, given a fresh listing at `revision`; the cursor moves there."""
        missed: list[tuple[str, dict]] = []
        current = {_key(obj): obj for obj in items}
        for key, obj in self.seen.items():
            if key not in current:
                gone = {**obj, "metadata": {**obj.get("metadata", {}), "resourceVersion": str(revision)}}
                missed.append(("DELETED", gone))
        for key, obj in current.items():
            before = self.seen.get(key)
            if before is None:
                missed.append(("ADDED", obj))
            elif _version(before) != _version(obj):
                missed.append(("MODIFIED", obj))
        self.seen = current
        self.revision = max(self.revision, revision)
        return missed


def follow(client: ApiClient, path: str, params: dict | None, cursor: WatchCursor,
           wanted: Callable[[dict], bool] = lambda obj: True, give_up_after: float = 30.0,
           window: int = 300, read_timeout: float = 60.0) -> Iterator[tuple[str, dict]]:
    """Yield (event type, object) for every change after `cursor`, forever.

    Streams are asked to end after `window` seconds and are abandoned after `read_timeout`
    seconds of silence (a master cut off from the network does not close its streams);
    both just mean a reconnect. `MastersUnreachable` once no master has answered for
    `give_up_after` seconds.
    """
    params = dict(params or {})
    last_answer = time.monotonic()
    backoff = 0.1
    while True:
        query = {**params, "resourceVersion": str(cursor.revision), "timeoutSeconds": str(window)}
        try:
            for event in client.watch(path, query, read_timeout=read_timeout):
                last_answer = time.monotonic()
                backoff = 0.1
                event_type, obj = event.get("type"), event.get("object") or {}
                if event_type == "ERROR":
                    if obj.get("code") != 410:
                        raise ApiError(obj.get("message") or "watch failed", obj.get("code", 0), obj.get("reason", ""))
                    logger.debug("watch on %s: %s; listing again", path, obj.get("message"))
                    listed = client.get(path, params)
                    revision = _version(listed)
                    yield from cursor.relisted([o for o in listed["items"] if wanted(o)], revision)
                    break
                if wanted(obj) and cursor.accept(event_type, obj):
                    yield event_type, obj
        except MastersUnreachable:
            if time.monotonic() - last_answer > give_up_after:
                raise
        logger.debug("watch on %s ended at revision %d; reconnecting", path, cursor.revision)
        time.sleep(backoff)
        backoff = min(backoff * 2, 1.0)
