"""`raftkube setup` and `raftkube image load`: prepare hosts over SSH, start the masters.

Setup runs in phases, each over every host in parallel (a bounded pool, since fabric's
groups have no limit): connect and record host keys, check and prepare the host, then
install and start the masters (they need every host key recorded, as they drive the
hosts too), wait for a leader, and register the nodes as Node objects. Every step is
check-then-ensure, so running setup again changes nothing and says so.
"""

import importlib.metadata
import ipaddress
import os
import re
import secrets
import sys
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import click
import fabric

from raftkube.client.api import ApiClient, ApiError, tls_context
from raftkube.client.discovery import endpoint, inventory_path
from raftkube.client.kubeconfig import write_kubeconfig
from raftkube.errors import UserError
from raftkube.pki import ensure_cluster_pki
from raftkube.remote import hostprep, raft_firewall, ssh
from raftkube.remote.hostprep import HostFacts
from raftkube.remote.inventory import Host, Inventory, load_inventory
from raftkube.remote.setup_images import SavedImage, load_image, saved_image
from raftkube.remote.setup_master import (
    Wheelhouse,
    chosen_service_manager,
    ensure_master,
    install_raftkube,
    master_config,
    master_log_tail,
    master_running,
)
from raftkube.state.allocation import CLUSTER_CIDR, CLUSTER_CIDR_ANNOTATION, KUBE_DNS_IP
from raftkube.state.quantity import parse_cpu, parse_memory
from raftkube.state.secrets import check_apart, ensure_secret
from raftkube.state.token import read_token

MAX_PARALLEL = 16
LEADER_TIMEOUT = 60.0
_DNS_1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")

# Kubernetes names architectures the way Go does.
_GOARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm"}

T = TypeVar("T")


class SetupFailed(UserError):
    """Some hosts could not be prepared; the others were."""


class Progress:
    """One line per host step, safe to call from the pool's threads.

    On a terminal each line also shows the time since the start, host names stand out
    and failures are red; otherwise (logs, pipes, `lab up` in tests) lines stay plain.
    """

    def __init__(self, echo: Callable[[str], None], tty: bool = False):
        self._echo, self._tty, self._lock = echo, tty, threading.Lock()
        self._started = time.monotonic()

    def step(self, host: str, message: str, failed: bool = False) -> None:
        if self._tty:
            elapsed = click.style(f"[{time.monotonic() - self._started:5.1f}s]", dim=True)
            line = f"{elapsed} {click.style(host, bold=True)}: {click.style(message, fg='red') if failed else message}"
        else:
            line = f"{host}: {message}"
        with self._lock:
            self._echo(line)

    def failed(self, host: str, message: str) -> None:
        self.step(host, f"FAILED: {message}", failed=True)


@dataclass
class _Prepared:
    host: Host
    conn: fabric.Connection
    facts: HostFacts
    docker_version: str | None


