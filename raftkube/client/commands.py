"""Client commands: get, describe, delete, label, annotate, scale, cluster.

Each command finds the masters (see `discovery`), talks to them through `ApiClient` and
prints what kubectl would. Errors are `UserError`s: one line on stderr, exit code 1.
Modules only some commands need (YAML, the schemas, describe's layout) are imported
inside those commands, so that `get` starts fast.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone

import click

from raftkube.client.api import ApiClient, ApiError
from raftkube.client.discovery import Masters, find_masters
from raftkube.client.printing import format_objects, nothing_found, object_name
from raftkube.errors import UserError
from raftkube.state.kinds import DEFAULT_NAMESPACE, KindInfo, kind_info
from raftkube.state.selectors import parse_selector

inventory_option = click.option("-i", "--inventory", envvar="RAFTKUBE_INVENTORY",
                                 help="Inventory of the cluster (default: $RAFTKUBE_INVENTORY, the lab).")
def _check_namespace(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A namespace is a DNS label: a typo is refused here rather than listing nothing."""
    if value is not None:
        from raftkube.state.names import dns1123_label

        problems = dns1123_label(value)
        if problems:
            raise click.BadParameter(f"{value!r}: {'; '.join(problems)}")
    return value


namespace_option = click.option("-n", "--namespace", default=None, callback=_check_namespace,
                                help="Namespace (default: default).")


def parse_duration(text: str) -> float:
    """`90`, `90s`, `5m`, `1h`, `1m30s` (Go's durations as kubectl takes them) -> seconds."""
    import re

    text = text.strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise UserError(f"invalid duration {text!r}: use e.g. 30s, 5m, 1h")
    scale = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    return sum(float(n) * scale[u] for n, u in parts)


def object_path(info: KindInfo, namespace: str | None, name: str | None = None) -> str:
    """The API path of a collection or an object; namespace None lists across namespaces."""
    prefix = "/api/v1" if info.api_version == "v1" else f"/apis/{info.api_version}"
    path = prefix + (f"/namespaces/{namespace}" if info.namespaced and namespace else "") + f"/{info.plural}"
    return path + (f"/{name}" if name else "")


def _run(masters: Masters, work):
    with masters.client() as client:
        return work(client)


# -- get ------------------------------------------------------------------------------

@click.command()
@click.argument("kind")
@click.argument("name", required=False)
@click.option("-l", "--selector", default=None, help="Label selector, e.g. app=web,tier!=db.")
@namespace_option
@click.option("-A", "--all-namespaces", is_flag=True, help="List across all namespaces.")
@click.option("-o", "--output", type=click.Choice(["wide", "json", "yaml", "name"]), default=None)
@click.option("-w", "--watch", is_flag=True, help="After listing, print each change as it happens.")
@click.option("--watch-only", is_flag=True, help="Print changes only, not the listing first.")
@click.option("--output-watch-events", is_flag=True, help="Show each change's type (ADDED, MODIFIED, DELETED).")
@inventory_option
def get(kind: str, name: str | None, selector: str | None, namespace: str | None, all_namespaces: bool,
        output: str | None, watch: bool, watch_only: bool, output_watch_events: bool,
        inventory: str | None) -> None:
    """Show one object, or list objects of a kind; -w follows changes until interrupted."""
    info = kind_info(kind)
    if name and all_namespaces:
        raise UserError("a NAME cannot be combined with -A")
    if name and selector:
        raise UserError("a NAME cannot be combined with -l SELECTOR")
    parse_selector(selector)  # a typo is reported before any master is asked
    ns = None if all_namespaces or not info.namespaced else namespace or DEFAULT_NAMESPACE
    masters = find_masters(inventory)
    if watch or watch_only:
        _watch(masters, info, ns, name, selector, output, all_namespaces, watch_only, output_watch_events)
        return

    requests = None

    def work(client: ApiClient) -> list[dict]:
        nonlocal requests
        if info.kind == "Node" and output == "wide":
            from raftkube.client.draining import node_requests

            requests = node_requests(client.get(object_path(kind_info("Pod"), None))["items"])
        if name:
            return [client.get(object_path(info, ns, name))]
        params = {"labelSelector": selector} if selector else None
        return (client.get(object_path(info, ns), params))["items"]

    objects = _run(masters, work)
    text = format_objects(objects, output, info, datetime.now(timezone.utc),
                          all_namespaces=all_namespaces, single=bool(name), requests=requests)
    if text:
        click.echo(text.rstrip("\n"))
    elif not name and output in (None, "wide"):
        click.echo(nothing_found(ns), err=True)


