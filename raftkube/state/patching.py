"""PATCH bodies by Content-Type, as Kubernetes applies them: pure functions of plain data.

- `application/merge-patch+json`: RFC 7386 (null deletes, mappings merge, the rest replaces).
- `application/strategic-merge-patch+json`: like a merge patch, but lists of structs
  merge element by element on Kubernetes' merge key (containers and env by name, a
  container's ports by containerPort, volumeMounts by mountPath, a Service's ports by
  port, conditions and addresses by type ...), with the directives `$patch:
  delete|replace|merge`, `$setElementOrder/FIELD`, `$retainKeys` and
  `$deleteFromPrimitiveList/FIELD`. kubectl apply, label, annotate and edit send these.
- `application/json-patch+json`: RFC 6902 operations on JSON pointers.
- `application/apply-patch+yaml`: server-side apply; without field ownership tracking it
  merges the applied configuration strategically (see `state/api.py`).
"""

from __future__ import annotations

import copy
from typing import Any

from raftkube.errors import UserError

MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY = "application/apply-patch+yaml"
APPLY_CBOR = "application/apply-patch+cbor"
CONTENT_TYPES = (MERGE, STRATEGIC, JSON_PATCH, APPLY)

# Field name -> merge key of its list elements, as in the Kubernetes types' patchMergeKey
# tags. "ports" depends on where it is: a container's are keyed by containerPort.
MERGE_KEYS = {
    "containers": "name", "initContainers": "name", "ephemeralContainers": "name", "volumes": "name",
    "env": "name", "volumeMounts": "mountPath", "volumeDevices": "devicePath", "imagePullSecrets": "name",
    "hostAliases": "ip", "conditions": "type", "ownerReferences": "uid",
    "containerStatuses": None, "initContainerStatuses": None, "resourceClaims": "name",
    "topologySpreadConstraints": "topologyKey", "readinessGates": None, "ingress": None,
}
CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")
# Lists of strings merged as sets (patchStrategy "merge" on a primitive list).
MERGED_PRIMITIVE_LISTS = ("finalizers",)

_DELETE = object()  # a `$patch: delete` on a whole map


class PatchError(UserError):
    """A patch that cannot be applied (malformed, or a JSON patch `test` that failed)."""


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: null deletes a key, mappings merge, the rest replaces."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# -- strategic merge patch ----------------------------------------------------------------

def strategic_merge_patch(original: dict, patch: dict) -> dict:
    """Kubernetes' strategic merge patch of `original` (left untouched) with `patch`."""
    if not isinstance(patch, dict):
        raise PatchError("a strategic merge patch must be a JSON object")
    merged = _merge_map(copy.deepcopy(original) if isinstance(original, dict) else {}, patch, ())
    return {} if merged is _DELETE else merged


def _merge_key(path: tuple[str, ...]) -> str | None:
    field = path[-1]
    if field == "ports":  # a container's by containerPort, a Service's by port; Endpoints' are atomic
        if len(path) >= 2 and path[-2] in CONTAINER_LISTS:
            return "containerPort"
        return "port" if path == ("spec", "ports") else None
    if field == "addresses":  # a Node's by type; an Endpoints subset's are atomic
        return "type" if path == ("status", "addresses") else None
    return MERGE_KEYS.get(field)


def _merge_map(original: dict, patch: dict, path: tuple[str, ...]):
    directive = patch.get("$patch")
    if directive == "delete":
        return _DELETE
    if directive == "replace":
        return _strip(patch)
    if directive not in (None, "merge"):
        raise PatchError(f"{_where(path)}: unknown $patch directive {directive!r}")
    result = dict(original)
    orders = {}
    for key, value in patch.items():
        if key in ("$patch", "$retainKeys"):
            continue
        if key.startswith("$setElementOrder/"):
            orders[key.partition("/")[2]] = value
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.partition("/")[2]
            if isinstance(result.get(field), list) and isinstance(value, list):
                result[field] = [item for item in result[field] if item not in value]
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            current = result.get(key)
            merged = _merge_map(current if isinstance(current, dict) else {}, value, path + (key,))
            if merged is _DELETE:
                result.pop(key, None)
            else:
                result[key] = merged
        elif isinstance(value, list):
            result[key] = _merge_list(result.get(key), value, path + (key,))
        else:
            result[key] = value
    for field, order in orders.items():
        if isinstance(result.get(field), list) and isinstance(order, list):
            result[field] = _ordered(result[field], order, _merge_key(path + (field,)))
    retain = patch.get("$retainKeys")
    if isinstance(retain, list):
        result = {key: value for key, value in result.items() if key in retain}
    return result


