"""Discovery documents kubectl and client libraries read before anything else.

`/version`, `/api`, `/apis`, `/api/v1` (and `/apis/GROUP/VERSION` once a group is
served) and a minimal OpenAPI v3: per path its group/version/kind and the query
parameters kubectl checks for (`fieldValidation`, `dryRun`), which is what
`kubectl create/apply` need to validate on the server. Pure functions of `KINDS`.
"""

from __future__ import annotations

import hashlib
import json
import platform

from raftkube.state.objects import KINDS, KindInfo

# /usr/bin/kubectl here is a dispatcher choosing its build from the server's minor version;
# older builds lack websocket exec, so say 1.32 (the API follows 1.32's shapes).
MAJOR, MINOR = "1", "32"

ALL_CATEGORY = ("Pod", "ReplicationController", "Service")
READ_VERBS = ["get", "list", "watch"]
ALL_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]

# (parent plural, subresource, kind, group, version, verbs)
SUBRESOURCES = (
    ("pods", "log", "Pod", "", "v1", ["get"]),
    ("pods", "exec", "PodExecOptions", "", "v1", ["create", "get"]),
    ("pods", "status", "Pod", "", "v1", ["get", "patch", "update"]),
    ("replicationcontrollers", "scale", "Scale", "autoscaling", "v1", ["get", "patch", "update"]),
    ("replicationcontrollers", "status", "ReplicationController", "", "v1", ["get", "patch", "update"]),
    ("services", "status", "Service", "", "v1", ["get", "patch", "update"]),
    ("nodes", "status", "Node", "", "v1", ["get", "patch", "update"]),
    ("namespaces", "status", "Namespace", "", "v1", ["get", "patch", "update"]),
)


def version() -> dict:
    return {
        "major": MAJOR, "minor": MINOR, "gitVersion": f"v{MAJOR}.{MINOR}.0-raftkube",
        "gitCommit": "", "gitTreeState": "clean", "buildDate": "1970-01-01T00:00:00Z",
        "goVersion": "python" + platform.python_version(), "compiler": "cpython",
        "platform": f"linux/{_arch()}",
    }


def _arch() -> str:
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def group_versions() -> list[str]:
    """Every api_version served, core "v1" first."""
    versions = sorted({info.api_version for info in KINDS.values()}, key=lambda v: (v != "v1", v))
    return versions


def api_versions(server_address: str) -> dict:
    """`/api`: the core group's versions."""
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]}


def api_group_list() -> dict:
    """`/apis`: named groups (none until a kind with a group is served); a 404 breaks kubectl."""
    groups: dict[str, list[str]] = {}
    for api_version in group_versions():
        if "/" in api_version:
            group, version_name = api_version.split("/", 1)
            groups.setdefault(group, []).append(version_name)
    listed = []
    for group, versions in sorted(groups.items()):
        entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
        listed.append({"name": group, "versions": entries, "preferredVersion": entries[0]})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": listed}


def resource_list(api_version: str) -> dict | None:
    """`/api/v1` or `/apis/G/V`: an APIResourceList, or None when that version is not served."""
    infos = [info for info in KINDS.values() if info.api_version == api_version]
    if not infos:
        return None
    resources = []
    for info in sorted(infos, key=lambda i: i.plural):
        resources.append(_resource(info))
        for parent, sub, kind, group, version_name, verbs in SUBRESOURCES:
            if parent == info.plural:
                entry = {"name": f"{parent}/{sub}", "singularName": "", "namespaced": info.namespaced,
                         "kind": kind, "verbs": verbs}
                if group:
                    entry.update(group=group, version=version_name)
                resources.append(entry)
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": api_version, "resources": resources}


def _resource(info: KindInfo) -> dict:
    entry = {
        "name": info.plural, "singularName": info.singular, "namespaced": info.namespaced,
        "kind": info.kind, "verbs": ALL_VERBS if info.kind != "Namespace" else
        [v for v in ALL_VERBS if v != "deletecollection"],
        "storageVersionHash": hashlib.sha256(f"{info.api_version}/{info.kind}".encode()).hexdigest()[:11],
    }
    if info.short_names:
        entry["shortNames"] = list(info.short_names)
    if info.kind in ALL_CATEGORY:
        entry["categories"] = ["all"]
    return entry


# -- OpenAPI v3 ------------------------------------------------------------------------

def openapi_root() -> dict:
    """`/openapi/v3`: where each group version's document is."""
    paths = {}
    for api_version in group_versions():
        key = _openapi_key(api_version)
        paths[key] = {"serverRelativeURL": f"/openapi/v3/{key}?hash={_hash(openapi_document(api_version))}"}
    return {"paths": paths}


def _openapi_key(api_version: str) -> str:
    return "api/v1" if api_version == "v1" else f"apis/{api_version}"


def openapi_key_version(key: str) -> str | None:
    """The api_version of an `/openapi/v3/KEY` document, None if not served."""
    for api_version in group_versions():
        if _openapi_key(api_version) == key:
            return api_version
    return None


def _hash(document: dict) -> str:
    return hashlib.sha512(json.dumps(document, sort_keys=True).encode()).hexdigest()[:32].upper()


_QUERY = [
    {"name": name, "in": "query", "schema": {"type": schema}, "uniqueItems": True}
    for name, schema in (("dryRun", "string"), ("fieldManager", "string"), ("fieldValidation", "string"),
                         ("pretty", "string"))
]


def openapi_document(api_version: str) -> dict:
    """The group version's paths, each operation marked with its group/version/kind.

    No schemas: kubectl then computes apply patches from its own built-in types, and the
    server validates (every write takes `fieldValidation`).
    """
    group, _, version_name = api_version.rpartition("/")
    paths = {}
    prefix = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    for info in KINDS.values():
        if info.api_version != api_version:
            continue
        gvk = {"group": group, "version": version_name, "kind": info.kind}
        scope = "/namespaces/{namespace}" if info.namespaced else ""
        collection = f"{prefix}{scope}/{info.plural}"
        item = collection + "/{name}"
        paths[collection] = {
            "get": _operation(f"list{info.kind}", gvk, "list"),
            "post": _operation(f"create{info.kind}", gvk, "post", writes=True),
        }
        paths[item] = {
            "get": _operation(f"read{info.kind}", gvk, "get"),
            "put": _operation(f"replace{info.kind}", gvk, "put", writes=True),
            "patch": _operation(f"patch{info.kind}", gvk, "patch", writes=True),
            "delete": _operation(f"delete{info.kind}", gvk, "delete"),
        }
    return {"openapi": "3.0.0", "info": {"title": "raftkube", "version": f"v{MAJOR}.{MINOR}.0"},
            "paths": paths, "components": {"schemas": {}}}


def _operation(operation_id: str, gvk: dict, action: str, writes: bool = False) -> dict:
    operation = {"operationId": operation_id, "x-kubernetes-action": action,
                 "x-kubernetes-group-version-kind": gvk,
                 "responses": {"200": {"description": "OK"}}}
    if writes:
        operation["parameters"] = _QUERY
    return operation