def _watch(masters: Masters, info: KindInfo, ns: str | None, name: str | None, selector: str | None,
           output: str | None, all_namespaces: bool, watch_only: bool, events: bool) -> None:
    """`get -w`: the listing (unless --watch-only), then every change, until interrupted."""
    from raftkube.client.printing import WatchPrinter
    from raftkube.client.watching import WatchCursor, follow

    printer = WatchPrinter(output, info, all_namespaces, events)
    params = {"labelSelector": selector} if selector else {}

    def wanted(obj: dict) -> bool:
        return name is None or obj.get("metadata", {}).get("name") == name

    with masters.client() as client:
        listed = client.get(object_path(info, ns), params)
        items = [obj for obj in listed["items"] if wanted(obj)]
        if name and not items:
            client.get(object_path(info, ns, name))  # kubectl's error for a missing object
        cursor = WatchCursor(int(listed["metadata"]["resourceVersion"]), items)
        if not watch_only:
            _echo(printer.lines([("ADDED", obj) for obj in items], datetime.now(timezone.utc)))
        try:
            for change in follow(client, object_path(info, ns), params, cursor, wanted):
                _echo(printer.lines([change], datetime.now(timezone.utc)))
        except KeyboardInterrupt:
            sys.exit(130)


def _echo(text: str) -> None:
    if text:
        click.echo(text)


# -- delete ---------------------------------------------------------------------------

@click.command()
@click.argument("kind", required=False)
@click.argument("names", nargs=-1)
@click.option("-f", "--filename", "source", default=None, help="Delete the objects in this manifest.")
@click.option("-l", "--selector", default=None, help="Delete every object matching this label selector.")
@namespace_option
@inventory_option
def delete(kind: str | None, names: tuple[str, ...], source: str | None, selector: str | None,
           namespace: str | None, inventory: str | None) -> None:
    """Delete objects by KIND NAME..., by -f FILE, or by KIND -l SELECTOR."""
    targets = _delete_targets(kind, names, source, selector, namespace)
    masters = find_masters(inventory)

    def work(client: ApiClient) -> None:
        pending = list(targets)
        if selector:
            info, ns = pending.pop()
            listed = client.get(object_path(info, ns), {"labelSelector": selector})
            pending = [(info, obj["metadata"].get("namespace"), obj["metadata"]["name"])
                       for obj in listed["items"]]
            if not pending:
                click.echo("No resources found", err=True)
        for info, ns, name in pending:
            client.delete(object_path(info, ns, name))
            click.echo(f'{info.singular} "{name}" deleted')

    _run(masters, work)


def _delete_targets(kind, names, source, selector, namespace) -> list[tuple]:
    if source:
        if kind or names or selector:
            raise UserError("use either -f FILE or KIND NAME / KIND -l SELECTOR")
        targets = []
        from raftkube.client.manifests import load_manifests, place_manifest

        for manifest in load_manifests(source):
            info = place_manifest(manifest, namespace)
            meta = manifest["metadata"]
            targets.append((info, meta["namespace"] if info.namespaced else None, meta["name"]))
        return targets
    if not kind:
        raise UserError("say what to delete: KIND NAME, KIND -l SELECTOR or -f FILE")
    info = kind_info(kind)
    ns = (namespace or DEFAULT_NAMESPACE) if info.namespaced else None
    if selector:
        if names:
            raise UserError("use either NAME or -l SELECTOR, not both")
        parse_selector(selector)
        return [(info, ns)]
    if not names:
        raise UserError(f"delete {kind}: give a NAME, -l SELECTOR or -f FILE")
    return [(info, ns, name) for name in names]


# -- describe, label, annotate, scale -------------------------------------------------

def _kind_and_name(kind: str, name: str | None) -> tuple[KindInfo, str]:
    """`pod web` or `pod/web`, as kubectl accepts both."""
    if name is None:
        kind, slash, name = kind.partition("/")
        if not slash or not name:
            raise UserError(f"say which object: KIND NAME or KIND/NAME, not {kind!r}")
    return kind_info(kind), name


def _namespace_for(info: KindInfo, namespace: str | None) -> str | None:
    return (namespace or DEFAULT_NAMESPACE) if info.namespaced else None


