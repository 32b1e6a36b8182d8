"""Where the masters are: `-i INVENTORY`, else `RAFTKUBE_INVENTORY`, else the lab that is up."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from raftkube.client.api import ApiClient, tls_context
from raftkube.errors import UserError
from raftkube.remote.inventory import Host, Inventory, load_inventory
from raftkube.state.token import read_token


@dataclass(frozen=True)
class Masters:
    """The inventory the masters came from, their API endpoints, the bearer token and the CA."""

    inventory: Inventory
    endpoints: list[str]
    token: str
    ca_file: str | None = None

    def client(self, **options) -> ApiClient:
        """An `ApiClient` for these masters (`with masters.client() as client: ...`)."""
        return ApiClient(self.endpoints, self.token, ssl_context=tls_context(self.ca_file), **options)


def inventory_path(option: str | None) -> Path:
    if option:
        return Path(option)
    if os.environ.get("RAFTKUBE_INVENTORY"):
        return Path(os.environ["RAFTKUBE_INVENTORY"])
    from raftkube.lab.where import find_inventory

    found = find_inventory()
    if found is None:
        raise UserError("no inventory: pass -i INVENTORY, set RAFTKUBE_INVENTORY or run `raftkube lab up`")
    return Path(found)


def find_masters(option: str | None = None) -> Masters:
    inventory = load_inventory(inventory_path(option))
    if not inventory.masters:
        raise UserError(f"{inventory.path}: no hosts in the [masters] group")
    return Masters(inventory, [endpoint(m) for m in inventory.masters], read_token(inventory.token_path),
                   str(inventory.ca_cert_path))


def endpoint(master: Host) -> str:
    """The API's URL on a master (https only)."""
    return f"https://{master.api_netloc}"
