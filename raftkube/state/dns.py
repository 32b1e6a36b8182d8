"""Cluster DNS on every master, answered from this master's replica of the state.

`<svc>.<ns>.svc.cluster.local` is the Service's ClusterIP, or the ready pod IPs of a
headless one (from its Endpoints); `_<port>._<proto>.<svc>.<ns>.svc.cluster.local` is an
SRV record per named port; any other name under `cluster.local` is NXDOMAIN. Other names
are forwarded to the master host's resolvers (or `raftkube_dns_upstream`), or REFUSED
when there are none: lab masters get none unless a test names one, so a test never
sends a query beyond the lab.

Answers are read from the local replica without a read barrier: a follower may lag a
few milliseconds, as any Kubernetes DNS cache does. UDP and TCP, on dnslib's threaded
servers (queries never touch the master's event loop).
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable
from dataclasses import dataclass

from dnslib import QTYPE, RCODE, RR, SOA, SRV, A, DNSRecord
from dnslib.server import BaseResolver, DNSLogger, DNSServer

logger = logging.getLogger(__name__)

DOMAIN = "cluster.local"
TTL = 5
FORWARD_TIMEOUT = 2.0


def upstreams_from_resolv_conf(path: str = "/etc/resolv.conf") -> list[str]:
    """The nameservers a host's resolv.conf names (IPv4 and IPv6 literals only)."""
    found = []
    try:
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 2 and parts[0] == "nameserver":
                    try:
                        found.append(str(ipaddress.ip_address(parts[1])))
                    except ValueError:
                        continue
    except OSError:
        pass
    return found


@dataclass(frozen=True)
class Answer:
    rcode: int
    records: list


def lookup(read: Callable, qname: str, qtype: str) -> Answer | None:
    """The answer for a name under cluster.local, None for names outside it.

    `read(fn)` runs `fn(state)` on the replica (Store.read).
    """
    name = qname.rstrip(".").lower()
    if name != DOMAIN and not name.endswith("." + DOMAIN):
        return None
    labels = name[: -len(DOMAIN)].rstrip(".").split(".") if name != DOMAIN else []
    service_labels = labels
    port_name = protocol = None
    if len(labels) == 5 and labels[0].startswith("_") and labels[1].startswith("_"):
        port_name, protocol = labels[0][1:], labels[1][1:].upper()
        service_labels = labels[2:]
    if len(service_labels) != 3 or service_labels[2] != "svc":
        # Parents of real names (svc.cluster.local, ns.svc.cluster.local) exist but hold no records.
        exists = labels in ([], ["svc"]) or (len(labels) == 2 and labels[1] == "svc")
        return Answer(RCODE.NOERROR if exists else RCODE.NXDOMAIN, [])
    service_name, namespace = service_labels[0], service_labels[1]

    def find(state):
        return state.get("Service", namespace, service_name), state.get("Endpoints", namespace, service_name)

    service, endpoints = read(find)
    if service is None:
        return Answer(RCODE.NXDOMAIN, [])
    spec = service.get("spec") or {}
    fqdn = f"{service_name}.{namespace}.svc.{DOMAIN}."
    if port_name is not None:
        ports = [p for p in spec.get("ports") or () if p.get("name") == port_name
                 and p.get("protocol", "TCP") == protocol]
        if not ports:
            return Answer(RCODE.NXDOMAIN, [])
        if qtype not in ("SRV", "ANY"):
            return Answer(RCODE.NOERROR, [])
        return Answer(RCODE.NOERROR, [RR(qname, QTYPE.SRV, ttl=TTL, rdata=SRV(0, 100, p["port"], fqdn)) for p in ports])
    if qtype not in ("A", "ANY"):
        return Answer(RCODE.NOERROR, [])
    cluster_ip = spec.get("clusterIP")
    if cluster_ip and cluster_ip != "None":
        ips = [cluster_ip]
    else:
        ips = sorted({a["ip"] for subset in (endpoints or {}).get("subsets") or ()
                      for a in subset.get("addresses") or ()}, key=lambda ip: ipaddress.IPv4Address(ip))
    return Answer(RCODE.NOERROR, [RR(qname, QTYPE.A, ttl=TTL, rdata=A(ip)) for ip in ips])


class ClusterResolver(BaseResolver):
    def __init__(self, read: Callable, upstreams: list[str], port: int = 53):
        self.read = read
        self.upstreams = upstreams
        self.port = port  # the upstreams' port (53; tests point it at a loopback server)

    def resolve(self, request: DNSRecord, handler) -> DNSRecord:
        reply = request.reply()
        question = request.q
        answer = lookup(self.read, str(question.qname), QTYPE[question.qtype])
        if answer is None:
            return self._forward(request, handler)
        reply.header.rcode = answer.rcode
        for record in answer.records:
            reply.add_answer(record)
        if not answer.records:
            reply.add_auth(RR(DOMAIN + ".", QTYPE.SOA, ttl=TTL, rdata=SOA(
                f"ns.dns.{DOMAIN}.", f"hostmaster.{DOMAIN}.", (1, 7200, 1800, 86400, TTL))))
        return reply

    def _forward(self, request: DNSRecord, handler) -> DNSRecord:
        tcp = getattr(handler, "protocol", "udp") == "tcp"
        for upstream in self.upstreams:
            try:
                return DNSRecord.parse(request.send(upstream, self.port, tcp=tcp, timeout=FORWARD_TIMEOUT))
            except Exception as exc:  # a dead upstream: try the next one
                logger.info("DNS upstream %s failed: %s", upstream, exc)
        reply = request.reply()
        reply.header.rcode = RCODE.REFUSED if not self.upstreams else RCODE.SERVFAIL
        return reply


class _QuietLogger(DNSLogger):
    def __init__(self):
        super().__init__(log="-request,-reply,-truncated,-data,-recv,-send", prefix=False)


class ClusterDNS:
    """UDP and TCP DNS servers on `address:port`, answering from `read`."""

    def __init__(self, read: Callable, address: str, port: int = 53, upstreams: list[str] | None = None):
        # Never forward to ourselves: a resolv.conf naming this master would loop.
        resolver = ClusterResolver(read, [u for u in upstreams or () if u != address])
        self.servers = [DNSServer(resolver, address=address, port=port, tcp=tcp, logger=_QuietLogger())
                        for tcp in (False, True)]

    def start(self) -> None:
        for server in self.servers:
            server.start_thread()

    def stop(self) -> None:
        for server in self.servers:
            server.stop()
            server.server.server_close()


def dns_upstreams(host_vars: dict) -> list[str]:
    """`raftkube_dns_upstream` (comma-separated, `none` for none), else the host's resolvers;
    lab hosts get none by default: their queries must never leave the lab."""
    configured = host_vars.get("raftkube_dns_upstream")
    if configured is not None:
        return [] if str(configured).strip().lower() in ("", "none") else [
            part.strip() for part in str(configured).split(",") if part.strip()]
    if host_vars.get("raftkube_lab"):
        return []
    return upstreams_from_resolv_conf()