@click.command()
@click.argument("kind")
@click.argument("name", required=False)
@namespace_option
@inventory_option
def describe(kind: str, name: str | None, namespace: str | None, inventory: str | None) -> None:
    """Show one object in detail, with its recent events."""
    info, name = _kind_and_name(kind, name)
    ns = _namespace_for(info, namespace)
    masters = find_masters(inventory)

    def work(client: ApiClient) -> tuple[dict, list[dict], dict | None]:
        obj = client.get(object_path(info, ns, name))
        events = (client.get(object_path(kind_info("Event"), ns or DEFAULT_NAMESPACE)))["items"]
        uid = obj["metadata"].get("uid")
        events = [e for e in events if (e.get("involvedObject") or {}).get("uid") == uid]
        endpoints = None
        if info.kind == "Service":
            try:
                endpoints = client.get(object_path(kind_info("Endpoints"), ns, name))
            except ApiError as exc:
                if exc.reason != "NotFound":
                    raise
        return obj, events, endpoints

    obj, events, endpoints = _run(masters, work)
    from raftkube.client import describing

    click.echo(describing.describe(obj, events, datetime.now(timezone.utc), endpoints).rstrip("\n"))


def _metadata_map_command(field: str, verb: str, done: str) -> click.Command:
    """`label` and `annotate`: the same command over `metadata.labels` / `annotations`."""

    @click.command(verb, help=f"Set (k=v) or remove (k-) {field} of an object: KIND NAME or KIND/NAME.")
    @click.argument("kind")
    @click.argument("arguments", nargs=-1, required=True)
    @click.option("--overwrite", is_flag=True, help="Allow changing an existing value.")
    @namespace_option
    @inventory_option
    def command(kind: str, arguments: tuple[str, ...], overwrite: bool,
                namespace: str | None, inventory: str | None) -> None:
        name, changes = (None, arguments) if "/" in kind else (arguments[0], arguments[1:])
        info, name = _kind_and_name(kind, name)
        if not changes:
            raise UserError(f"{verb}: give at least one change (key=value or key-)")
        from raftkube.client import labeling

        parsed = labeling.parse_label_changes(list(changes), annotations=field == "annotations")
        path = object_path(info, _namespace_for(info, namespace), name)
        masters = find_masters(inventory)

        def work(client: ApiClient) -> dict:
            obj = client.get(path)
            current = obj["metadata"].get(field) or {}
            wanted = labeling.apply_label_changes(current, parsed, overwrite=overwrite)
            patch = {key: value for key, value in wanted.items() if current.get(key) != value}
            patch.update({key: None for key in current if key not in wanted})
            # Pinned to the version the --overwrite check saw: a concurrent change is a 409.
            return client.patch(path, {"metadata": {
                field: patch, "resourceVersion": obj["metadata"]["resourceVersion"]}})

        click.echo(f"{object_name(_run(masters, work))} {done}")

    return command


label = _metadata_map_command("labels", "label", "labeled")
annotate = _metadata_map_command("annotations", "annotate", "annotated")


@click.command()
@click.argument("kind")
@click.argument("name", required=False)
@click.option("--replicas", type=click.IntRange(min=0), required=True, help="The new desired count.")
@namespace_option
@inventory_option
def scale(kind: str, name: str | None, replicas: int, namespace: str | None, inventory: str | None) -> None:
    """Set the desired replica count of a replication controller (rc/NAME)."""
    info, name = _kind_and_name(kind, name)
    if info.kind != "ReplicationController":
        raise UserError(f"{info.plural} cannot be scaled")
    masters = find_masters(inventory)
    path = object_path(info, _namespace_for(info, namespace), name)
    updated = _run(masters, lambda client: client.patch(path, {"spec": {"replicas": replicas}}))
    click.echo(f"{object_name(updated)} scaled")


# -- cluster --------------------------------------------------------------------------

@click.group()
def cluster() -> None:
    """The masters: status, adding and removing a master."""


@cluster.command("status")
@click.option("-o", "--output", type=click.Choice(["json", "yaml"]), default=None)
@inventory_option
def cluster_status(output: str | None, inventory: str | None) -> None:
    """Leader, term, commit index, and every member's address, state and lag."""
    masters = find_masters(inventory)

    def work(client: ApiClient) -> list[dict | None]:
        from concurrent.futures import ThreadPoolExecutor

        # In parallel: a partitioned master takes the whole timeout to give up.
        with ThreadPoolExecutor(len(masters.endpoints)) as pool:
            return list(pool.map(client.status_of, masters.endpoints))

    report = summarize_cluster(masters, _run(masters, work))
    if output == "json":
        click.echo(json.dumps(report, indent=2))
    elif output == "yaml":
        import yaml

        click.echo(yaml.safe_dump(report, sort_keys=False).rstrip("\n"))
    else:
        click.echo(_cluster_table(report))


