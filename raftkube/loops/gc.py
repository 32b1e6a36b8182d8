"""The garbage collector: ownerReferences and the propagation policies.

- A dependent whose owners are all gone is deleted (Background cascade); references to
  owners that are gone are dropped when some owner remains.
- An owner terminating with the `orphan` finalizer: its dependents lose their reference
  to it, then the finalizer is removed (which removes the owner).
- An owner terminating with the `foregroundDeletion` finalizer: its dependents are
  deleted, and once none is left the finalizer is removed.

Keys are ("dependent", kind, namespace, name) and ("owner", kind, namespace, name).
"""

from __future__ import annotations

import asyncio
import logging

from raftkube.loops.cache import key_of
from raftkube.loops.controller import Controller, Retry
from raftkube.loops.podutil import is_terminating
from raftkube.state.deletion import FOREGROUND, ORPHAN
from raftkube.state.objects import KINDS

logger = logging.getLogger(__name__)


def dependent_action(obj: dict, owners: dict[str, dict | None]) -> tuple[str, list[dict]]:
    """What to do with a dependent: ("delete", []), ("keep-refs", refs to keep) or ("none", []).

    `owners` maps each ownerReference's uid to the owner object (None when gone).
    """
    refs = obj["metadata"].get("ownerReferences") or []
    if not refs or is_terminating(obj):
        return "none", []
    keep, doomed = [], False
    for ref in refs:
        owner = owners.get(ref.get("uid"))
        if owner is None:
            continue
        finalizers = owner["metadata"].get("finalizers") or ()
        if is_terminating(owner) and ORPHAN in finalizers:
            continue
        if is_terminating(owner) and FOREGROUND in finalizers:
            doomed = True
        keep.append(ref)
    if doomed or (not keep and any(owners.get(r.get("uid")) is None for r in refs)):
        return "delete", []
    if len(keep) != len(refs):
        return "keep-refs", keep
    return "none", []


def owner_action(owner: dict, dependents: list[dict]) -> str | None:
    """Which finalizer of a terminating owner can go now (None: not yet, or none)."""
    if not is_terminating(owner):
        return None
    finalizers = owner["metadata"].get("finalizers") or ()
    if ORPHAN in finalizers and not dependents:
        return ORPHAN
    if FOREGROUND in finalizers and not dependents:
        return FOREGROUND
    return None


class GarbageCollector(Controller):
    name = "garbage-collector"
    workers = 2

    def setup(self) -> None:
        self.cache.on(None, self._on_change)
        for kind in KINDS:
            for obj in self.cache.list(kind):
                self._on_change("ADDED", None, obj)

    def _watch_key(self, role: str, obj: dict) -> tuple:
        return (role, obj["kind"], *key_of(obj))

    def _on_change(self, event: str, old: dict | None, new: dict | None) -> None:
        obj = new or old
        meta = obj["metadata"]
        if obj["kind"] == "Event":
            return
        if new is None:
            # An owner went: its dependents may be orphans now.
            for dependent in self.cache.dependents(meta.get("uid")):
                self.queue.add(self._watch_key("dependent", dependent))
        else:
            if is_terminating(new) and {ORPHAN, FOREGROUND} & set(meta.get("finalizers") or ()):
                self.queue.add(self._watch_key("owner", new))
                for dependent in self.cache.dependents(meta.get("uid")):
                    self.queue.add(self._watch_key("dependent", dependent))
            refs = meta.get("ownerReferences") or ()
            if refs and any(self._owner_needs_look(ref) for ref in refs):
                self.queue.add(self._watch_key("dependent", new))
        # A dependent changed or went: an owner waiting for its dependents may be done.
        for ref in (old or {}).get("metadata", {}).get("ownerReferences") or ():
            owner = self.cache.by_uid(ref.get("uid"))
            if owner is not None and is_terminating(owner):
                self.queue.add(self._watch_key("owner", owner))

    def _owner_needs_look(self, ref: dict) -> bool:
        owner = self.cache.by_uid(ref.get("uid"))
        return owner is None or is_terminating(owner)

    async def sync(self, key: tuple) -> None:
        role, kind, namespace, name = key
        obj = self.cache.get(kind, namespace, name)
        if obj is None:
            return
        if role == "owner":
            await self._sync_owner(obj)
        else:
            await self._sync_dependent(obj)

    async def _sync_dependent(self, obj: dict) -> None:
        owners = {ref.get("uid"): self.cache.by_uid(ref.get("uid")) for ref in obj["metadata"].get("ownerReferences") or ()}
        action, keep = dependent_action(obj, owners)
        if action == "delete":
            result = await self.ctx.delete(obj, propagation="Background")
        elif action == "keep-refs":
            meta = {**obj["metadata"], "ownerReferences": keep}
            if not keep:
                del meta["ownerReferences"]
            result = await self.ctx.update({**obj, "metadata": meta})
        else:
            return
        if not result["ok"] and result["reason"] != "NotFound":
            raise Retry(f"{obj['kind']} {obj['metadata']['name']}: {result['message']}")

    async def _sync_owner(self, owner: dict) -> None:
        dependents = self.cache.dependents(owner["metadata"]["uid"])
        done = owner_action(owner, dependents)
        if done is None:
            for dependent in dependents:  # make sure each is being worked on
                self.queue.add(self._watch_key("dependent", dependent))
            return
        finalizers = [f for f in owner["metadata"].get("finalizers") or () if f != done]
        meta = {**owner["metadata"], "finalizers": finalizers}
        if not finalizers:
            del meta["finalizers"]
        result = await self.ctx.update({**owner, "metadata": meta})
        if not result["ok"] and result["reason"] != "NotFound":
            raise Retry(f"{owner['kind']} {owner['metadata']['name']}: {result['message']}")
        await asyncio.sleep(0)