def _merge_list(original, patch: list, path: tuple[str, ...]) -> list:
    field = path[-1]
    if field in MERGED_PRIMITIVE_LISTS and all(not isinstance(item, dict) for item in patch):
        merged = list(original) if isinstance(original, list) else []
        return merged + [item for item in patch if item not in merged]
    key = _merge_key(path)
    if key is None or not isinstance(original, list):
        if any(isinstance(item, dict) and item.get("$patch") for item in patch):
            return [_strip(item) for item in patch
                    if not (isinstance(item, dict) and item.get("$patch") in ("replace", "delete"))]
        return [_strip(item) if isinstance(item, dict) else item for item in patch]
    if any(isinstance(item, dict) and item.get("$patch") == "replace" for item in patch):
        return [_strip(item) for item in patch if not (isinstance(item, dict) and item.get("$patch"))]
    result = list(original)
    for item in patch:
        if not isinstance(item, dict):
            raise PatchError(f"{_where(path)}: elements must be objects (merged on {key})")
        if key not in item:
            raise PatchError(f"{_where(path)}: an element lacks its merge key {key!r}")
        at = next((i for i, existing in enumerate(result)
                   if isinstance(existing, dict) and existing.get(key) == item[key]), None)
        if item.get("$patch") == "delete":
            result = [existing for existing in result
                      if not (isinstance(existing, dict) and existing.get(key) == item[key])]
            continue
        if at is None:
            result.append(_strip(item))
        else:
            merged = _merge_map(result[at], item, path)
            if merged is _DELETE:
                del result[at]
            else:
                result[at] = merged
    return result


def _ordered(items: list, order: list, key: str | None) -> list:
    """`$setElementOrder`: the listed elements in that order, the others after them."""
    def identity(item):
        return item.get(key) if key and isinstance(item, dict) else item
    wanted = [identity(entry) for entry in order]
    placed = sorted((item for item in items if identity(item) in wanted), key=lambda i: wanted.index(identity(i)))
    return placed + [item for item in items if identity(item) not in wanted]


def _strip(value):
    """A patch fragment without its directives (what gets stored when it is new)."""
    if isinstance(value, dict):
        return {key: _strip(item) for key, item in value.items()
                if not key.startswith("$") and item is not None}
    if isinstance(value, list):
        return [_strip(item) for item in value]
    return value


def _where(path: tuple[str, ...]) -> str:
    return ".".join(path) or "patch"


# -- JSON patch ---------------------------------------------------------------------------

def json_patch(document: dict, operations: list) -> dict:
    """RFC 6902: add, remove, replace, move, copy, test; all or nothing."""
    if not isinstance(operations, list):
        raise PatchError("a JSON patch must be a list of operations")
    result = copy.deepcopy(document)
    for number, operation in enumerate(operations):
        if not isinstance(operation, dict) or not isinstance(operation.get("path"), str):
            raise PatchError(f"JSON patch operation {number}: needs an op and a path")
        op, path = operation.get("op"), operation["path"]
        if op == "add":
            result = _add(result, _pointer(path), _value(operation, number))
        elif op == "remove":
            result = _remove(result, _pointer(path))
        elif op == "replace":
            result = _remove(result, _pointer(path))
            result = _add(result, _pointer(path), _value(operation, number))
        elif op in ("move", "copy"):
            source = _pointer(operation.get("from", ""))
            value = copy.deepcopy(_get(result, source))
            if op == "move":
                result = _remove(result, source)
            result = _add(result, _pointer(path), value)
        elif op == "test":
            if _get(result, _pointer(path)) != _value(operation, number):
                raise PatchError(f"JSON patch test failed at {path}")
        else:
            raise PatchError(f"JSON patch operation {number}: unknown op {op!r}")
    return result


def _value(operation: dict, number: int):
    if "value" not in operation:
        raise PatchError(f"JSON patch operation {number} ({operation.get('op')}): needs a value")
    return copy.deepcopy(operation["value"])


def _pointer(text: str) -> list[str]:
    if text == "":
        return []
    if not text.startswith("/"):
        raise PatchError(f"JSON pointer {text!r} must start with /")
    return [part.replace("~1", "/").replace("~0", "~") for part in text[1:].split("/")]


def _get(document, pointer: list[str]):
    value = document
    for part in pointer:
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            raise PatchError(f"JSON patch: path /{'/'.join(pointer)} does not exist")
    return value


def _add(document, pointer: list[str], value):
    if not pointer:
        return value
    parent = _get(document, pointer[:-1])
    last = pointer[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        if last == "-":
            parent.append(value)
        elif last.isdigit() and int(last) <= len(parent):
            parent.insert(int(last), value)
        else:
            raise PatchError(f"JSON patch: index {last} out of range at /{'/'.join(pointer)}")
    else:
        raise PatchError(f"JSON patch: /{'/'.join(pointer[:-1])} is not an object or a list")
    return document


def _remove(document, pointer: list[str]):
    if not pointer:
        raise PatchError("JSON patch: cannot remove the whole object")
    parent = _get(document, pointer[:-1])
    last = pointer[-1]
    if isinstance(parent, dict) and last in parent:
        del parent[last]
    elif isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        del parent[int(last)]
    else:
        raise PatchError(f"JSON patch: path /{'/'.join(pointer)} does not exist")
    return document


def apply_patch(current: dict, content_type: str, body: Any) -> dict:
    """The patched object for one of `CONTENT_TYPES` (`APPLY` merges strategically)."""
    if content_type == JSON_PATCH:
        patched = json_patch(current, body)
        if not isinstance(patched, dict):
            raise PatchError("the JSON patch must leave an object, not a " + type(patched).__name__)
        return patched
    if not isinstance(body, dict):
        raise PatchError("the patch must be a JSON object")
    if content_type == MERGE:
        return merge_patch(current, body)
    return strategic_merge_patch(current, body)
