"""`meta.k8s.io/v1` Tables: what kubectl asks for (`Accept: ...;as=Table;...`) to print `get`.

The columns are `state/columns.py`'s, the same `raftkube get` prints; the wide ones
have priority 1, so kubectl shows them with `-o wide` only. Each row carries the
object's metadata (kubectl needs it for NAMESPACE, LABELS and `get all`'s kind prefix).
"""

from __future__ import annotations

import datetime

from raftkube.state import columns

TABLE_ACCEPT = "as=Table"


def wants_table(accept: str) -> bool:
    """Whether the Accept header asks for a meta.k8s.io/v1 Table (kubectl's first choice)."""
    for choice in accept.split(","):
        params = {p.strip().partition("=")[0]: p.strip().partition("=")[2] for p in choice.split(";")[1:]}
        if params.get("as") == "Table" and params.get("g") == "meta.k8s.io" and params.get("v", "v1") == "v1":
            return True
    return False


def table(objects: list[dict], kind: str, now: datetime.datetime | float, resource_version: str | None = None,
          include_object: str = "Metadata", headers: bool = True) -> dict:
    """A Table of `objects` (all of `kind`); `include_object` None | Metadata | Object."""
    definitions = columns.columns(kind)
    if definitions is None:
        plain, wide = ["NAME", "AGE"], []
    else:
        plain, wide = definitions
    rows = []
    for obj in objects:
        if definitions is None:
            cells = [obj["metadata"].get("name", ""),
                     columns.human_age(obj["metadata"].get("creationTimestamp"), now)]
        else:
            first, more = columns.row(obj, kind, now)
            cells = first + more
        entry = {"cells": cells}
        if include_object == "Object":
            entry["object"] = obj
        elif include_object != "None":
            entry["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                               "metadata": obj.get("metadata", {})}
        rows.append(entry)
    result = {"kind": "Table", "apiVersion": "meta.k8s.io/v1",
              "metadata": {"resourceVersion": resource_version} if resource_version else {}, "rows": rows}
    if headers:
        result["columnDefinitions"] = [_definition(name, 0, i == 0) for i, name in enumerate(plain)] + \
                                      [_definition(name, 1, False) for name in wide]
    else:
        result["columnDefinitions"] = []
    return result


def _definition(name: str, priority: int, is_name: bool) -> dict:
    # kubectl upper-cases the names; ours already are (the same as `raftkube get` prints).
    return {"name": name, "type": "string", "format": "name" if is_name else "",
            "description": name.lower(), "priority": priority}
