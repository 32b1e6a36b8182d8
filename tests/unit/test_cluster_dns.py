"""Cluster DNS from a replica's state, over real UDP and TCP on loopback."""

import itertools

import pytest
from dnslib import QTYPE, RCODE, RR, A, DNSRecord
from dnslib.server import BaseResolver, DNSServer

from raftkube.state.commands import ClusterState
from raftkube.state.dns import ClusterDNS, dns_upstreams, upstreams_from_resolv_conf
from raftkube.state.objects import validate

_ids = itertools.count()


def create(state, obj):
    result = state.apply({"op": "create", "rid": f"r{next(_ids)}", "uid": f"u{next(_ids)}",
                          "now": "2026-01-01T00:00:00Z", "object": validate(obj)})
    assert result["ok"], result


@pytest.fixture(scope="module")
def server():
    state = ClusterState()
    create(state, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}})
    create(state, {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
                   "spec": {"ports": [{"name": "http", "port": 80}, {"name": "dns", "port": 53, "protocol": "UDP"}]}})
    create(state, {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "db"},
                   "spec": {"clusterIP": "None", "selector": {"app": "db"}}})
    create(state, {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "db"},
                   "subsets": [{"addresses": [{"ip": "10.244.2.5"}, {"ip": "10.244.1.7"}],
                                "notReadyAddresses": [{"ip": "10.244.1.9"}]}]})
    upstream = DNSServer(_Static(), address="127.0.0.1", port=0)
    upstream.start_thread()
    dns = ClusterDNS(lambda fn: fn(state), "127.0.0.1", 0, [])
    dns.start()
    yield dns, upstream
    dns.stop()
    upstream.stop()


class _Static(BaseResolver):
    def resolve(self, request, handler):
        reply = request.reply()
        reply.add_answer(RR(request.q.qname, QTYPE.A, rdata=A("192.0.2.1"), ttl=60))
        return reply


def ask(dns, name, qtype="A", tcp=False):
    address, port = dns.servers[1 if tcp else 0].server.server_address
    return DNSRecord.parse(DNSRecord.question(name, qtype).send(address, port, tcp=tcp, timeout=3))


def test_service_a_record_udp_and_tcp(server):
    dns, _ = server
    for tcp in (False, True):
        reply = ask(dns, "web.default.svc.cluster.local", tcp=tcp)
        assert reply.header.rcode == RCODE.NOERROR
        assert [str(r.rdata) for r in reply.rr] == ["10.96.0.16"]


def test_headless_service_is_its_ready_pod_ips(server):
    reply = ask(server[0], "db.default.svc.cluster.local")
    assert [str(r.rdata) for r in reply.rr] == ["10.244.1.7", "10.244.2.5"]


def test_srv_for_named_ports(server):
    reply = ask(server[0], "_dns._udp.web.default.svc.cluster.local", "SRV")
    assert [str(r.rdata) for r in reply.rr] == ["0 100 53 web.default.svc.cluster.local."]
    assert ask(server[0], "_dns._tcp.web.default.svc.cluster.local", "SRV").header.rcode == RCODE.NXDOMAIN


def test_unknown_names_in_the_cluster_domain_are_nxdomain(server):
    for name in ("nope.default.svc.cluster.local", "web.other.svc.cluster.local", "x.cluster.local"):
        reply = ask(server[0], name)
        assert reply.header.rcode == RCODE.NXDOMAIN and not reply.rr, name
    assert ask(server[0], "web.default.svc.cluster.local", "AAAA").header.rcode == RCODE.NOERROR


def test_other_names_are_refused_without_upstream_and_forwarded_with_one(server):
    dns, upstream = server
    assert ask(dns, "example.com").header.rcode == RCODE.REFUSED
    upstream_port = upstream.server.server_address[1]
    forwarding = ClusterDNS(lambda fn: None, "127.0.0.2", 0, [])
    # The test upstream on loopback: a test never sends a query beyond this machine.
    for dns_server in forwarding.servers:
        dns_server.server.resolver.upstreams, dns_server.server.resolver.port = ["127.0.0.1"], upstream_port
    forwarding.start()
    try:
        reply = ask(forwarding, "example.com")
        assert [str(r.rdata) for r in reply.rr] == ["192.0.2.1"]
    finally:
        forwarding.stop()


def test_upstreams(tmp_path):
    conf = tmp_path / "resolv.conf"
    conf.write_text("search x\nnameserver 127.0.0.53\nnameserver bogus\nnameserver ::1\n")
    assert upstreams_from_resolv_conf(str(conf)) == ["127.0.0.53", "::1"]
    assert dns_upstreams({"raftkube_lab": "l1"}) == []
    assert dns_upstreams({"raftkube_lab": "l1", "raftkube_dns_upstream": "10.213.1.5, 10.213.1.6"}) == [
        "10.213.1.5", "10.213.1.6"]
    assert dns_upstreams({"raftkube_dns_upstream": "none"}) == []