def setup_cluster(inventory_path: str | Path, echo: Callable[[str], None] = click.echo, tty: bool = False,
                  wheelhouse: Wheelhouse | None = None) -> None:
    """Prepare every host of the inventory and start its masters (also what `lab up` runs).

    `wheelhouse` pins the raftkube shipped to the masters (default: the running source).
    """
    inventory = load_inventory(inventory_path)
    _check_inventory(inventory)
    progress = Progress(echo, tty)
    token = _ensure_token(inventory.token_path, progress)
    _ensure_pki(inventory, progress)
    raft_secret, created = ensure_secret(inventory.raft_secret_path)
    if created:
        progress.step("local", f"created Raft secret {inventory.raft_secret_path}")
    check_apart(raft_secret, token)
    failures: dict[str, str] = {}
    prepared: dict[str, _Prepared] = {}
    with ThreadPoolExecutor(max_workers=max(1, min(MAX_PARALLEL, len(inventory.hosts)))) as pool:
        try:
            prepared = _each(pool, inventory.hosts.values(), lambda h: _prepare(inventory, h, progress), progress, failures)
            masters = [prepared[m.name] for m in inventory.masters if m.name in prepared]
            if masters:
                wheelhouse = wheelhouse or Wheelhouse()
                installed = _each(pool, masters, lambda p: _install(p, wheelhouse, progress), progress, failures)
                _start_masters(pool, inventory, [p for p in masters if p.host.name in installed], token,
                               raft_secret, wheelhouse, prepared, progress, failures)
            if inventory.masters:
                path, changed = write_kubeconfig(inventory, token)
                if changed:
                    progress.step("local", f"wrote {path} (export KUBECONFIG={path})")
            if any(m.name not in failures for m in inventory.masters):
                _wait_for_leader(inventory, token, prepared, progress)
                nodes = [prepared[n.name] for n in inventory.nodes if n.name in prepared]
                _register_nodes(inventory, token, nodes, progress)
                _register_cluster_dns(inventory, token, progress)
            elif not inventory.masters:
                echo("no masters in the inventory: nodes are prepared but not registered")
        finally:
            for p in prepared.values():
                p.conn.close()
    if failures:
        first = next(iter(failures.values()))
        others = " (the other hosts are ready)" if len(failures) < len(inventory.hosts) else ""
        raise SetupFailed(f"setup failed on {', '.join(failures)}{others}: {first}")


def _check_inventory(inventory: Inventory) -> None:
    if not inventory.hosts:
        raise UserError(f"{inventory.path}: the inventory lists no hosts")
    for host in inventory.hosts.values():
        if not _DNS_1123.match(host.name) or len(host.name) > 253:
            raise UserError(f"{inventory.path}: host name {host.name!r} is not a valid Node name (lowercase DNS-1123)")
        for key, parse in (("raftkube_cpu", parse_cpu), ("raftkube_memory", parse_memory)):
            if key in host.vars:
                try:
                    parse(host.vars[key])
                except UserError as exc:
                    raise UserError(f"host {host.name}: {key}: {exc}") from None
        if "raftkube_max_pods" in host.vars and not str(host.vars["raftkube_max_pods"]).isdigit():
            raise UserError(f"host {host.name}: raftkube_max_pods must be a whole number, got {host.vars['raftkube_max_pods']!r}")
        chosen_service_manager(host)
        cidr = host.vars.get("raftkube_cluster_cidr")
        if cidr is not None:
            try:
                if ipaddress.IPv4Network(cidr).prefixlen > 24:
                    raise ValueError
            except ValueError:
                raise UserError(f"host {host.name}: raftkube_cluster_cidr must be an IPv4 network of /24 or larger "
                                f"(one /24 per node), got {cidr!r}") from None


def _ensure_token(path: Path, progress: Progress) -> str:
    """The cluster's bearer token, created (0600) on the first run."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return read_token(path)
    except OSError as exc:
        raise UserError(f"cannot create token file {path}: {exc.strerror}") from None
    token = secrets.token_hex(32)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    progress.step("local", f"created token {path}")
    return token


def _ensure_pki(inventory: Inventory, progress: Progress) -> None:
    """The cluster CA and every master's serving certificate (renewed 30 days before expiry)."""
    if not inventory.masters:
        return
    created, certs = ensure_cluster_pki(inventory)
    if created:
        progress.step("local", f"created cluster CA {inventory.ca_cert_path}")
    for cert in certs:
        if cert.action != "kept":
            progress.step(cert.name, f"serving certificate {cert.action}, expires {cert.expires:%Y-%m-%d}")


def _each(pool: ThreadPoolExecutor, items: Iterable[T], work: Callable[[T], object], progress: Progress,
          failures: dict[str, str]) -> dict:
    """Run `work` on every item in parallel; a UserError fails that host only, shown as it happens."""
    items = list(items)
    futures = {_name(item): pool.submit(work, item) for item in items}
    results = {}
    for name, future in futures.items():
        try:
            results[name] = future.result()
        except UserError as exc:
            failures[name] = str(exc)
            progress.failed(name, str(exc))
    return results


def _name(item) -> str:
    return item.name if isinstance(item, Host) else item.host.name


