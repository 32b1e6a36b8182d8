"""`raftkube apply` and `diff`: make the cluster's objects look like the manifests.

The merge itself is `threeway` (pure); here it meets the API. An existing object is
replaced whole (PUT) conditionally on the resourceVersion the merge started from, and
recomputed when someone else changed it meanwhile. Whether anything would change is
decided on the object as the masters would store it (`validate` applies the same
defaults), so applying the same file twice changes nothing and says `unchanged`.
"""

from __future__ import annotations

import copy
import difflib
import sys
from dataclasses import dataclass

import click

from raftkube.client import threeway
from raftkube.client.api import ApiClient, ApiError
from raftkube.client.commands import inventory_option, namespace_option, object_path
from raftkube.client.discovery import find_masters
from raftkube.client.manifests import load_manifests, place_manifest
from raftkube.client.printing import object_name
from raftkube.errors import UserError
from raftkube.state.kinds import KINDS, KindInfo, kind_info
from raftkube.state.objects import validate, validate_update
from raftkube.state.selectors import parse_selector

CONFLICT_RETRIES = 5
# What `--prune` looks at (kubectl's default list, the kinds raftkube has).
PRUNE_KINDS = ("Namespace", "Pod", "ReplicationController", "Service", "Endpoints")


@dataclass
class Plan:
    """What applying one manifest means against the live object (None: create it)."""

    info: KindInfo
    namespace: str | None
    name: str
    modified: dict
    live: dict | None
    merged: dict | None

    @property
    def changes(self) -> bool:
        return self.live is None or self.merged != self.live


def _read(source: str, recursive: bool, namespace: str | None) -> list[dict]:
    """The manifests, placed in their namespaces and validated all before any is sent."""
    where = "<stdin>" if source == "-" else source
    manifests = load_manifests(source, recursive=recursive)
    if not manifests:
        raise UserError(f"{where}: no objects to apply")
    for manifest in manifests:
        try:
            place_manifest(manifest, namespace)
            validate(copy.deepcopy(manifest))
        except UserError as exc:
            raise UserError(f"{where}: {exc}") from None
    return manifests


def plan(client: ApiClient, manifest: dict) -> Plan:
    """Fetch the live object and merge the manifest into it."""
    info = kind_info(manifest["kind"])
    meta = manifest["metadata"]
    ns = meta.get("namespace") if info.namespaced else None
    modified = threeway.with_last_applied(manifest)
    try:
        live = client.get(object_path(info, ns, meta["name"]))
    except ApiError as exc:
        if exc.reason != "NotFound":
            raise
        return Plan(info, ns, meta["name"], modified, None, None)
    merged = threeway.merge(threeway.last_applied(live), modified, live)
    return Plan(info, ns, meta["name"], modified, live, _as_stored(merged, live))


def _as_stored(merged: dict, live: dict) -> dict:
    """`merged` with the defaults and carried-over fields the masters would give it."""
    try:
        return validate_update(live, validate(merged))
    except UserError:
        return merged  # the masters will say what is wrong, naming the object


def apply_one(client: ApiClient, manifest: dict) -> str:
    """Create or three-way update one object: `created`, `configured` or `unchanged`."""
    for _ in range(CONFLICT_RETRIES):
        step = plan(client, manifest)
        if step.live is None:
            try:
                client.create(object_path(step.info, step.namespace), step.modified)
                return "created"
            except ApiError as exc:
                if exc.reason != "AlreadyExists":
                    raise
                continue  # made meanwhile: merge into it
        if not step.changes:
            return "unchanged"
        try:
            # Pinned to the version merged against: a concurrent change is a 409, merged again.
            stored = client.replace(object_path(step.info, step.namespace, step.name), step.merged)
        except ApiError as exc:
            if exc.reason != "Conflict":
                raise
            continue
        same = stored["metadata"]["resourceVersion"] == step.live["metadata"]["resourceVersion"]
        return "unchanged" if same else "configured"
    raise UserError(f"{object_name(manifest)}: it kept changing while being applied; try again")


