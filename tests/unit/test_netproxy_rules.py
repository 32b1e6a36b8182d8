"""The service rules: services and endpoints in, exactly these nftables expressions out."""

import struct

from raftkube.netproxy import netlink, render, rules
from raftkube.netproxy.rules import ServicePort

CLUSTER, SERVICES, NODE = "10.244.0.0/16", "10.96.0.0/12", "10.213.5.101"


def service(name, cluster_ip, ports, type_="ClusterIP", namespace="default"):
    return {"kind": "Service", "metadata": {"name": name, "namespace": namespace},
            "spec": {"clusterIP": cluster_ip, "type": type_, "ports": ports}}


def endpoints(name, ready, ports, not_ready=(), namespace="default"):
    subset = {"addresses": [{"ip": ip} for ip in ready], "ports": ports}
    if not_ready:
        subset["notReadyAddresses"] = [{"ip": ip} for ip in not_ready]
    return {"kind": "Endpoints", "metadata": {"name": name, "namespace": namespace}, "subsets": [subset]}


WEB = ServicePort("default", "web", "http", "tcp", "10.96.0.16", 80, 30080,
                  (("10.244.1.2", 8080), ("10.244.2.2", 8080)))
EMPTY = ServicePort("default", "empty", "", "udp", "10.96.0.17", 53)


def test_service_ports_from_objects():
    services = [service("web", "10.96.0.16", [{"name": "http", "port": 80, "protocol": "TCP", "nodePort": 30080}],
                        "NodePort"),
                service("empty", "10.96.0.17", [{"port": 53, "protocol": "UDP"}]),
                service("headless", "None", [{"port": 80, "protocol": "TCP"}])]
    eps = [endpoints("web", ["10.244.2.2", "10.244.1.2"], [{"name": "http", "port": 8080, "protocol": "TCP"}],
                     not_ready=["10.244.3.3"]),
           endpoints("headless", ["10.244.1.9"], [{"port": 80, "protocol": "TCP"}])]
    assert rules.service_ports(services, eps) == [EMPTY, WEB]


def test_ruleset_golden():
    table = rules.ruleset([WEB, EMPTY], NODE, CLUSTER, SERVICES)
    chains = table["chains"]
    assert chains["nat-postrouting"] == {"base": ["nat", "postrouting", 100], "rules": [
        [["mark_test", 0x4000], ["masquerade"]],
        [["match", "saddr", "eq", CLUSTER], ["match", "daddr", "ne", CLUSTER], ["match", "daddr", "ne", SERVICES],
         ["masquerade"]]]}
    assert chains["svc-default/web/tcp/http"]["rules"] == [[["numgen", [
        "ep-default/web/tcp/http/10.244.1.2:8080", "ep-default/web/tcp/http/10.244.2.2:8080"]]]]
    assert chains["ep-default/web/tcp/http/10.244.1.2:8080"]["rules"] == [
        [["match", "saddr", "eq", "10.244.1.2"], ["jump", "mark-for-masquerade"]],
        [["l4proto", "tcp"], ["dnat", "10.244.1.2", 8080]]]
    assert chains["ext-default/web/tcp/http"]["rules"] == [[["jump", "mark-for-masquerade"]],
                                                           [["goto", "svc-default/web/tcp/http"]]]
    assert table["maps"] == {
        "service_ips": [["10.213.5.101", "tcp", 30080, "ext-default/web/tcp/http"],
                        ["10.96.0.16", "tcp", 80, "svc-default/web/tcp/http"]],
        "no_endpoints": [["10.96.0.17", "udp", 53, "reject-chain"]],
    }
    assert not any(name.startswith(("svc-default/empty", "ep-default/empty")) for name in chains)


def expr(name, *data):
    return {"attrs": [("NFTA_EXPR_NAME", name), ("NFTA_EXPR_DATA", {"attrs": list(data)})]}


def value(data):
    return {"attrs": [("NFTA_DATA_VALUE", data)]}


def rules_of(messages, chain):
    return [dict(attrs)["NFTA_RULE_EXPRESSIONS"] for kind, attrs in messages
            if kind == "NEWRULE" and dict(attrs)["NFTA_RULE_CHAIN"] == chain]


