"""`raftkube apply`: make the cluster's objects look like the manifests."""

from __future__ import annotations

import copy

import click

from raftkube.client.api import ApiClient, ApiError
from raftkube.client.commands import _run, inventory_option, namespace_option, object_path
from raftkube.client.discovery import find_masters
from raftkube.client.manifests import load_manifests, place_manifest
from raftkube.client.printing import object_name
from raftkube.state.objects import kind_info, validate


@click.command()
@click.option("-f", "--filename", "source", required=True, help="Manifest file, directory, or - for stdin.")
@click.option("-R", "--recursive", is_flag=True, help="Read directories recursively.")
@namespace_option
@click.option("--dry-run", is_flag=True, help="Validate and say what would change, change nothing.")
@inventory_option
def apply(source: str, recursive: bool, namespace: str | None, dry_run: bool, inventory: str | None) -> None:
    """Create or update the objects in FILE (multi-document YAML or JSON)."""
    manifests = load_manifests(source, recursive=recursive)
    for manifest in manifests:
        place_manifest(manifest, namespace)
        # Every document is checked before the first is sent: bad input changes nothing.
        validate(copy.deepcopy(manifest))
    masters = find_masters(inventory)

    def work(client: ApiClient) -> None:
        for manifest in manifests:
            outcome = _apply_one(client, manifest, dry_run)
            click.echo(f"{object_name(manifest)} {outcome}" + (" (dry run)" if dry_run else ""))

    _run(masters, work)


def _apply_one(client: ApiClient, manifest: dict, dry_run: bool = False) -> str:
    """Create the object, or merge the manifest into the existing one (kubectl apply-like)."""
    info = kind_info(manifest["kind"])
    meta = manifest["metadata"]
    ns = meta.get("namespace") if info.namespaced else None
    if dry_run:
        try:
            client.get(object_path(info, ns, meta["name"]))
        except ApiError as exc:
            if exc.reason != "NotFound":
                raise
            return "created"
        return "configured"
    try:
        client.create(object_path(info, ns), manifest)
        return "created"
    except ApiError as exc:
        if exc.reason != "AlreadyExists":
            raise
    before = client.get(object_path(info, ns, meta["name"]))
    after = client.patch(object_path(info, ns, meta["name"]), manifest)
    same = after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    return "unchanged" if same else "configured"