@click.command()
@click.option("-f", "--filename", "source", required=True, help="Manifest file, directory, or - for stdin.")
@click.option("-R", "--recursive", is_flag=True, help="Read directories recursively.")
@namespace_option
@click.option("--dry-run", is_flag=True, help="Validate and say what would change, change nothing.")
@click.option("--prune", is_flag=True, help="Delete applied objects matching -l that the files no longer have.")
@click.option("-l", "--selector", default=None, help="With --prune: which objects may be pruned.")
@inventory_option
def apply(source: str, recursive: bool, namespace: str | None, dry_run: bool, prune: bool,
          selector: str | None, inventory: str | None) -> None:
    """Create or update the objects in FILE (multi-document YAML or JSON), three-way:
    fields removed from the file since the last apply are removed, others' fields kept."""
    if prune and not selector:
        raise UserError("--prune needs -l SELECTOR: it deletes what matches and is not in the files")
    if selector and not prune:
        raise UserError("-l SELECTOR is for --prune")
    parse_selector(selector)
    manifests = _read(source, recursive, namespace)
    masters = find_masters(inventory)
    suffix = " (dry run)" if dry_run else ""
    with masters.client() as client:
        for manifest in manifests:
            if dry_run:
                step = plan(client, manifest)
                outcome = "created" if step.live is None else "configured" if step.changes else "unchanged"
            else:
                outcome = apply_one(client, manifest)
            click.echo(f"{object_name(manifest)} {outcome}{suffix}")
        if prune:
            _prune(client, manifests, selector, namespace, dry_run)


def _prune(client: ApiClient, manifests: list[dict], selector: str, namespace: str | None,
           dry_run: bool) -> None:
    applied = {(m["kind"], m["metadata"].get("namespace", "") if kind_info(m["kind"]).namespaced else "",
                m["metadata"]["name"]) for m in manifests}
    namespaces = sorted({ns for _, ns, _ in applied if ns} or {namespace or "default"})
    for kind in PRUNE_KINDS:
        info = KINDS[kind]
        for ns in namespaces if info.namespaced else [None]:
            listed = client.get(object_path(info, ns), {"labelSelector": selector})["items"]
            for obj in threeway.prunable(listed, applied):
                if not dry_run:
                    try:
                        client.delete(object_path(info, ns, obj["metadata"]["name"]))
                    except ApiError as exc:
                        if exc.reason != "NotFound":
                            raise
                click.echo(f"{object_name(obj, info)} pruned" + (" (dry run)" if dry_run else ""))


@click.command()
@click.option("-f", "--filename", "source", required=True, help="Manifest file, directory, or - for stdin.")
@click.option("-R", "--recursive", is_flag=True, help="Read directories recursively.")
@namespace_option
@inventory_option
def diff(source: str, recursive: bool, namespace: str | None, inventory: str | None) -> None:
    """Show, as a unified diff, what `apply -f FILE` would change: exit 0 if nothing, 1 if
    anything, 2 on an error (kubectl diff's codes, so a script can tell them apart)."""
    differs = False
    try:
        manifests = _read(source, recursive, namespace)
        masters = find_masters(inventory)
        with masters.client() as client:
            for manifest in manifests:
                step = plan(client, manifest)
                text = diff_text(step)
                if text:
                    differs = True
                    click.echo(text)
    except UserError as exc:
        raise DiffFailed(str(exc)) from exc
    sys.exit(1 if differs else 0)


class DiffFailed(UserError):
    """diff could not tell: exit 2, as kubectl diff (1 means "differs")."""

    exit_code = 2


def diff_text(step: Plan) -> str:
    """kubectl diff's unified diff of one object, live against merged, as YAML."""
    import yaml

    label = f"{step.info.api_version.replace('/', '.')}.{step.info.kind}." + \
        (f"{step.namespace}." if step.namespace else "") + step.name
    before = "" if step.live is None else yaml.safe_dump(_shown(step.live), sort_keys=True)
    after = yaml.safe_dump(_shown(step.merged if step.live is not None else step.modified), sort_keys=True)
    lines = difflib.unified_diff(before.splitlines(keepends=True), after.splitlines(keepends=True),
                                 f"LIVE/{label}", f"MERGED/{label}")
    return "".join(lines).rstrip("\n")


def _shown(obj: dict) -> dict:
    """What diff compares: the object without the versions the masters bump on every write."""
    shown = copy.deepcopy(obj)
    meta = shown.get("metadata", {})
    for key in ("resourceVersion", "generation"):
        meta.pop(key, None)
    return shown