def test_expressions_golden():
    """The encodings `nft -f` itself produces for the same rules (dumped from the kernel)."""
    messages = netlink.batch(None, rules.ruleset([WEB, EMPTY], NODE, CLUSTER, SERVICES))
    hairpin, dnat = rules_of(messages, "ep-default/web/tcp/http/10.244.1.2:8080")
    assert hairpin == [
        expr("payload", ("NFTA_PAYLOAD_DREG", 1), ("NFTA_PAYLOAD_BASE", 1), ("NFTA_PAYLOAD_OFFSET", 12),
             ("NFTA_PAYLOAD_LEN", 4)),
        expr("cmp", ("NFTA_CMP_SREG", 1), ("NFTA_CMP_OP", 0), ("NFTA_CMP_DATA", value(b"\n\xf4\x01\x02"))),
        expr("immediate", ("NFTA_IMMEDIATE_DREG", 0), ("NFTA_IMMEDIATE_DATA", {"attrs": [("NFTA_DATA_VERDICT", {
            "attrs": [("NFTA_VERDICT_CODE", -3), ("NFTA_VERDICT_CHAIN", "mark-for-masquerade")]})]})),
    ]
    assert dnat == [
        expr("meta", ("NFTA_META_DREG", 1), ("NFTA_META_KEY", 16)),
        expr("cmp", ("NFTA_CMP_SREG", 1), ("NFTA_CMP_OP", 0), ("NFTA_CMP_DATA", value(b"\x06"))),
        expr("immediate", ("NFTA_IMMEDIATE_DREG", 1), ("NFTA_IMMEDIATE_DATA", value(b"\n\xf4\x01\x02"))),
        expr("immediate", ("NFTA_IMMEDIATE_DREG", 2), ("NFTA_IMMEDIATE_DATA", value(b"\x1f\x90"))),
        expr("nat", ("NFTA_NAT_TYPE", 1), ("NFTA_NAT_FAMILY", 2), ("NFTA_NAT_REG_ADDR_MIN", 1),
             ("NFTA_NAT_REG_ADDR_MAX", 1), ("NFTA_NAT_REG_PROTO_MIN", 2), ("NFTA_NAT_REG_PROTO_MAX", 2),
             ("NFTA_NAT_FLAGS", {"NF_NAT_RANGE_MAP_IPS", "NF_NAT_RANGE_PROTO_SPECIFIED"})),
    ]
    [lookup] = rules_of(messages, "services")
    assert lookup == [
        expr("payload", ("NFTA_PAYLOAD_DREG", 1), ("NFTA_PAYLOAD_BASE", 1), ("NFTA_PAYLOAD_OFFSET", 16),
             ("NFTA_PAYLOAD_LEN", 4)),
        expr("meta", ("NFTA_META_DREG", 9), ("NFTA_META_KEY", 16)),
        expr("payload", ("NFTA_PAYLOAD_DREG", 10), ("NFTA_PAYLOAD_BASE", 2), ("NFTA_PAYLOAD_OFFSET", 2),
             ("NFTA_PAYLOAD_LEN", 2)),
        expr("lookup", ("NFTA_LOOKUP_SET", "service_ips"), ("NFTA_LOOKUP_SREG", 1), ("NFTA_LOOKUP_DREG", 0)),
    ]
    [numgen] = rules_of(messages, "svc-default/web/tcp/http")
    assert numgen[0] == expr("numgen", ("NFTA_NG_DREG", 1), ("NFTA_NG_MODULUS", 2), ("NFTA_NG_TYPE", 0),
                             ("NFTA_NG_OFFSET", 0))
    assert numgen[1]["attrs"][1][1]["attrs"][0] == ("NFTA_LOOKUP_SET", "__map%d")
    mark_test, masquerade = rules_of(messages, "nat-postrouting")[0][:3], rules_of(messages, "nat-postrouting")[0][3]
    assert mark_test[1] == expr("bitwise", ("NFTA_BITWISE_SREG", 1), ("NFTA_BITWISE_DREG", 1), ("NFTA_BITWISE_LEN", 4),
                                ("NFTA_BITWISE_MASK", value(struct.pack("=I", 0x4000))),
                                ("NFTA_BITWISE_XOR", value(bytes(4))))
    assert masquerade == {"attrs": [("NFTA_EXPR_NAME", "masq")]}


