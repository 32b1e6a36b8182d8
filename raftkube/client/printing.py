"""Render objects for `raftkube get` the way kubectl does: tables, json, yaml, names.

Everything here is a pure function of the objects and a `now` passed in, so the
output is testable and the same on every machine. Each kind's columns live in
`state/columns.py`, shared with the masters' Tables for kubectl.
"""

from __future__ import annotations

import datetime
import json

from raftkube.errors import UserError
from raftkube.state.columns import (  # noqa: F401  (human_duration, pod_status, format_endpoints: for callers)
    NONE,
    Row,
    as_time,
    columns,
    format_endpoints,
    human_age,
    human_duration,
    pod_status,
    row,
)
from raftkube.state.kinds import KindInfo

OUTPUTS = ("", "wide", "json", "yaml", "name")


class OutputError(UserError):
    """An `-o` format that `get` does not know."""


def format_objects(
    objects: list[dict],
    output: str | None,
    kind_info: KindInfo,
    now: datetime.datetime | float,
    all_namespaces: bool = False,
    single: bool = False,
    requests: dict[str, tuple[int, int]] | None = None,
) -> str:
    """The text `get` prints, without a trailing newline; "" for an empty table.

    `single` says the user asked for one object by name: json/yaml then print it as
    itself rather than wrapped in a List. `requests` (node name -> cpu millicores and
    memory bytes its pods request) adds what each node has promised to `nodes -o wide`.
    """
    output = output or ""
    if output not in OUTPUTS:
        raise OutputError(
            f'unsupported output format "{output}": use one of wide, json, yaml, name'
        )
    if output in ("json", "yaml"):
        document = objects[0] if single and len(objects) == 1 else _as_list(objects)
        if output == "json":
            return json.dumps(document, indent=4)
        import yaml  # only -o yaml pays for it

        return yaml.safe_dump(document, default_flow_style=False, sort_keys=False).rstrip("\n")
    if output == "name":
        return "\n".join(object_name(obj, kind_info) for obj in objects)
    if not objects:
        return ""
    if requests is not None and kind_info.kind == "Node" and output == "wide":
        headers = [*table_headers(kind_info, True), *NODE_REQUEST_HEADERS]
        rows = [table_row(obj, kind_info, now, True) + node_request_cells(obj, requests) for obj in objects]
        return _align([headers, *rows])
    return _table(objects, kind_info, as_time(now), output == "wide", all_namespaces)


NODE_REQUEST_HEADERS = ["CPU(REQ/ALLOC)", "MEMORY(REQ/ALLOC)"]


def node_request_cells(node: dict, requests: dict[str, tuple[int, int]]) -> Row:
    """`250m/2 (12%)`, `128Mi/1Gi (12%)`: what a node's pods request of its allocatable."""
    from raftkube.state.quantity import QuantityError, format_cpu, format_memory, parse_cpu, parse_memory

    cpu, memory = requests.get(node.get("metadata", {}).get("name", ""), (0, 0))
    allocatable = node.get("status", {}).get("allocatable") or {}
    cells = []
    for used, total, parse, show in ((cpu, allocatable.get("cpu"), parse_cpu, format_cpu),
                                     (memory, allocatable.get("memory"), parse_memory, format_memory)):
        try:
            limit = parse(total) if total is not None else None
        except QuantityError:
            limit = None
        if limit is None:
            cells.append(f"{show(used)}/{NONE}")
        else:
            share = f" ({used * 100 // limit}%)" if limit else ""
            cells.append(f"{show(used)}/{show(limit)}{share}")
    return cells


def object_name(obj: dict, kind_info: KindInfo | None = None) -> str:
    """`pod/web`, as `-o name` and kubectl's messages write it."""
    kind = obj.get("kind") or (kind_info.kind if kind_info else "")
    return f"{kind.lower()}/{obj.get('metadata', {}).get('name', '')}"


def nothing_found(namespace: str | None) -> str:
    """kubectl's message for an empty listing (printed on stderr by the command)."""
    if namespace is None:
        return "No resources found"
    return f"No resources found in {namespace} namespace."


