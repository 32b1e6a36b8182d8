"""The leader's network worker: every node's bridge, routes and service table.

One key per node, as many workers as nodes, so a slow or unreachable node delays only
itself. A node's sync pushes, over its helper channel, the node network (its pod CIDR's
gateway on `rk0`, a host-gw route to every other node's pod CIDR through that node's
address) and the service ruleset built by `netproxy.rules` from the cached Services and
Endpoints; the helper applies only the difference, in one nftables transaction. Any
Service, Endpoints or Node change queues every node; pushes that would change nothing
are skipped, and every node is pushed again every `RESYNC` seconds anyway, so a helper
that restarted (and forgot its table) or a table changed by hand is healed.
"""

from __future__ import annotations

import asyncio
import logging

from raftkube.loops.controller import Controller, LoopContext
from raftkube.netproxy import rules
from raftkube.state.allocation import KUBE_DNS_IP, SERVICE_CIDR, cluster_cidr_of

logger = logging.getLogger(__name__)

RESYNC = 10.0
HOST_TIMEOUT = 10.0


def node_address(node: dict, fallback: str | None = None) -> str | None:
    for address in (node.get("status") or {}).get("addresses") or ():
        if address.get("type") == "InternalIP":
            return address.get("address")
    return fallback


class NetworkSync(Controller):
    name = "network"

    def __init__(self, ctx: LoopContext):
        super().__init__(ctx)
        self.workers = max(1, len(ctx.node_hosts))
        self._pushed: dict[str, tuple] = {}  # node -> (node network args, ruleset) last pushed
        self._ports: tuple[int, list] | None = None  # (cache revision, service ports)

    def setup(self) -> None:
        for kind in ("Service", "Endpoints", "Node"):
            self.cache.on(kind, self._queue_all)
        self._queue_all()

    def _queue_all(self, *event) -> None:
        for name in self.ctx.node_hosts:
            self.queue.add(name)

    async def background(self) -> None:
        while True:
            await asyncio.sleep(RESYNC)
            self._pushed.clear()
            self._queue_all()

    def desired(self, name: str) -> tuple[dict, dict] | None:
        """(ensure_node_network args, service ruleset) for node `name`, None if it has no range yet."""
        node = self.cache.get("Node", "", name)
        pod_cidr = ((node or {}).get("spec") or {}).get("podCIDR")
        if not pod_cidr:
            return None
        host = self.ctx.node_hosts.get(name)
        address = node_address(node, host.address if host else None)
        routes = {}
        for other in self.cache.list("Node"):
            other_cidr = (other.get("spec") or {}).get("podCIDR")
            other_name = other["metadata"]["name"]
            other_host = self.ctx.node_hosts.get(other_name)
            via = node_address(other, other_host.address if other_host else None)
            if other_name != name and other_cidr and via:
                routes[other_cidr] = via
        cluster_cidr = cluster_cidr_of(node)
        network = {"pod_cidr": pod_cidr, "routes": routes, "cluster_cidr": cluster_cidr,
                   "service_cidr": SERVICE_CIDR, "dns_ip": KUBE_DNS_IP}
        return network, rules.ruleset(self._service_ports(), address, cluster_cidr, SERVICE_CIDR)

    def _service_ports(self) -> list:
        if self._ports is None or self._ports[0] != self.cache.revision:
            ports = rules.service_ports(self.cache.list("Service"), self.cache.list("Endpoints"))
            self._ports = (self.cache.revision, ports)
        return self._ports[1]

    async def sync(self, name) -> None:
        wanted = self.desired(name)
        if wanted is None:
            return
        network, ruleset = wanted
        pushed_network, pushed_rules = self._pushed.get(name, (None, None))
        if network != pushed_network:
            await self.ctx.host_call(name, "ensure_node_network", network, timeout=HOST_TIMEOUT)
            self._pushed[name] = (network, pushed_rules)
        if ruleset != pushed_rules:
            await self.ctx.host_call(name, "sync_services", {"ruleset": ruleset}, timeout=HOST_TIMEOUT)
            self._pushed[name] = (network, ruleset)