def summarize_cluster(masters: Masters, statuses: list[dict | None]) -> dict:
    """Merge each master's own view into one report, the leader's view first."""
    names = {f"{m.address}:{m.raft_port}": m.name for m in masters.inventory.masters}
    answered = {s["self"]: s for s in statuses if s}
    if not answered:
        raise UserError(f"no master answered ({', '.join(masters.endpoints)})")
    leaders = [s for s in answered.values() if s["state"] == "leader"]
    leader = max(leaders, key=lambda s: s["term"]) if leaders else None
    view = leader or max(answered.values(), key=lambda s: s["term"])
    # Inventory order first, then members the inventory does not know (added by address).
    addresses = list(dict.fromkeys([*names, *(m["address"] for m in view["members"]), *answered]))
    members = []
    for address in addresses:
        own = answered.get(address)
        seen_by_leader = next((m for m in leader["members"] if m["address"] == address), None) if leader else None
        if own:
            state = own["state"]
        elif seen_by_leader and seen_by_leader["connected"]:
            state = "api-unreachable"
        else:
            state = "unreachable"
        lag = None
        if leader and own:
            lag = max(leader["commitIndex"] - own["lastApplied"], 0)
        elif leader and seen_by_leader and seen_by_leader["matchIndex"] is not None:
            lag = max(leader["commitIndex"] - seen_by_leader["matchIndex"], 0)
        members.append({
            "name": names.get(address, ""), "address": address, "state": state,
            "term": own["term"] if own else None, "lastApplied": own["lastApplied"] if own else None,
            "lag": lag, "inRaftConfig": address in [m["address"] for m in view["members"]],
            "certificateExpires": own.get("certificateExpires") if own else None,
        })
    return {
        "leader": names.get(leader["self"], leader["self"]) if leader else None,
        "leaderAddress": leader["self"] if leader else None,
        "term": view["term"], "commitIndex": view["commitIndex"],
        "revision": view.get("revision"), "members": members,
    }


def _cluster_table(report: dict) -> str:
    head = (f"leader: {report['leader'] or '<none>'}"
            + (f" ({report['leaderAddress']})" if report["leaderAddress"] else "")
            + f"  term: {report['term']}  commit index: {report['commitIndex']}")
    rows = [("NAME", "ADDRESS", "STATE", "TERM", "APPLIED", "LAG", "CERT EXPIRES")]
    for m in report["members"]:
        expires = (m.get("certificateExpires") or "")[:10] or None
        rows.append((m["name"] or "-", m["address"], m["state"], _cell(m["term"]),
                     _cell(m["lastApplied"]), _cell(m["lag"]), _cell(expires)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["   ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    return "\n".join([head, *lines])


def _cell(value) -> str:
    return "-" if value is None else str(value)


def _member_change(name: str, inventory: str | None) -> tuple[Masters, str]:
    """The other masters (the one changing may not answer) and NAME's Raft address.

    NAME may also be a Raft address (HOST:PORT): a member that is no longer in the
    inventory, such as a master that moved (a master refusing to start says which).
    """
    masters = find_masters(inventory)
    if ":" in name and name not in masters.inventory.hosts:
        endpoints = [e for e, m in zip(masters.endpoints, masters.inventory.masters)
                     if f"{m.address}:{m.raft_port}" != name]
        return Masters(masters.inventory, endpoints, masters.token), name
    host = masters.inventory.host(name)
    if not host.is_master:
        raise UserError(f"{name} is not in the [masters] group of {masters.inventory.path}")
    endpoints = [e for e, m in zip(masters.endpoints, masters.inventory.masters) if m.name != name]
    return Masters(masters.inventory, endpoints, masters.token, masters.ca_file), f"{host.address}:{host.raft_port}"


@cluster.command("add-master")
@click.argument("name")
@inventory_option
def add_master(name: str, inventory: str | None) -> None:
    """Add master NAME (already in the inventory) to the Raft cluster, then start it."""
    others, address = _member_change(name, inventory)
    _run(others, lambda client: client.request("POST", "/raftkube/v1/cluster/members", {"address": address}))
    click.echo(f"master {name} ({address}) added; start it with: raftkube master -i INVENTORY --name {name}")


@cluster.command("remove-master")
@click.argument("name")
@inventory_option
def remove_master(name: str, inventory: str | None) -> None:
    """Remove master NAME (or Raft address HOST:PORT) from the Raft cluster (then stop it and drop it from the inventory)."""
    others, address = _member_change(name, inventory)
    _run(others, lambda client: client.request("DELETE", f"/raftkube/v1/cluster/members/{address}"))
    click.echo(f"master {name} ({address}) removed")


