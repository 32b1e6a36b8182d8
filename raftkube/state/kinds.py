"""Which kinds raftkube serves and the names users and URLs call them by.

Apart from `objects` (which also validates) so that a client command resolving
"pods" to a path does not import the schemas: marshmallow alone costs ~60 ms.
"""

from __future__ import annotations

from dataclasses import dataclass

from raftkube.errors import UserError

API_VERSION = "v1"
DEFAULT_NAMESPACE = "default"


@dataclass(frozen=True)
class KindInfo:
    """How a kind is named in manifests, URLs and on the command line."""

    kind: str
    plural: str
    singular: str
    namespaced: bool
    api_version: str = API_VERSION
    short_names: tuple[str, ...] = ()

    @property
    def aliases(self) -> tuple[str, ...]:
        """Every name `kind_info` accepts for this kind, lower case."""
        return (self.singular, self.plural, *self.short_names)


KINDS: dict[str, KindInfo] = {
    info.kind: info
    for info in (
        KindInfo("Namespace", "namespaces", "namespace", False, short_names=("ns",)),
        KindInfo("Node", "nodes", "node", False, short_names=("no",)),
        KindInfo("Pod", "pods", "pod", True, short_names=("po",)),
        KindInfo(
            "ReplicationController",
            "replicationcontrollers",
            "replicationcontroller",
            True,
            short_names=("rc",),
        ),
        KindInfo("Service", "services", "service", True, short_names=("svc",)),
        KindInfo("Endpoints", "endpoints", "endpoints", True, short_names=("ep",)),
        KindInfo("Event", "events", "event", True, short_names=("ev",)),
    )
}

_BY_ALIAS: dict[str, KindInfo] = {
    alias: info for info in KINDS.values() for alias in (info.kind.lower(), *info.aliases)
}


class UnknownKind(UserError):
    """A kind name (`raftkube get foo`) that raftkube does not serve."""

    def __init__(self, name: str):
        known = ", ".join(sorted(KINDS))
        super().__init__(f'unknown kind "{name}": known kinds are {known}')
        self.name = name


def kind_info(name: str) -> KindInfo:
    """Resolve what users type ("pods", "po", "Pod", "rc", "svc") to a kind."""
    info = _BY_ALIAS.get(name.lower()) if isinstance(name, str) else None
    if info is None:
        raise UnknownKind(name)
    return info