def _prepare(inventory: Inventory, host: Host, progress: Progress) -> _Prepared:
    known_before = ssh.known_hosts_name(host) in ssh.load_known_hosts(inventory.known_hosts_path)
    conn = ssh.connect(host, inventory.known_hosts_path, accept_new=True)
    try:
        progress.step(host.name, f"connected to {host.address}:{host.port}" + ("" if known_before else ", host key recorded"))
        facts = hostprep.gather_facts(conn, host)
        progress.step(host.name, f"python {'.'.join(map(str, facts.python))}, {hostprep.STATE_DIR} ready")
        docker_version = None
        if host.is_node:
            docker_version = hostprep.check_docker(conn, host)
            progress.step(host.name, f"docker {docker_version} answers at {host.docker_host}")
            forwarding = "already on" if facts.forwarding_was_on else "turned on"
            if facts.forwarding_was_persisted is False:
                forwarding += f", kept on at boot by {hostprep.SYSCTL_FILE}"
            progress.step(host.name, f"ip forwarding {forwarding}")
        return _Prepared(host, conn, facts, docker_version)
    except BaseException:
        conn.close()
        raise


def _install(p: _Prepared, wheelhouse: Wheelhouse, progress: Progress) -> None:
    progress.step(p.host.name, install_raftkube(p.conn, p.host, wheelhouse))


def _start_masters(pool: ThreadPoolExecutor, inventory: Inventory, masters: list[_Prepared], token: str,
                   raft_secret: str, wheelhouse: Wheelhouse, prepared: dict[str, _Prepared], progress: Progress,
                   failures: dict[str, str]) -> None:
    """Start the masters; restart running ones one at a time, waiting for a leader after
    each: an upgrade keeps quorum."""
    try:
        allowed = raft_firewall.master_addresses(inventory)
    except UserError as exc:
        for p in masters:
            failures[p.host.name] = str(exc)
            progress.failed(p.host.name, str(exc))
        return
    for m in inventory.masters:
        if m.name in prepared:
            allowed += raft_firewall.host_addresses(prepared[m.name].conn)

    def start(p: _Prepared, running: bool) -> bool:
        raft_firewall.install(p.conn, p.host, allowed)
        config = master_config(inventory, p.host, token, raft_secret, wheelhouse.digest)
        message, restarted = ensure_master(p.conn, p.host, p.facts, config, running)
        progress.step(p.host.name, message)
        return restarted

    # A master that is not running holds no vote to keep: those start together (on a new
    # cluster, all of them). Running ones that need a restart go one at a time after,
    # each once the one before has rejoined. (Asked once: a master found stopped is
    # started, never restarted, within the parallel batch.)
    running = _each(pool, masters, lambda p: master_running(p.conn, p.host, p.facts), progress, failures)
    _each(pool, [p for p in masters if running.get(p.host.name) is False], lambda p: start(p, False),
          progress, failures)
    restarting = [p for p in masters if running.get(p.host.name)]
    for i, p in enumerate(restarting):
        restarted = _each(pool, [p], lambda p: start(p, True), progress, failures).get(p.host.name)
        if restarted and i + 1 < len(restarting):
            _wait_for_leader(inventory, token, prepared, progress, member=p.host)


def _wait_for_leader(inventory: Inventory, token: str, prepared: dict[str, _Prepared], progress: Progress,
                     member: Host | None = None) -> None:
    """Until a leader with quorum exists (or, given `member`, until that master follows one)."""
    started = time.monotonic()
    leader = _poll_leader([endpoint(m) for m in inventory.masters], token, member, inventory)
    if leader is None:
        logs = []
        for m in [member] if member else inventory.masters:
            if m.name in prepared:
                tail = master_log_tail(prepared[m.name].conn, m, prepared[m.name].facts, lines=1)
                logs.append(f"{m.name}: {tail or '(no log)'}")
        what = f"{member.name} did not rejoin the cluster" if member else "the masters elected no leader"
        raise SetupFailed(f"{what} within {LEADER_TIMEOUT:.0f}s; last log lines: " + "; ".join(logs))
    if member:
        progress.step(member.name, f"rejoined, leader {leader} ({time.monotonic() - started:.1f}s)")
    else:
        waited = time.monotonic() - started
        progress.step("cluster", f"leader {leader}" + (f" elected after {waited:.1f}s" if waited >= 0.5 else ""))


