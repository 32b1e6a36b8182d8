"""Every master answers cluster DNS from its own replica, on its own `raftkube_dns_port`
(the test masters each get a free one: never the machine's port 53)."""

from __future__ import annotations

import time

from dnslib import QTYPE, RCODE, DNSRecord


def ask(cluster, name: str, master: str, qtype: str = "A", tcp: bool = False) -> DNSRecord:
    query = DNSRecord.question(name, qtype)
    return DNSRecord.parse(query.send("127.0.0.1", cluster.dns_ports[master], tcp=tcp, timeout=5))


def test_each_master_answers_from_its_replica(module_masters):
    cluster = module_masters
    leader = cluster.leader()
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "dnsweb", "namespace": "default"},
               "spec": {"selector": {"app": "dnsweb"}, "ports": [{"name": "http", "port": 80}]}}
    code, created = cluster.request(leader, "POST", "/api/v1/namespaces/default/services", service)
    assert code == 201, created
    vip = created["spec"]["clusterIP"]
    try:
        for master in cluster.procs:
            deadline = time.monotonic() + 10
            while True:  # a follower's replica may lag a moment
                answer = ask(cluster, "dnsweb.default.svc.cluster.local", master, tcp=master == leader)
                if answer.rr or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            assert [str(rr.rdata) for rr in answer.rr] == [vip], (master, answer)
            srv = ask(cluster, "_http._tcp.dnsweb.default.svc.cluster.local", master, "SRV")
            assert [rr.rdata.port for rr in srv.rr] == [80]
            assert ask(cluster, "nothing.default.svc.cluster.local", master).header.rcode == RCODE.NXDOMAIN
    finally:
        cluster.request(leader, "DELETE", "/api/v1/namespaces/default/services/dnsweb")
