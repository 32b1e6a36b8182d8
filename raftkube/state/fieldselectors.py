"""`fieldSelector`: `metadata.name=web,status.phase!=Running`, as Kubernetes takes it.

Only the fields Kubernetes itself supports for the kinds served (plus the two every
kind has) are accepted; any other is a 400, never silently ignored.
"""

from __future__ import annotations

from dataclasses import dataclass

from raftkube.errors import UserError

COMMON = ("metadata.name", "metadata.namespace")
FIELDS: dict[str, tuple[str, ...]] = {
    "Pod": ("spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
            "spec.hostNetwork", "status.phase", "status.podIP", "status.nominatedNodeName"),
    "Event": ("involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
              "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath",
              "reason", "reportingComponent", "source", "type"),
    "Node": ("spec.unschedulable",),
    "Namespace": ("status.phase",),
    "ReplicationController": ("status.replicas",),
}


class FieldSelectorError(UserError):
    """A malformed field selector, or one naming a field the kind cannot be selected by."""


@dataclass(frozen=True)
class Requirement:
    field: str
    value: str
    equal: bool


@dataclass(frozen=True)
class FieldSelector:
    requirements: tuple[Requirement, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not self.requirements

    def matches(self, obj: dict) -> bool:
        return all((field_value(obj, r.field) == r.value) == r.equal for r in self.requirements)


def parse_field_selector(text: str | None, kind: str) -> FieldSelector:
    """`a=b,c!=d` (also `==`) for objects of `kind`; FieldSelectorError otherwise."""
    if not text:
        return FieldSelector()
    requirements = []
    for term in text.split(","):
        term = term.strip()
        if not term:
            continue
        for operator, equal in (("!=", False), ("==", True), ("=", True)):
            field, found, value = term.partition(operator)
            if found:
                break
        else:
            raise FieldSelectorError(f'invalid field selector "{text}": "{term}" is not FIELD=VALUE or FIELD!=VALUE')
        field = field.strip()
        if field not in COMMON + FIELDS.get(kind, ()):
            raise FieldSelectorError(f'field label not supported: {field} (for {kind}: '
                                     f'{", ".join(COMMON + FIELDS.get(kind, ()))})')
        requirements.append(Requirement(field, value.strip(), equal))
    return FieldSelector(tuple(requirements))


def field_value(obj: dict, field: str) -> str:
    """The field's value as Kubernetes compares it: a string, "" when absent, bools as true/false."""
    if obj.get("kind") == "Event" and field == "source":
        return (obj.get("source") or {}).get("component", "") or obj.get("reportingComponent", "")
    value = obj
    for step in field.split("."):
        value = value.get(step) if isinstance(value, dict) else None
    if value is None:
        return "false" if field in ("spec.unschedulable", "spec.hostNetwork") else ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
