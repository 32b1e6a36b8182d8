"""Small shared facts about pods, as Kubernetes' controllers read them."""

from __future__ import annotations

from raftkube.loops.controller import parse_time


def is_terminating(obj: dict) -> bool:
    return bool(obj["metadata"].get("deletionTimestamp"))


def is_finished(pod: dict) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def is_active(pod: dict) -> bool:
    """Counts toward a controller's replicas: not terminating, not finished."""
    return not is_terminating(pod) and not is_finished(pod)


def condition(obj: dict, kind: str) -> dict | None:
    for cond in (obj.get("status") or {}).get("conditions") or ():
        if cond.get("type") == kind:
            return cond
    return None


def is_ready(pod: dict) -> bool:
    cond = condition(pod, "Ready")
    return bool(cond) and cond.get("status") == "True"


def ready_since(pod: dict) -> float | None:
    """When (Unix seconds) the pod last became Ready, if it is."""
    cond = condition(pod, "Ready")
    if not cond or cond.get("status") != "True":
        return None
    return parse_time(cond.get("lastTransitionTime")) or 0.0


def labels_match(selector: dict, labels: dict | None) -> bool:
    """An RC's equality selector; an empty one matches nothing (as Kubernetes' RCs)."""
    if not selector:
        return False
    labels = labels or {}
    return all(labels.get(key) == value for key, value in selector.items())


def set_condition(status: dict, cond: dict) -> dict:
    """`status` with `cond` replacing the one of its type; the transition time is kept
    while the condition's status does not change."""
    old = next((c for c in status.get("conditions") or () if c.get("type") == cond["type"]), None)
    if old is not None and old.get("status") == cond.get("status") and old.get("lastTransitionTime"):
        cond = {**cond, "lastTransitionTime": old["lastTransitionTime"]}
    others = [c for c in status.get("conditions") or () if c.get("type") != cond["type"]]
    return {**status, "conditions": [*others, cond]}
