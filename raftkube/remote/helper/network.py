"""The pod network on one node, from inside the node's namespaces (pyroute2, sync API).

Layout (DESIGN decision 8): a bridge `rk0` holds the first address of the node's pod
CIDR; each pod has a veth pair, the host end on the bridge and the other end as `eth0`
in the pause container's network namespace. A pod's address is a /32 with a default
route through the gateway, so even traffic between two pods of one node crosses the
node's IP layer: conntrack sees both directions of a connection DNATed from a service
VIP to a pod on the same bridge (with a /24 the backend would answer its client
directly and the client would drop the reply). For the same reason the node sends no
ICMP redirects. Other nodes' pod CIDRs are routed through their host addresses
(host-gw); the service range is routed to the bridge so the node's own connections
to a VIP leave from the gateway address, which every node can route back to.

Every operation is idempotent. Calls arrive on the helper's request threads, never
inside an event loop (pyroute2's sync API refuses one).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from raftkube.netproxy import netlink, nft
from raftkube.remote.helper.errors import BadRequest, OpError
from raftkube.remote.helper.netns import setns_net

log = logging.getLogger(__name__)
T = TypeVar("T")

BRIDGE = "rk0"
KUBE_DNS_IP = "10.96.0.10"  # state.allocation's, which hosts do not carry; the leader sends it
_PROTO = 0x52  # our routes' rtm_protocol ("R"): lets us find and prune them
_ENOENT, _EEXIST, _ENODEV = 2, 17, 19


class NodeNetwork:
    """One node's bridge, routes and service table; remembers what it last applied."""

    def __init__(self, state_dir: Path):
        self.config_path = Path(state_dir) / "network.json"
        self._lock = threading.Lock()
        self._applied: dict | None = None  # the service ruleset the kernel holds, if known

    # -- the node -------------------------------------------------------------------

    def ensure_node(self, pod_cidr: str, routes: dict[str, str], cluster_cidr: str, service_cidr: str,
                    dns_ip: str = KUBE_DNS_IP) -> dict:
        """Bridge with the gateway address, forwarding on, a route per peer node's pod CIDR."""
        gateway = _gateway(pod_cidr)
        cluster = _network(cluster_cidr, "cluster_cidr")
        wanted = {str(_network(cidr, "routes")): str(ipaddress.IPv4Address(via)) for cidr, via in routes.items()}
        with self._lock, IPRoute() as ipr:
            bridge = _ensure_bridge(ipr, gateway)
            _write_sysctls({"net/ipv4/ip_forward": "1", "net/ipv4/conf/all/send_redirects": "0",
                            f"net/ipv4/conf/{BRIDGE}/send_redirects": "0"})
            kept, removed = [], []
            services = str(_network(service_cidr, "service_cidr"))
            for route in ipr.route("dump", family=2):
                if route["proto"] != _PROTO or route.get("table") != 254:
                    continue
                dst = f"{route.get('dst')}/{route['dst_len']}"
                if dst == services:
                    continue
                if wanted.get(dst) == route.get("gateway"):
                    kept.append(dst)
                elif ipaddress.IPv4Network(dst).subnet_of(cluster):
                    ipr.route("del", dst=dst, table=254)
                    removed.append(dst)
            for dst, via in wanted.items():
                if dst not in kept:
                    ipr.route("replace", dst=dst, gateway=via, proto=_PROTO)
            ipr.route("replace", dst=services, oif=bridge, prefsrc=str(gateway.ip), proto=_PROTO)
        self._save_config({"podCIDR": pod_cidr, "gateway": str(gateway), "dns": dns_ip})
        return {"gateway": str(gateway), "routes": sorted(wanted), "removed": removed}

    def sync_services(self, ruleset: dict) -> dict:
        """Make the service table `ruleset` in one transaction; only changes are sent."""
        if not isinstance(ruleset, dict) or not isinstance(ruleset.get("chains"), dict):
            raise BadRequest("sync_services: ruleset must be an object with chains and maps")
        with self._lock:
            messages = netlink.batch(self._applied, ruleset)
            try:
                nft.send(messages)
            except NetlinkError as exc:
                if self._applied is None:
                    raise OpError(f"nftables refused the service table: {exc}") from None
                # Someone changed the table under us: replace it whole.
                log.warning("service table diverged (%s); replacing it", exc)
                messages = netlink.batch(None, ruleset)
                nft.send(messages)
            self._applied = ruleset
        return {"messages": len(messages)}

    def dns_ip(self) -> str:
        return self._config().get("dns") or KUBE_DNS_IP

    # -- pods -----------------------------------------------------------------------

    def ensure_pod(self, uid: str, pid: int, pod_ip: str) -> dict:
        """The pod's eth0 at `pod_ip`/32 in the netns of process `pid`, its host end on rk0."""
        address = str(ipaddress.IPv4Address(pod_ip))
        config = self._config()
        if not config.get("gateway"):
            raise OpError("the node network is not set up yet (ensure_node_network first)")
        gateway = ipaddress.IPv4Interface(config["gateway"])
        netns = f"/proc/{int(pid)}/ns/net"
        host_end = host_veth(uid)
        with IPRoute() as ipr:
            bridge = ipr.link_lookup(ifname=BRIDGE)
            if not bridge:
                raise OpError(f"bridge {BRIDGE} is missing (ensure_node_network first)")
            if ipr.link_lookup(ifname=host_end):
                if _pod_side_ready(netns, address):
                    return {"uid": uid, "ip": address, "created": False}
                # A new pause container (new netns) or a half-made pair: start again.
                delete_link(ipr, host_end)
            ipr.link("add", ifname=host_end, kind="veth", peer={"ifname": "eth0", "net_ns_fd": netns})
            index = ipr.link_lookup(ifname=host_end)[0]
            ipr.link("set", index=index, master=bridge[0], state="up")
            # With br_netfilter loaded, a pod reaching itself through its service VIP is
            # sent back out the port it came in on, which a bridge refuses without this.
            ipr.brport("set", index=index, mode=1)
        def configure() -> None:
            with IPRoute() as pod:
                pod.link("set", index=pod.link_lookup(ifname="lo")[0], state="up")
                eth0 = pod.link_lookup(ifname="eth0")[0]
                pod.addr("replace", index=eth0, address=address, prefixlen=32)
                pod.link("set", index=eth0, state="up")
                pod.route("replace", dst=f"{gateway.ip}/32", oif=eth0, scope=253)
                pod.route("replace", dst="0.0.0.0/0", gateway=str(gateway.ip), oif=eth0)

        in_netns(netns, configure)
        return {"uid": uid, "ip": address, "created": True}

    def remove_pod(self, uid: str) -> bool:
        with IPRoute() as ipr:
            return delete_link(ipr, host_veth(uid))

    # -- files ----------------------------------------------------------------------

    def _config(self) -> dict:
        try:
            return json.loads(self.config_path.read_text())
        except (FileNotFoundError, ValueError):
            return {}

    def _save_config(self, config: dict) -> None:
        if self._config() == config:
            return
        self.config_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.config_path.with_name(f".network.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(config))
        os.replace(tmp, self.config_path)


def host_veth(uid: str) -> str:
    """The host end's name: interface names have at most 15 characters."""
    return "rkv" + uid.replace("-", "")[:12]


def resolv_conf(namespace: str, dns_ip: str) -> str:
    """Kubernetes' ClusterFirst resolv.conf for a pod in `namespace`."""
    return (f"nameserver {dns_ip}\n"
            f"search {namespace}.svc.cluster.local svc.cluster.local cluster.local\n"
            "options ndots:5\n")


def _gateway(pod_cidr: str) -> ipaddress.IPv4Interface:
    network = _network(pod_cidr, "pod_cidr")
    return ipaddress.IPv4Interface(f"{network.network_address + 1}/{network.prefixlen}")


def _network(value, what: str) -> ipaddress.IPv4Network:
    try:
        return ipaddress.IPv4Network(value)
    except (TypeError, ValueError):
        raise BadRequest(f"{what}: {value!r} is not an IPv4 network") from None


def _ensure_bridge(ipr: IPRoute, gateway: ipaddress.IPv4Interface) -> int:
    found = ipr.link_lookup(ifname=BRIDGE)
    if not found:
        try:
            ipr.link("add", ifname=BRIDGE, kind="bridge")
        except NetlinkError as exc:
            if exc.code != _EEXIST:
                raise
        found = ipr.link_lookup(ifname=BRIDGE)
    index = found[0]
    addresses = {(a.get_attr("IFA_ADDRESS"), a["prefixlen"]) for a in ipr.get_addr(index=index, family=2)}
    for address, prefixlen in addresses - {(str(gateway.ip), gateway.network.prefixlen)}:
        ipr.addr("del", index=index, address=address, prefixlen=prefixlen)
    if (str(gateway.ip), gateway.network.prefixlen) not in addresses:
        ipr.addr("add", index=index, address=str(gateway.ip), prefixlen=gateway.network.prefixlen)
    ipr.link("set", index=index, state="up")
    return index


def _pod_side_ready(netns: str, address: str) -> bool:
    def check() -> bool:
        with IPRoute() as pod:
            eth0 = pod.link_lookup(ifname="eth0")
            if not eth0:
                return False
            ips = {a.get_attr("IFA_ADDRESS") for a in pod.get_addr(index=eth0[0], family=2)}
            routes = [r for r in pod.route("dump", family=2, table=254) if r["dst_len"] == 0]
            return address in ips and bool(routes)

    try:
        return in_netns(netns, check)
    except (OSError, NetlinkError):
        return False


def in_netns(path: str, work: Callable[[], T]) -> T:
    """`work()` run by a new thread that has entered the network namespace at `path`.

    setns moves only the calling thread, and the thread ends there, so the helper's
    other threads never leave the host's namespace. pyroute2's own `IPRoute(netns=)`
    forks a child to make its socket, which can deadlock a threaded process (a lock
    held by another thread at the fork) and is slow on a busy host.
    """
    outcome: dict = {}

    def run() -> None:
        try:
            fd = os.open(path, os.O_RDONLY)
            try:
                setns_net(fd)
            finally:
                os.close(fd)
            outcome["value"] = work()
        except BaseException as exc:  # handed to the caller's thread
            outcome["error"] = exc

    thread = threading.Thread(target=run, name="netns", daemon=True)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def delete_link(ipr: IPRoute, name: str) -> bool:
    """Delete the link `name` if there is one; True if there was. A link the kernel frees
    between the lookup and the delete (a veth whose other end's namespace just went)
    counts as deleted. The lab's `delete_link` uses it too."""
    for index in ipr.link_lookup(ifname=name):
        try:
            ipr.link("del", index=index)
        except NetlinkError as exc:
            if exc.code not in (_ENOENT, _ENODEV):
                raise
        return True
    return False


def _write_sysctls(values: dict[str, str]) -> None:
    for key, value in values.items():
        path = Path("/proc/sys") / key
        try:
            if path.read_text().strip() != value:
                path.write_text(value)
        except OSError as exc:
            raise OpError(f"cannot set {key.replace('/', '.')}={value}: {exc.strerror}") from None