def _as_list(objects: list[dict]) -> dict:
    return {"apiVersion": "v1", "kind": "List", "items": objects, "metadata": {}}


def _table(
    objects: list[dict], kind_info: KindInfo, now: datetime.datetime, wide: bool, all_ns: bool
) -> str:
    headers = table_headers(kind_info, wide, all_ns)
    return _align([headers, *(table_row(obj, kind_info, now, wide, all_ns) for obj in objects)])


def table_headers(kind_info: KindInfo, wide: bool = False, all_namespaces: bool = False) -> Row:
    """The column titles `get` prints for a kind."""
    headers, wide_headers = columns(kind_info.kind)
    headers = headers + wide_headers if wide else headers
    return ["NAMESPACE", *headers] if all_namespaces and kind_info.namespaced else headers


def table_row(obj: dict, kind_info: KindInfo, now: datetime.datetime | float, wide: bool = False,
              all_namespaces: bool = False) -> Row:
    """One object's cells under `table_headers`."""
    cells, wide_cells = row(obj, kind_info.kind, now)
    cells = cells + wide_cells if wide else cells
    if all_namespaces and kind_info.namespaced:
        return [obj.get("metadata", {}).get("namespace", ""), *cells]
    return cells


class WatchPrinter:
    """What `get -w` prints: the listing, then each change as it comes.

    A table keeps the column widths of what it printed before (growing them for a wider
    cell), so rows printed one by one line up like kubectl's; the header is printed
    once. `events` adds kubectl's `--output-watch-events` EVENT column (or, for json and
    yaml, prints `{"type", "object"}`).
    """

    def __init__(self, output: str | None, kind_info: KindInfo, all_namespaces: bool = False,
                 events: bool = False):
        self.output = output or ""
        if self.output not in OUTPUTS:
            raise OutputError(f'unsupported output format "{output}": use one of wide, json, yaml, name')
        self.kind_info = kind_info
        self.all_namespaces = all_namespaces
        self.events = events
        self._widths: list[int] | None = None

    def lines(self, changes: list[tuple[str, dict]], now: datetime.datetime | float) -> str:
        """The text for these (event type, object) changes, "" if none; no final newline."""
        if not changes:
            return ""
        if self.output in ("json", "yaml", "name"):
            return "\n".join(self._document(event_type, obj) for event_type, obj in changes)
        wide = self.output == "wide"
        rows = [table_row(obj, self.kind_info, now, wide, self.all_namespaces) for _, obj in changes]
        if self.events:
            rows = [[event_type, *row] for (event_type, _), row in zip(changes, rows)]
        if self._widths is None:
            headers = table_headers(self.kind_info, wide, self.all_namespaces)
            rows = [["EVENT", *headers] if self.events else headers, *rows]
            # EVENT sized for its longest word at once, so later rows need not shift.
            self._widths = [len("MODIFIED") + 3 if self.events else 0] + [0] * (len(rows[0]) - 1)
        self._widths = [max(width, *(len(row[i]) + 3 for row in rows), 6) for i, width in enumerate(self._widths)]
        return "\n".join(_aligned(row, self._widths) for row in rows)

    def _document(self, event_type: str, obj: dict) -> str:
        if self.output == "name":
            return object_name(obj, self.kind_info)
        document = {"type": event_type, "object": obj} if self.events else obj
        if self.output == "json":
            return json.dumps(document, indent=4)
        import yaml

        return "---\n" + yaml.safe_dump(document, default_flow_style=False, sort_keys=False).rstrip("\n")


def _align(rows: list[Row]) -> str:
    """Columns like Go's tabwriter as kubectl sets it up (min width 6, padding 3)."""
    widths = [max(6, max(len(row[i]) for row in rows) + 3) for i in range(len(rows[0]))]
    return "\n".join(_aligned(row, widths) for row in rows)


def _aligned(row: Row, widths: list[int]) -> str:
    cells = [cell.ljust(width) for cell, width in zip(row[:-1], widths)]
    return ("".join(cells) + row[-1]).rstrip()
