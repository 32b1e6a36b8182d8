"""Three-way apply, as kubectl's client-side `apply` computes it (pure).

Three versions of an object meet: the *original* (what the previous apply sent,
recorded in the `kubectl.kubernetes.io/last-applied-configuration` annotation), the
*modified* (the manifest now, with that annotation updated) and the *live* object. A
field the manifest sets is set; a field the previous apply set and the manifest no
longer has is removed; every other field of the live object (status, a clusterIP, a
nodeName, replicas changed by `scale` when the manifest never had them) is kept.

Lists whose items Kubernetes merges by a key (containers by name, ports by port...)
are merged item by item the same way; other lists are replaced whole. The annotation
is written exactly as kubectl writes it (compact JSON with sorted keys, a final newline,
and `annotations: {}` kept), so kubectl and raftkube can take turns applying.
"""

from __future__ import annotations

import copy
import json
from typing import Any

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"

# Lists Kubernetes' strategic merge merges by a key, by field name.
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "volumes": "name",
    "env": "name",
    "imagePullSecrets": "name",
    "volumeMounts": "mountPath",
}


def last_applied_text(manifest: dict) -> str:
    """The annotation's value for `manifest`: the manifest without the annotation itself."""
    recorded = copy.deepcopy(manifest)
    metadata = recorded.setdefault("metadata", {})
    annotations = dict(metadata.get("annotations") or {})
    annotations.pop(LAST_APPLIED, None)
    metadata["annotations"] = annotations
    return json.dumps(recorded, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n"


def with_last_applied(manifest: dict) -> dict:
    """The *modified* object: the manifest carrying its own last-applied annotation."""
    modified = copy.deepcopy(manifest)
    metadata = modified.setdefault("metadata", {})
    metadata["annotations"] = {**(metadata.get("annotations") or {}), LAST_APPLIED: last_applied_text(manifest)}
    return modified


def last_applied(live: dict) -> dict | None:
    """The *original* recorded on a live object; None if it was never applied (or the
    annotation is not a JSON object: then nothing is removed, as kubectl does)."""
    text = (live.get("metadata", {}).get("annotations") or {}).get(LAST_APPLIED)
    if not text:
        return None
    try:
        original = json.loads(text)
    except ValueError:
        return None
    return original if isinstance(original, dict) else None


def merge(original: Any, modified: Any, live: Any, field: str = "") -> Any:
    """The object apply makes: `modified` over `live`, minus what only `original` had."""
    if isinstance(modified, dict) and isinstance(live, dict):
        original = original if isinstance(original, dict) else {}
        result = {key: copy.deepcopy(value) for key, value in live.items()
                  if not (key in original and key not in modified)}
        for key, value in modified.items():
            if value is None:
                result.pop(key, None)  # `key: null` in a manifest removes the field
            else:
                result[key] = merge(original.get(key), value, live.get(key), key)
        return result
    if isinstance(modified, list) and isinstance(live, list):
        key = _merge_key(field, modified, live)
        if key:
            return _merge_list(original if isinstance(original, list) else [], modified, live, key)
    return copy.deepcopy(modified)


def _merge_key(field: str, *lists: list) -> str | None:
    """The key items of this list are merged by, if every item has it."""
    if field == "ports":
        items = [item for items in lists for item in items]
        key = "containerPort" if any(isinstance(i, dict) and "containerPort" in i for i in items) else "port"
    else:
        key = MERGE_KEYS.get(field)
    if key is None:
        return None
    if all(isinstance(item, dict) and item.get(key) is not None for items in lists for item in items):
        return key
    return None


def _merge_list(original: list, modified: list, live: list, key: str) -> list:
    by_original = {item.get(key): item for item in original if isinstance(item, dict)}
    by_live = {item[key]: item for item in live}
    wanted = [item[key] for item in modified]
    result = [merge(by_original.get(item[key]), item, by_live.get(item[key])) for item in modified]
    # Items someone else added are kept; those the previous apply made and the manifest dropped go.
    result += [copy.deepcopy(item) for item in live if item[key] not in wanted and item[key] not in by_original]
    return result


def prunable(listed: list[dict], applied: set[tuple[str, str, str]]) -> list[dict]:
    """Objects `apply --prune` deletes: made by apply (they carry the annotation) and not
    among the (kind, namespace, name) just applied."""
    doomed = []
    for obj in listed:
        meta = obj.get("metadata", {})
        if LAST_APPLIED not in (meta.get("annotations") or {}):
            continue
        if (obj.get("kind", ""), meta.get("namespace", ""), meta.get("name", "")) not in applied:
            doomed.append(obj)
    return doomed
