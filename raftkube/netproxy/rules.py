"""What a node's nftables table should hold for the cluster's services: pure data.

Modelled on kube-proxy's nftables mode (KEP-3866): one private table `ip raftkube`;
one verdict map `service_ips` keyed by `ip daddr . meta l4proto . th dport`, whose
element for each ClusterIP (and each NodePort on the node's address) jumps to a chain
per service port; that chain picks an endpoint chain round-robin with
`numgen inc mod N vmap {...}`; each endpoint chain DNATs to the pod IP:port and marks
hairpin traffic (a pod reaching itself through its service) for masquerade. A service
port with no endpoints is in the `no_endpoints` map instead, whose verdict rejects at
once (TCP reset, ICMP port unreachable for the rest) in filter chains, as reject is
not allowed in nat chains. Pod traffic leaving the cluster CIDR and the service range
is masqueraded behind the node's address.

A ruleset is plain JSON (it crosses the helper channel): `{"chains": {name: {"base":
[type, hook, priority] | None, "rules": [[statement, ...], ...]}}, "maps": {name:
[[ip, proto, port, verdict_chain], ...]}}`. A statement is a list whose first item
names it: `match` (saddr|daddr, eq|ne, address or CIDR), `l4proto` (tcp|udp|sctp),
`lookup` (map: `ip daddr . meta l4proto . th dport vmap @map`), `numgen` (endpoint
chains), `mark_set`/`mark_test` (bits), `dnat` (ip, port), `masquerade`, `jump`/`goto`
(chain), `reject_tcp` (TCP reset), `reject` (ICMP port unreachable). `netproxy.netlink`
turns statements into netlink expressions and `netproxy.render` into `nft list` text.
"""

from __future__ import annotations

from dataclasses import dataclass, field

TABLE = "raftkube"
MASQUERADE_MARK = 0x4000
SERVICE_MAP = "service_ips"
NO_ENDPOINTS_MAP = "no_endpoints"
SERVICES_CHAIN = "services"
MARK_CHAIN = "mark-for-masquerade"
REJECT_CHAIN = "reject-chain"

PROTOCOLS = {"tcp": 6, "udp": 17, "sctp": 132}


@dataclass(frozen=True)
class ServicePort:
    """One port of one service, as each node must route it."""

    namespace: str
    name: str
    port_name: str
    protocol: str  # lower case: tcp, udp, sctp
    cluster_ip: str
    port: int
    node_port: int | None = None
    endpoints: tuple[tuple[str, int], ...] = field(default_factory=tuple)  # (pod IP, target port)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}/{self.protocol}/{self.port_name or self.port}"


def service_ports(services: list[dict], endpoints: list[dict]) -> list[ServicePort]:
    """Every routable port of `services` with its ready endpoints (from Endpoints objects).

    An Endpoints port is matched to the service port of the same name, as Kubernetes
    does; headless services (clusterIP None) are not routed.
    """
    by_key = {(e["metadata"].get("namespace"), e["metadata"]["name"]): e for e in endpoints}
    result = []
    for service in services:
        meta, spec = service["metadata"], service.get("spec") or {}
        cluster_ip = spec.get("clusterIP")
        if not cluster_ip or cluster_ip == "None":
            continue
        subsets = (by_key.get((meta.get("namespace"), meta["name"])) or {}).get("subsets") or []
        for port in spec.get("ports") or []:
            name, protocol = port.get("name") or "", port.get("protocol", "TCP")
            targets = set()
            for subset in subsets:
                for ep_port in subset.get("ports") or []:
                    if (ep_port.get("name") or "") == name and ep_port.get("protocol", "TCP") == protocol:
                        targets |= {(a["ip"], ep_port["port"]) for a in subset.get("addresses") or []}
            result.append(ServicePort(
                namespace=meta.get("namespace", "default"), name=meta["name"], port_name=name,
                protocol=protocol.lower(), cluster_ip=cluster_ip, port=port["port"],
                node_port=port.get("nodePort") if spec.get("type") == "NodePort" else None,
                endpoints=tuple(sorted(targets, key=_endpoint_order))))
    return sorted(result, key=lambda p: p.key)


def _endpoint_order(endpoint: tuple[str, int]) -> tuple:
    ip, port = endpoint
    return tuple(int(part) for part in ip.split(".")), port


def ruleset(ports: list[ServicePort], node_address: str, cluster_cidr: str, service_cidr: str) -> dict:
    """The whole table for one node (its address takes the NodePorts)."""
    chains: dict[str, dict] = {
        "nat-prerouting": _base("nat", "prerouting", -100, [["jump", SERVICES_CHAIN]]),
        "nat-output": _base("nat", "output", -100, [["jump", SERVICES_CHAIN]]),
        "nat-postrouting": _base("nat", "postrouting", 100, [
            ["mark_test", MASQUERADE_MARK], ["masquerade"]],
            [["match", "saddr", "eq", cluster_cidr], ["match", "daddr", "ne", cluster_cidr],
             ["match", "daddr", "ne", service_cidr], ["masquerade"]]),
        "filter-input": _base("filter", "input", -110, [["lookup", NO_ENDPOINTS_MAP]]),
        "filter-forward": _base("filter", "forward", -110, [["lookup", NO_ENDPOINTS_MAP]]),
        "filter-output": _base("filter", "output", -110, [["lookup", NO_ENDPOINTS_MAP]]),
        SERVICES_CHAIN: _chain([["lookup", SERVICE_MAP]]),
        MARK_CHAIN: _chain([["mark_set", MASQUERADE_MARK]]),
        REJECT_CHAIN: _chain([["l4proto", "tcp"], ["reject_tcp"]], [["reject"]]),
    }
    service_map, no_endpoints = [], []
    for port in ports:
        entries = [(port.cluster_ip, port.port)]
        if port.node_port:
            entries.append((node_address, port.node_port))
        if not port.endpoints:
            no_endpoints += [[ip, port.protocol, number, REJECT_CHAIN] for ip, number in entries]
            continue
        service_chain = f"svc-{port.key}"
        endpoint_chains = []
        for ip, target in port.endpoints:
            name = f"ep-{port.key}/{ip}:{target}"
            endpoint_chains.append(name)
            chains[name] = _chain([["match", "saddr", "eq", ip], ["jump", MARK_CHAIN]],
                                  [["l4proto", port.protocol], ["dnat", ip, target]])
        chains[service_chain] = _chain([["numgen", endpoint_chains]])
        service_map.append([port.cluster_ip, port.protocol, port.port, service_chain])
        if port.node_port:
            # From outside, the reply must come back through this node: masquerade.
            external = f"ext-{port.key}"
            chains[external] = _chain([["jump", MARK_CHAIN]], [["goto", service_chain]])
            service_map.append([node_address, port.protocol, port.node_port, external])
    return {"chains": chains, "maps": {SERVICE_MAP: sorted(service_map), NO_ENDPOINTS_MAP: sorted(no_endpoints)}}


def _base(chain_type: str, hook: str, priority: int, *rules: list) -> dict:
    return {"base": [chain_type, hook, priority], "rules": [list(rule) for rule in rules]}


def _chain(*rules: list) -> dict:
    return {"base": None, "rules": [list(rule) for rule in rules]}
