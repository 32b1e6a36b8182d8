"""`raftkube master`: one master replica (Raft state machine + HTTP API), in the foreground."""

import asyncio
import logging
import os
import signal
import ssl
from pathlib import Path

import click
from aiohttp import web
from pysyncobj import SyncObjException

from raftkube.errors import UserError
from raftkube.loops.runner import Loops
from raftkube.pki import certificate_expiry
from raftkube.remote.inventory import Inventory, load_inventory
from raftkube.state import datadir
from raftkube.state.api import ApiServer
from raftkube.state.disk import DiskGuard, parse_min_free
from raftkube.state.dns import ClusterDNS, dns_upstreams
from raftkube.state.podio import PodIO
from raftkube.state.secrets import check_apart, read_secret
from raftkube.state.store import Store, raft_conf
from raftkube.state.token import read_token

logger = logging.getLogger(__name__)

DEFAULT_DATA_DIR = "/var/lib/raftkube/master"


@click.command()
@click.option("-i", "--inventory", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--name", required=True, help="This master's host name in the inventory.")
@click.option("--data-dir", default=DEFAULT_DATA_DIR, show_default=True, type=click.Path(file_okay=False),
              help="Where the Raft journal and snapshots live.")
@click.option("--token-file", type=click.Path(dir_okay=False),
              help="Bearer token of the API (default: the inventory's token file).")
@click.option("--raft-secret-file", type=click.Path(dir_okay=False),
              help="Secret the masters talk Raft with (default: the inventory's raft secret file).")
@click.option("--resync", is_flag=True,
              help="Move this master's Raft files aside and catch up from the leader (damaged or moved master).")
def master(inventory: str, name: str, data_dir: str, token_file: str | None, raft_secret_file: str | None,
           resync: bool) -> None:
    """Run one master replica in the foreground (https with INVENTORY.pki/NAME.crt|key)."""
    os.umask(0o077)  # everything a master writes (journal, dump) is its own
    inv = load_inventory(inventory)
    host = inv.host(name)
    if not host.is_master:
        raise UserError(f"{name} is not in the [masters] group of {inventory}")
    token = read_token(token_file or inv.token_path)
    raft_secret = read_secret(raft_secret_file or inv.raft_secret_path)
    check_apart(raft_secret, token)
    cert_path, key_path = inv.master_cert_paths(name)
    tls = _server_tls(cert_path, key_path)
    expires = certificate_expiry(cert_path.read_bytes()).strftime("%Y-%m-%dT%H:%M:%SZ")
    members = {f"{m.address}:{m.raft_port}": m.name for m in inv.masters}
    raft_address = f"{host.address}:{host.raft_port}"
    data = Path(data_dir)
    try:
        datadir.prepare(data)
        if resync:
            for moved in datadir.resync(data):
                click.echo(f"moved {moved.name.split('.damaged-')[0]} aside to {moved}", err=True)
        datadir.check(data, raft_address, members, name)
    except OSError as exc:
        raise UserError(f"cannot use data dir {data}: {exc.strerror}") from None
    guard = DiskGuard(data, parse_min_free(host.vars.get("raftkube_min_free")))
    asyncio.run(_serve(name, raft_address, list(members), data, token,
                       host.address, host.api_port, tls, expires, inv, raft_secret, guard))


def _server_tls(cert: Path, key: Path) -> ssl.SSLContext:
    """The API serves https only, with the certificate `raftkube setup` issued this master."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert, key)
    except FileNotFoundError:
        raise UserError(f"no serving certificate {cert} / key {key}: run `raftkube setup`") from None
    except (OSError, ssl.SSLError) as exc:
        raise UserError(f"cannot load the serving certificate {cert}: {exc}") from None
    return context


async def _serve(name: str, raft_address: str, peers: list[str], data_dir: Path, token: str,
                 api_host: str, api_port: int, tls: ssl.SSLContext, cert_expires: str,
                 inventory: Inventory | None = None, raft_secret: str = "", guard: DiskGuard | None = None) -> None:
    """Serve until SIGTERM/SIGINT, then hand leadership over and stop Raft cleanly."""
    try:
        conf = raft_conf(raft_secret, data_dir)
    except OSError as exc:
        raise UserError(f"cannot use data dir {data_dir}: {exc.strerror}") from None
    store = Store(raft_address, peers, conf, disk_low=(lambda: guard.low) if guard else None)
    try:
        store.waitBinded()
    except SyncObjException:
        store.destroy()
        raise UserError(f"cannot serve Raft on {raft_address}: the port is taken or the address is not local") from None
    loops = Loops(store, name, inventory)
    api = ApiServer(store, token, name, cert_expires=cert_expires, disk_guard=guard)
    api.node_access = loops.node_access
    api.pod_io = PodIO(api.read_pod, loops.node_access, str(inventory.ca_cert_path) if inventory else None)
    runner = web.AppRunner(api.app(), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, api_host, api_port, ssl_context=tls).start()
    except OSError as exc:
        store.destroy()
        raise UserError(f"cannot serve the API on {api_host}:{api_port}: {exc.strerror}") from None
    logger.warning("master %s: API on https://%s:%d, Raft on %s", name, api_host, api_port, raft_address)
    dns = _start_dns(store, api_host, inventory.host(name).vars if inventory else {})
    loops_task = asyncio.create_task(loops.run(), name="loops")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    loops_task.cancel()
    await asyncio.gather(loops_task, return_exceptions=True)
    if store.is_leader:
        # Best effort: the followers then elect at once instead of after a timeout.
        store.transferLeadership()
        await asyncio.sleep(0.3)
    await runner.cleanup()
    if dns is not None:
        dns.stop()
    store.destroy()


def _start_dns(store: Store, address: str, host_vars: dict) -> ClusterDNS | None:
    """Cluster DNS on this master's address (UDP+TCP, `raftkube_dns_port`, default 53).

    A master that cannot bind it still serves the API: DNS is for pods, not for Raft.
    """
    port = int(host_vars.get("raftkube_dns_port", 53))
    try:
        dns = ClusterDNS(store.read, address, port, dns_upstreams(host_vars))
    except OSError as exc:
        logger.error("cluster DNS not started on %s:%d: %s", address, port, exc.strerror)
        return None
    dns.start()
    logger.warning("cluster DNS on %s:%d", address, port)
    return dns
