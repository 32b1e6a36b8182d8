"""Kubernetes' deletion semantics, as pure decisions for the state machine and the API.

Deleting an object either removes it at once or marks it terminating
(`metadata.deletionTimestamp`) and leaves the rest to the loops:

- A pod bound to a node is deleted gracefully: it gets a deletionTimestamp and
  `deletionGracePeriodSeconds` (the DeleteOptions' `gracePeriodSeconds`, else its
  `terminationGracePeriodSeconds`); the kubelet stops it and then deletes it with grace
  0, which removes it. Grace 0 removes at once; an unbound or finished pod goes at once.
- `propagationPolicy` Orphan adds the `orphan` finalizer and Foreground the
  `foregroundDeletion` one; the garbage collector removes them once it has released
  (Orphan) or deleted (Foreground) the dependents. Background (the default) removes
  the object now and the collector deletes dependents whose owners are gone.
- An object that is terminating, whose grace is over (0) and that has no finalizers
  left is removed: by the delete that ends its grace, or by the update that removes its
  last finalizer.

Everything here is a plain function of its arguments; the state machine calls it under
its never-raise rule, so bad arguments come back as `DeletionError`.
"""

from __future__ import annotations

from dataclasses import dataclass

ORPHAN = "orphan"
FOREGROUND = "foregroundDeletion"
POLICIES = ("Orphan", "Background", "Foreground")
POLICY_FINALIZERS = {"Orphan": ORPHAN, "Foreground": FOREGROUND}
DEFAULT_POD_GRACE = 30


class DeletionError(ValueError):
    """A malformed delete: its message is fit for a 400."""


@dataclass(frozen=True)
class DeleteOptions:
    grace: int | None = None
    propagation: str | None = None
    preconditions: dict | None = None


def parse_delete_options(body: dict | None, query) -> DeleteOptions:
    """Kubernetes' DeleteOptions from a DELETE's body and query (the body wins)."""
    body = body or {}
    grace = body.get("gracePeriodSeconds", query.get("gracePeriodSeconds"))
    propagation = body.get("propagationPolicy", query.get("propagationPolicy"))
    orphan = body.get("orphanDependents", query.get("orphanDependents"))
    preconditions = body.get("preconditions")
    preconditions = {} if preconditions is None else preconditions
    if isinstance(grace, str):
        if not grace.lstrip("-").isdigit():
            raise DeletionError(f"gracePeriodSeconds {grace!r} is not a whole number")
        grace = int(grace)
    if grace is not None and (not isinstance(grace, int) or isinstance(grace, bool)):
        raise DeletionError("gracePeriodSeconds must be a whole number")
    if grace is not None and grace < 0:
        grace = 0  # kubectl --now sends 1, --force 0; Kubernetes treats a negative one as 0 too
    if propagation is not None and propagation not in POLICIES:
        raise DeletionError(f"propagationPolicy {propagation!r} is not one of {', '.join(POLICIES)}")
    if orphan is not None:
        if isinstance(orphan, str):
            orphan = orphan.lower() == "true"
        if propagation is not None and orphan != (propagation == "Orphan"):
            raise DeletionError("orphanDependents and propagationPolicy disagree; use only propagationPolicy")
        propagation = propagation or ("Orphan" if orphan else "Background")
    if not isinstance(preconditions, dict):
        raise DeletionError("preconditions must be a mapping of uid and resourceVersion")
    return DeleteOptions(grace, propagation, preconditions)


def _pod_grace(obj: dict, grace: int | None) -> int:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    if not spec.get("nodeName") or status.get("phase") in ("Succeeded", "Failed"):
        return 0  # nothing runs it (any more): nothing to wait for
    if grace is not None:
        return grace
    meta = obj["metadata"]
    if meta.get("deletionTimestamp") and meta.get("deletionGracePeriodSeconds") is not None:
        return meta["deletionGracePeriodSeconds"]
    value = spec.get("terminationGracePeriodSeconds")
    return value if isinstance(value, int) else DEFAULT_POD_GRACE


def plan_delete(current: dict, now: str | None, grace: int | None, propagation: str | None) -> dict | None:
    """What deleting `current` leaves: None (remove it now) or the terminating object.

    Returns `current` itself when nothing changes (it was already terminating).
    """
    if grace is not None and (not isinstance(grace, int) or isinstance(grace, bool) or grace < 0):
        raise DeletionError("gracePeriodSeconds must be a whole number >= 0")
    if propagation is not None and propagation not in POLICIES:
        raise DeletionError(f"propagationPolicy {propagation!r} is not one of {', '.join(POLICIES)}")
    meta = current["metadata"]
    grace = _pod_grace(current, grace) if current.get("kind") == "Pod" else 0
    finalizers = list(meta.get("finalizers") or ())
    if propagation is not None:
        finalizers = [f for f in finalizers if f not in (ORPHAN, FOREGROUND)]
        if propagation in POLICY_FINALIZERS:
            finalizers.append(POLICY_FINALIZERS[propagation])
    terminating = bool(meta.get("deletionTimestamp"))
    if terminating:
        # Already going: a delete may only shorten the grace (kubectl --force), and a
        # policy may still be chosen.
        old_grace = meta.get("deletionGracePeriodSeconds") or 0
        grace = min(grace, old_grace)
        if grace == 0 and not finalizers:
            return None
        if grace == old_grace and finalizers == list(meta.get("finalizers") or ()):
            return current
        return _terminating(current, meta["deletionTimestamp"], grace, finalizers)
    if grace == 0 and not finalizers:
        return None
    if not isinstance(now, str) or not now:
        raise DeletionError("now must be a non-empty string")
    return _terminating(current, now, grace, finalizers)


def _terminating(obj: dict, since: str, grace: int, finalizers: list[str]) -> dict:
    meta = {**obj["metadata"], "deletionTimestamp": since, "deletionGracePeriodSeconds": grace}
    if finalizers:
        meta["finalizers"] = finalizers
    else:
        meta.pop("finalizers", None)
    return {**obj, "metadata": meta}


def carry_deletion(current: dict, new: dict) -> dict:
    """An update cannot start or stop a deletion: the deletion fields stay the current ones."""
    old_meta, meta = current["metadata"], dict(new["metadata"])
    for key in ("deletionTimestamp", "deletionGracePeriodSeconds"):
        if key in old_meta:
            meta[key] = old_meta[key]
        else:
            meta.pop(key, None)
    return {**new, "metadata": meta}


def finished(obj: dict) -> bool:
    """Terminating, its grace over and no finalizer left: it is to be removed."""
    meta = obj["metadata"]
    return bool(meta.get("deletionTimestamp")) and not meta.get("finalizers") \
        and not meta.get("deletionGracePeriodSeconds")