def _poll_leader(endpoints: list[str], token: str, member: Host | None, inventory: Inventory) -> str | None:
    deadline = time.monotonic() + LEADER_TIMEOUT
    with ApiClient(endpoints, token, ssl_context=tls_context(inventory.ca_cert_path)) as client:
        while time.monotonic() < deadline:
            for url in [endpoint(member)] if member else endpoints:
                try:
                    status = client.status_of(url)
                except ApiError:
                    status = None
                if not status:
                    continue
                if member and status.get("leader") and status.get("ready"):
                    return status["leader"]
                if status.get("state") == "leader" and status.get("hasQuorum"):
                    return status["leader"]
            time.sleep(0.3)
    return None


def _node_object(p: _Prepared) -> dict:
    cap = hostprep.capacity(p.host, p.facts)
    resources = {"cpu": cap.cpu, "memory": cap.memory, "pods": cap.pods}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": p.host.name,
            "labels": {"kubernetes.io/hostname": p.host.name},
            # The state machine carves the node's pod CIDR out of this range.
            "annotations": {CLUSTER_CIDR_ANNOTATION: p.host.vars.get("raftkube_cluster_cidr") or CLUSTER_CIDR},
        },
        "status": {
            "capacity": resources,
            "allocatable": dict(resources),
            "addresses": [
                {"type": "InternalIP", "address": p.host.address},
                {"type": "Hostname", "address": p.host.name},
            ],
            "nodeInfo": {
                "containerRuntimeVersion": f"docker://{p.docker_version}",
                "kubeletVersion": f"raftkube-{importlib.metadata.version('raftkube')}",
                "kernelVersion": p.facts.kernel,
                "osImage": p.facts.os_image,
                "operatingSystem": "linux",
                "architecture": _GOARCH.get(p.facts.architecture, p.facts.architecture),
            },
        },
    }


def _differs(wanted: dict, actual: dict) -> bool:
    """Whether `actual` lacks anything `wanted` states (fields others added are fine)."""
    if isinstance(wanted, dict):
        return not isinstance(actual, dict) or any(_differs(v, actual.get(k)) for k, v in wanted.items())
    return wanted != actual


def _register_nodes(inventory: Inventory, token: str, nodes: list[_Prepared], progress: Progress) -> None:
    with ApiClient([endpoint(m) for m in inventory.masters], token,
                   ssl_context=tls_context(inventory.ca_cert_path)) as client:
        for p in nodes:
            wanted = _node_object(p)
            path = f"/api/v1/nodes/{p.host.name}"
            try:
                current = client.get(path)
            except ApiError as exc:
                if exc.code != 404:
                    raise
                client.create("/api/v1/nodes", wanted)
                progress.step(p.host.name, "Node registered")
                continue
            if _differs(wanted, current):
                client.patch(path, {"metadata": wanted["metadata"], "status": wanted["status"]})
                progress.step(p.host.name, "Node updated")
            else:
                progress.step(p.host.name, "Node already registered")


def _cluster_dns_objects(inventory: Inventory) -> list[tuple[str, dict]]:
    """kube-system/kube-dns: one stable ClusterIP whose endpoints are the masters' DNS servers."""
    labels = {"k8s-app": "kube-dns", "kubernetes.io/name": "CoreDNS"}
    ports = [{"name": "dns", "port": 53, "protocol": "UDP"}, {"name": "dns-tcp", "port": 53, "protocol": "TCP"}]
    dns_port = int(inventory.masters[0].vars.get("raftkube_dns_port", 53)) if inventory.masters else 53
    service = {"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": "kube-dns", "namespace": "kube-system", "labels": labels},
               "spec": {"clusterIP": KUBE_DNS_IP, "ports": [{**p, "targetPort": dns_port} for p in ports]}}
    endpoints = {"apiVersion": "v1", "kind": "Endpoints",
                 "metadata": {"name": "kube-dns", "namespace": "kube-system", "labels": labels},
                 "subsets": [{"addresses": [{"ip": m.address} for m in inventory.masters],
                              "ports": [{**p, "port": dns_port} for p in ports]}]}
    return [("services", service), ("endpoints", endpoints)]