def test_full_table_is_one_replacing_transaction():
    messages = netlink.batch(None, rules.ruleset([WEB, EMPTY], NODE, CLUSTER, SERVICES))
    kinds = [kind for kind, _ in messages]
    assert kinds[:5] == ["NEWTABLE", "DELTABLE", "NEWTABLE", "NEWSET", "NEWSET"]
    assert "DELRULE" not in kinds and "DELCHAIN" not in kinds
    elements = [attrs for kind, attrs in messages if kind == "NEWSETELEM" and dict(attrs)["NFTA_SET_ELEM_LIST_SET"] == "service_ips"]
    assert len(elements) == 1
    keys = [e["attrs"][0][1]["attrs"][0][1] for e in dict(elements[0])["NFTA_SET_ELEM_LIST_ELEMENTS"]]
    assert keys == [netlink.service_key("10.213.5.101", "tcp", 30080), netlink.service_key("10.96.0.16", "tcp", 80)]
    assert netlink.service_key("10.96.0.16", "tcp", 80) == b"\n`\x00\x10\x06\x00\x00\x00\x00P\x00\x00"


def test_a_change_touches_only_what_changed():
    old = rules.ruleset([WEB, EMPTY], NODE, CLUSTER, SERVICES)
    assert netlink.batch(old, old) == []
    moved = ServicePort(**{**WEB.__dict__, "endpoints": (("10.244.1.2", 8080), ("10.244.3.7", 8080))})
    new = rules.ruleset([moved, EMPTY], NODE, CLUSTER, SERVICES)
    messages = netlink.batch(old, new)
    touched = [(kind, dict(attrs).get("NFTA_RULE_CHAIN") or dict(attrs).get("NFTA_CHAIN_NAME")
                or dict(attrs).get("NFTA_SET_NAME")) for kind, attrs in messages]
    assert touched == [
        ("NEWCHAIN", "ep-default/web/tcp/http/10.244.3.7:8080"),
        ("NEWRULE", "ep-default/web/tcp/http/10.244.3.7:8080"),
        ("NEWRULE", "ep-default/web/tcp/http/10.244.3.7:8080"),
        ("DELRULE", "svc-default/web/tcp/http"),
        ("NEWSET", "__map%d"), ("NEWSETELEM", None), ("NEWRULE", "svc-default/web/tcp/http"),
        ("DELRULE", "ep-default/web/tcp/http/10.244.2.2:8080"),
        ("DELCHAIN", "ep-default/web/tcp/http/10.244.2.2:8080"),
    ]


def test_last_endpoint_gone_moves_the_service_to_reject():
    old = rules.ruleset([WEB], NODE, CLUSTER, SERVICES)
    gone = ServicePort(**{**WEB.__dict__, "endpoints": ()})
    messages = netlink.batch(old, rules.ruleset([gone], NODE, CLUSTER, SERVICES))
    kinds = [(kind, dict(attrs).get("NFTA_SET_ELEM_LIST_SET")) for kind, attrs in messages if "SETELEM" in kind]
    assert kinds == [("DELSETELEM", "service_ips"), ("NEWSETELEM", "no_endpoints")]
    deleted = {dict(attrs)["NFTA_CHAIN_NAME"] for kind, attrs in messages if kind == "DELCHAIN"}
    assert deleted == {"svc-default/web/tcp/http", "ext-default/web/tcp/http",
                       "ep-default/web/tcp/http/10.244.1.2:8080", "ep-default/web/tcp/http/10.244.2.2:8080"}


LISTING = """table ip raftkube {
	map service_ips {
		type ipv4_addr . inet_proto . inet_service : verdict
		elements = { 10.96.0.16 . tcp . 80 : goto svc-default/web/tcp/http,
			     10.213.5.101 . tcp . 30080 : goto ext-default/web/tcp/http }
	}

	map no_endpoints {
		type ipv4_addr . inet_proto . inet_service : verdict
	}

	chain nat-prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		jump services
	}

	chain reject-chain {
		reject with tcp reset
		reject
	}

	chain svc-default/web/tcp/http {
		numgen inc mod 2 vmap { 0 : goto ep-default/web/tcp/http/10.244.1.2:8080, 1 : goto ep-default/web/tcp/http/10.244.2.2:8080 }
	}
}
"""


def test_listing_is_read_back_as_rendered():
    table = rules.ruleset([WEB], NODE, CLUSTER, SERVICES)
    wanted = render.render(table)
    got = render.parse_listing(LISTING)
    assert got["maps"] == {"service_ips": wanted["maps"]["service_ips"], "no_endpoints": set()}
    for name in ("nat-prerouting", "reject-chain", "svc-default/web/tcp/http"):
        assert got["chains"][name] == wanted["chains"][name]
