"""A kubeconfig for kubectl and the Kubernetes client libraries: the CA, the first master, the token."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import click
import yaml

from raftkube.client.discovery import inventory_path
from raftkube.errors import UserError
from raftkube.remote.inventory import Inventory, load_inventory
from raftkube.state.token import read_token

GENERIC_STEMS = ("inventory", "hosts", "inventory.ini", "hosts.ini")


def cluster_name(inventory: Inventory) -> str:
    """`raftkube_cluster_name`, else the inventory's file name, else (inventory.ini) its directory's."""
    for host in inventory.hosts.values():
        if host.vars.get("raftkube_cluster_name"):
            return str(host.vars["raftkube_cluster_name"])
    stem = inventory.path.stem
    if stem in GENERIC_STEMS:
        return inventory.path.resolve().parent.name or "raftkube"
    return stem


def render_kubeconfig(inventory: Inventory, token: str) -> str:
    """The kubeconfig text: one cluster (https to the first master), one user (the token), one context."""
    if not inventory.masters:
        raise UserError(f"{inventory.path}: no hosts in the [masters] group")
    try:
        ca = inventory.ca_cert_path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"cluster CA {inventory.ca_cert_path} not found: run `raftkube setup`") from None
    first = inventory.masters[0]
    name = cluster_name(inventory)
    user = f"{name}-admin"
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": {
            "server": f"https://{first.api_netloc}",
            "certificate-authority-data": base64.b64encode(ca).decode(),
        }}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": user, "namespace": "default"}}],
        "current-context": name,
        "preferences": {},
    }
    return yaml.safe_dump(config, default_flow_style=False, sort_keys=False)


def write_kubeconfig(inventory: Inventory, token: str) -> tuple[Path, bool]:
    """Write `<inventory>.kubeconfig` (0600: it holds the token); whether its content changed."""
    path = inventory.kubeconfig_path
    text = render_kubeconfig(inventory, token)
    try:
        if path.read_text() == text:
            return path, False
    except OSError:
        pass
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror}") from None
    return path, True


@click.command("kubeconfig")
@click.option("-i", "--inventory", envvar="RAFTKUBE_INVENTORY",
              help="Inventory of the cluster (default: $RAFTKUBE_INVENTORY, the lab).")
def kubeconfig(inventory: str | None) -> None:
    """Print a kubeconfig for kubectl and client libraries (setup also writes INVENTORY.kubeconfig)."""
    inv = load_inventory(inventory_path(inventory))
    click.echo(render_kubeconfig(inv, read_token(inv.token_path)), nl=False)