def _dns_shape(obj: dict) -> dict:
    """What setup states of a kube-dns object. Endpoints' addresses as one set: the leader
    moves a master that stopped answering to notReadyAddresses and back (loops/clusterdns)."""
    shape = {key: value for key, value in obj.items() if key != "metadata"}
    if obj.get("kind") == "Endpoints":
        shape["subsets"] = [{"ips": sorted(a.get("ip", "") for key in ("addresses", "notReadyAddresses")
                                           for a in subset.get(key) or ()),
                             "ports": subset.get("ports")} for subset in obj.get("subsets") or ()]
    return shape


def _register_cluster_dns(inventory: Inventory, token: str, progress: Progress) -> None:
    deadline = time.monotonic() + 30
    with ApiClient([endpoint(m) for m in inventory.masters], token,
                   ssl_context=tls_context(inventory.ca_cert_path)) as client:
        for plural, wanted in _cluster_dns_objects(inventory):
            path = f"/api/v1/namespaces/kube-system/{plural}"
            while True:
                try:
                    current = client.get(f"{path}/kube-dns")
                except ApiError as exc:
                    if exc.code != 404:
                        raise
                    current = None
                try:
                    if current is None:
                        client.create(path, wanted)
                    elif _differs(_dns_shape(wanted), _dns_shape(current)):
                        client.replace(f"{path}/kube-dns", {**wanted, "metadata": {
                            **wanted["metadata"], "resourceVersion": current["metadata"]["resourceVersion"]}})
                    break
                except ApiError as exc:
                    # kube-system is made by the leader just after it is elected.
                    if exc.code not in (404, 409) or time.monotonic() > deadline:
                        raise
                    time.sleep(0.5)
    progress.step("cluster", f"cluster DNS kube-system/kube-dns at {KUBE_DNS_IP}")


@click.command()
@click.option("-i", "--inventory", "inventory", help="The inventory (default: RAFTKUBE_INVENTORY or the lab that is up).")
def setup(inventory: str | None) -> None:
    """Prepare every host over SSH and start the masters (safe to run again)."""
    setup_cluster(inventory_path(inventory), click.echo, tty=sys.stdout.isatty())


@click.group()
def image() -> None:
    """Container images on the nodes."""


@image.command("load")
@click.argument("name", metavar="IMAGE")
@click.option("-i", "--inventory", "inventory", help="The inventory (default: RAFTKUBE_INVENTORY or the lab that is up).")
@click.option("--from-docker-host", envvar="DOCKER_HOST", help="The local engine holding IMAGE (default: DOCKER_HOST).")
def load(name: str, inventory: str | None, from_docker_host: str | None) -> None:
    """Copy a local image to every node's engine over SSH (nodes that have it are skipped)."""
    inv = load_inventory(inventory_path(inventory))
    if not inv.nodes:
        raise UserError(f"{inv.path}: no hosts in the [nodes] group")
    progress = Progress(click.echo, tty=sys.stdout.isatty())
    failures: dict[str, str] = {}
    with saved_image(name, from_docker_host) as saved:
        progress.step("local", f"saved {name} ({saved.size / 1e6:.1f} MB)")
        with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(inv.nodes))) as pool:
            _each(pool, inv.nodes, lambda h: _load_on(inv, h, saved, progress), progress, failures)
    if failures:
        raise SetupFailed(f"image load failed on {', '.join(failures)}: {next(iter(failures.values()))}")


def _load_on(inv: Inventory, host: Host, saved: SavedImage, progress: Progress) -> None:
    conn = ssh.connect(host, inv.known_hosts_path)
    try:
        load_image(conn, host, saved, lambda message: progress.step(host.name, message))
    finally:
        conn.close()


COMMANDS: list[click.Command] = [setup, image]
