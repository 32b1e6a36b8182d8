"""The leader's informer-like cache of the replicated state.

Fed by `Store.add_listener`: the listener runs on pysyncobj's tick thread, so it only
schedules a pump on the loops' event loop; the pump reads `changes_since` under the
store's lock and updates the cache and its indexes, then calls the handlers that
controllers registered (which only queue keys). Reads are plain dict lookups: no HTTP,
no read barrier. Stored objects are never mutated, so the cache shares them.

A commit's result is resolved on the loop after the pump it scheduled (both go through
`call_soon_threadsafe` in apply order), so once `Committer.run` returns, the cache
already shows that write.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable

logger = logging.getLogger(__name__)

Key = tuple[str, str]  # (namespace, name); namespace "" for cluster-scoped kinds
Handler = Callable[[str, dict | None, dict | None], None]  # (event type, old, new)


def key_of(obj: dict) -> Key:
    meta = obj["metadata"]
    return meta.get("namespace", ""), meta["name"]


def controller_ref(obj: dict) -> dict | None:
    """The ownerReference with `controller: true`, if any."""
    for ref in obj["metadata"].get("ownerReferences") or ():
        if ref.get("controller"):
            return ref
    return None


class Cache:
    """Every object of the cluster as this replica applied it, with a few indexes."""

    def __init__(self, store, loop: asyncio.AbstractEventLoop):
        self._store = store
        self._loop = loop
        self.revision = 0
        self._objects: dict[str, dict[Key, dict]] = defaultdict(dict)
        self._by_uid: dict[str, dict] = {}
        self._pods_by_node: dict[str, set[Key]] = defaultdict(set)
        self._by_owner: dict[str, set[tuple[str, str, str]]] = defaultdict(set)
        self._handlers: dict[str, list[Handler]] = defaultdict(list)
        self._any_handlers: list[Handler] = []
        self._pump_scheduled = threading.Event()
        self._closed = False

    # -- lifecycle --------------------------------------------------------------------

    def start(self) -> None:
        """Subscribe, then load everything (a change applied meanwhile is pumped after)."""
        self._store.add_listener(self._on_applied)
        revision, objects = self._store.read(lambda state: (
            state.revision, {kind: dict(by_key) for kind, by_key in state.objects.items()}))
        self.revision = revision
        for kind, by_key in objects.items():
            for obj in by_key.values():
                self._put(kind, None, obj)
        self._schedule_pump()

    def close(self) -> None:
        self._closed = True
        self._store.remove_listener(self._on_applied)

    def _on_applied(self, revision: int) -> None:  # tick thread: never block
        if revision != self.revision:
            self._schedule_pump()

    def _schedule_pump(self) -> None:
        if self._pump_scheduled.is_set():
            return
        self._pump_scheduled.set()
        try:
            self._loop.call_soon_threadsafe(self.pump)
        except RuntimeError:
            pass  # the loop is closed: the master is stopping

    def pump(self) -> None:
        """Apply the changes since the last pump (on the loop)."""
        self._pump_scheduled.clear()
        if self._closed:
            return
        changes = self._store.read(lambda state: state.changes_since(self.revision))
        if changes is None:
            self._relist()
            return
        for revision, event, obj in changes:
            self._apply(event, obj)
            self.revision = revision

    def _relist(self) -> None:
        """Fell behind the change log: compare with the whole state, emit the differences."""
        logger.warning("cache fell behind the change log; relisting")
        revision, objects = self._store.read(lambda state: (
            state.revision, {kind: dict(by_key) for kind, by_key in state.objects.items()}))
        for kind in set(self._objects) | set(objects):
            new = objects.get(kind, {})
            for key, old in list(self._objects.get(kind, {}).items()):
                if key not in new:
                    self._apply("DELETED", old)
            for key, obj in new.items():
                old = self._objects.get(kind, {}).get(key)
                if old is not obj:
                    self._apply("MODIFIED" if old else "ADDED", obj)
        self.revision = revision

    # -- applying ---------------------------------------------------------------------

    def _apply(self, event: str, obj: dict) -> None:
        kind = obj["kind"]
        key = key_of(obj)
        old = self._objects[kind].get(key)
        if event == "DELETED":
            if old is None:
                return
            self._drop(kind, old)
            new = None
        else:
            new = obj
            self._put(kind, old, obj)
        for handler in (*self._handlers.get(kind, ()), *self._any_handlers):
            try:
                handler(event, old, new)
            except Exception:
                logger.exception("cache handler failed for %s %s", kind, key)

    def _put(self, kind: str, old: dict | None, obj: dict) -> None:
        if old is not None:
            self._unindex(kind, old)
        self._objects[kind][key_of(obj)] = obj
        self._index(kind, obj)

    def _drop(self, kind: str, obj: dict) -> None:
        self._objects[kind].pop(key_of(obj), None)
        self._unindex(kind, obj)

    def _index(self, kind: str, obj: dict) -> None:
        meta = obj["metadata"]
        self._by_uid[meta.get("uid")] = obj
        ident = (kind, *key_of(obj))
        for ref in meta.get("ownerReferences") or ():
            self._by_owner[ref.get("uid")].add(ident)
        if kind == "Pod":
            node = (obj.get("spec") or {}).get("nodeName")
            if node:
                self._pods_by_node[node].add(key_of(obj))

    def _unindex(self, kind: str, obj: dict) -> None:
        meta = obj["metadata"]
        if self._by_uid.get(meta.get("uid")) is obj:
            del self._by_uid[meta.get("uid")]
        ident = (kind, *key_of(obj))
        for ref in meta.get("ownerReferences") or ():
            owned = self._by_owner.get(ref.get("uid"))
            if owned is not None:
                owned.discard(ident)
                if not owned:
                    del self._by_owner[ref.get("uid")]
        if kind == "Pod":
            node = (obj.get("spec") or {}).get("nodeName")
            if node and node in self._pods_by_node:
                self._pods_by_node[node].discard(key_of(obj))
                if not self._pods_by_node[node]:
                    del self._pods_by_node[node]

    # -- subscribing ------------------------------------------------------------------

    def on(self, kind: str | None, handler: Handler) -> None:
        """Call `handler(event, old, new)` on the loop for each change of `kind` (None: all).

        Handlers must be cheap (queue a key); `old` is None for ADDED, `new` for DELETED.
        """
        (self._any_handlers if kind is None else self._handlers[kind]).append(handler)

    def clear_handlers(self) -> None:
        """Forget every handler (the controllers of a term that ended)."""
        self._handlers.clear()
        self._any_handlers.clear()

    # -- reading ----------------------------------------------------------------------

    def get(self, kind: str, namespace: str, name: str) -> dict | None:
        return self._objects.get(kind, {}).get((namespace, name))

    def list(self, kind: str, namespace: str | None = None) -> list[dict]:
        objs = self._objects.get(kind, {})
        if namespace is None:
            return list(objs.values())
        return [obj for (ns, _), obj in objs.items() if ns == namespace]

    def keys(self, kind: str) -> list[Key]:
        return list(self._objects.get(kind, {}))

    def by_uid(self, uid: str) -> dict | None:
        return self._by_uid.get(uid)

    def pods_on_node(self, node: str) -> list[dict]:
        pods = self._objects.get("Pod", {})
        return [pods[key] for key in self._pods_by_node.get(node, ()) if key in pods]

    def nodes_with_pods(self) -> Iterable[str]:
        return list(self._pods_by_node)

    def dependents(self, owner_uid: str) -> list[dict]:
        """Objects with an ownerReference to `owner_uid`."""
        found = []
        for kind, namespace, name in self._by_owner.get(owner_uid, ()):
            obj = self.get(kind, namespace, name)
            if obj is not None:
                found.append(obj)
        return found
