"""The Kubernetes v1 object model: which kinds exist and what a valid object is.

`validate` is the one gate every object passes before it is stored, whether it came
from `apply`, a loop or `setup`: it applies Kubernetes' defaults and reports every
problem at once, each with its field path, in one line the CLI can print as is.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import marshmallow

from raftkube.errors import UserError
from raftkube.state import names
from raftkube.state.kinds import (  # noqa: F401 (re-exported: objects is where users look)
    _BY_ALIAS,
    API_VERSION,
    DEFAULT_NAMESPACE,
    KINDS,
    KindInfo,
    UnknownKind,
    kind_info,
)
from raftkube.state.schemas.cluster import Namespace, Node
from raftkube.state.schemas.controller import ReplicationController
from raftkube.state.schemas.event import Event
from raftkube.state.schemas.pod import Pod
from raftkube.state.schemas.service import Endpoints, Service

_SCHEMAS: dict[str, marshmallow.Schema] = {
    "Namespace": Namespace(),
    "Node": Node(),
    "Pod": Pod(),
    "ReplicationController": ReplicationController(),
    "Service": Service(),
    "Endpoints": Endpoints(),
    "Event": Event(),
}

# Namespaces are DNS labels (they become DNS names), Services DNS-1035 labels (their
# names become environment variables and hostnames); everything else a subdomain.
_NAME_RULES = {
    "Namespace": names.dns1123_label,
    "Service": names.dns1035_label,
}


class ValidationError(UserError):
    """An object that is not valid; `errors` holds each (field path, problem)."""

    def __init__(self, subject: str, errors: list[tuple[str, str]]):
        self.subject = subject
        self.errors = errors
        details = "; ".join(f"{path}: {problem}" if path else problem for path, problem in errors)
        super().__init__(f"{subject}: {details}")


def validate(obj: Any, default_namespace: str = DEFAULT_NAMESPACE) -> dict:
    """Check a manifest-shaped object and return a copy with Kubernetes' defaults.

    Cluster-scoped objects lose any namespace they carry, as Kubernetes ignores it;
    namespaced ones without one get `default_namespace`. Raises `ValidationError`.
    """
    if not isinstance(obj, dict):
        raise ValidationError("object", [("", "must be a mapping with apiVersion and kind")])
    obj = _without_nulls(obj)
    kind, name = obj.get("kind"), _name_of(obj)
    subject = kind if isinstance(kind, str) and kind else "object"
    if name:
        subject += f' "{name}"'

    errors = _identity_errors(obj)
    if errors:
        raise ValidationError(subject, errors)
    info = KINDS[kind]
    obj = _with_namespace(obj, info, default_namespace)
    errors = _name_errors(obj)
    try:
        result = _SCHEMAS[kind].load(obj)
    except marshmallow.ValidationError as error:
        raise ValidationError(subject, errors + list(_flatten(error.messages))) from None
    if errors:
        raise ValidationError(subject, errors)
    return result


def validate_update(old: dict, new: dict) -> dict:
    """Check an update of `old` (both validated) against what Kubernetes keeps immutable.

    Returns `new`, completed with the values the cluster allocated that a re-applied
    manifest does not carry (a Service's clusterIP, a Node's podCIDR), as Kubernetes
    keeps them. Raises `ValidationError` for a forbidden change: most of a pod's spec
    (only images, activeDeadlineSeconds and a first nodeName may change), a Service's
    clusterIP, a Node's podCIDR.
    """
    kind = new.get("kind")
    subject = f'{kind} "{_name_of(new)}"'
    new = copy.deepcopy(new)
    errors = []
    if kind == "Pod":
        errors += _pod_update_errors(old.get("spec", {}), new.get("spec", {}))
    elif kind == "Service":
        errors += _kept(old.get("spec", {}), new.setdefault("spec", {}), "clusterIP")
    elif kind == "Node":
        errors += _kept(old.get("spec", {}), new.setdefault("spec", {}), "podCIDR")
    if errors:
        raise ValidationError(subject, errors)
    return new


_POD_MUTABLE = "spec.containers[*].image, spec.activeDeadlineSeconds, spec.nodeName (once)"


def _pod_update_errors(old_spec: dict, new_spec: dict) -> list[tuple[str, str]]:
    old_node = old_spec.get("nodeName")
    if old_node and new_spec.get("nodeName") != old_node:
        return [("spec.nodeName", "field is immutable once the pod is scheduled")]
    if _fixed_part(old_spec) != _fixed_part(new_spec):
        return [("spec", f"forbidden: pod updates may not change fields other than {_POD_MUTABLE}")]
    return []


def _fixed_part(pod_spec: dict) -> dict:
    """A pod spec without what an update may change (the pull policy follows the image)."""
    fixed = {k: v for k, v in pod_spec.items() if k not in ("activeDeadlineSeconds", "nodeName")}
    fixed["containers"] = [
        {k: v for k, v in container.items() if k not in ("image", "imagePullPolicy")}
        for container in pod_spec.get("containers", [])
    ]
    return fixed


def _kept(old_spec: dict, new_spec: dict, key: str) -> list[tuple[str, str]]:
    """An allocated value: carried over when the update omits it, else must not change."""
    before = old_spec.get(key)
    if not before:
        return []
    if not new_spec.get(key):
        new_spec[key] = before
        return []
    after = new_spec[key]
    if after != before:
        return [(f"spec.{key}", f'field is immutable: "{before}" cannot change to "{after}"')]
    return []


def _without_nulls(value: Any) -> Any:
    """Drop `key: null` everywhere, as the API server's decoder treats it as absent.

    `kubectl create --dry-run -o yaml` writes `creationTimestamp: null`, so manifests
    made that way must load.
    """
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(item) for item in value]
    return value


def _name_of(obj: dict) -> str | None:
    metadata = obj.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    return name if isinstance(name, str) else None


def _identity_errors(obj: dict) -> list[tuple[str, str]]:
    """apiVersion and kind come first: without them no schema applies."""
    errors = []
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    if api_version is None:
        errors.append(("apiVersion", "required value"))
    elif api_version != API_VERSION:
        errors.append(
            ("apiVersion", f'unsupported value "{api_version}": supported values: "{API_VERSION}"')
        )
    if kind is None:
        errors.append(("kind", "required value"))
    elif not isinstance(kind, str):
        errors.append(("kind", "must be a string"))
    elif kind not in KINDS:
        hint = ""
        if kind.lower() in _BY_ALIAS:
            hint = f' (did you mean "{_BY_ALIAS[kind.lower()].kind}"?)'
        known = ", ".join(sorted(KINDS))
        errors.append(("kind", f'unknown kind "{kind}"{hint}: known kinds are {known}'))
    if not isinstance(obj.get("metadata", {}), dict):
        errors.append(("metadata", "must be an object"))
    return errors


def _with_namespace(obj: dict, info: KindInfo, default_namespace: str) -> dict:
    metadata = dict(obj.get("metadata", {}))
    if info.namespaced:
        metadata.setdefault("namespace", default_namespace)
    else:
        metadata.pop("namespace", None)
    return {**obj, "metadata": metadata}


def _name_errors(obj: dict) -> list[tuple[str, str]]:
    metadata = obj["metadata"]
    rule = _NAME_RULES.get(obj["kind"], names.dns1123_subdomain)
    name, generate_name = metadata.get("name"), metadata.get("generateName")
    if name is None and generate_name is None:
        return [("metadata.name", "name or generateName is required")]
    errors = []
    if isinstance(name, str):
        errors += [("metadata.name", f'invalid value "{name}": {p}') for p in rule(name)]
    if isinstance(generate_name, str):
        # A prefix may end in "-": check it as the server will once a suffix is added.
        candidate = generate_name[:-1] + "a" if generate_name.endswith("-") else generate_name
        errors += [
            ("metadata.generateName", f'invalid value "{generate_name}": {p}')
            for p in rule(candidate or "a")
        ]
    return errors


def _flatten(messages: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """marshmallow's nested error dict -> ("spec.containers[0].image", "required value")."""
    if isinstance(messages, dict):
        for key, value in messages.items():
            if key == "_schema":
                sub_path = path
            elif isinstance(key, int):
                sub_path = f"{path}[{key}]"
            else:
                sub_path = f"{path}.{key}" if path else str(key)
            yield from _flatten(value, sub_path)
    elif isinstance(messages, list):
        for message in messages:
            if isinstance(message, str):
                yield path, message
            else:
                yield from _flatten(message, path)
    else:
        yield path, str(messages)
