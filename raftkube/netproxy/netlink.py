"""A ruleset change as nftables netlink messages: pure, so the exact bytes can be tested.

`batch(old, new)` returns the messages of one transaction (the caller wraps them in
BATCH_BEGIN/END, so packets never see half a table) that turn the table `old` (None:
unknown, e.g. a new helper process) into `new`, touching only what changed: chains
whose rules differ are flushed and refilled, map elements are added and deleted one
by one, chains nothing needs any more are deleted last. From None it replaces the
whole table (add, delete, add: the add makes the delete safe when there is none).

A message is `(type, attrs)` with pyroute2's attribute names; `type` is one of
NEWTABLE, DELTABLE, NEWCHAIN, DELCHAIN, NEWRULE, DELRULE, NEWSET, NEWSETELEM,
DELSETELEM. Expressions follow what `nft` itself sends for the same rule (checked in
the lab against `nft list ruleset`).
"""

from __future__ import annotations

import ipaddress
import socket
import struct
import sys

from raftkube.netproxy.rules import PROTOCOLS, TABLE

# nftables' ABI numbers (linux/netfilter/nf_tables.h).
HOOKS = {"prerouting": 0, "input": 1, "forward": 2, "output": 3, "postrouting": 4}
REG_VERDICT, REG_1, REG_2 = 0, 1, 2
REG32_01, REG32_02 = 9, 10  # the 32-bit views after REG_1's first word
CMP_EQ, CMP_NEQ = 0, 1
META_MARK, META_L4PROTO = 3, 16
PAYLOAD_NETWORK, PAYLOAD_TRANSPORT = 1, 2
VERDICT_JUMP, VERDICT_GOTO = -3, -4
NAT_DNAT = 1
NG_INCREMENTAL = 0
REJECT_ICMP_UNREACH, REJECT_TCP_RST = 0, 1
ICMP_PORT_UNREACH = 3
NFPROTO_IPV4 = 2
DATA_VERDICT = 0xFFFFFF00
# Set key types (nft's datatype ids); a concatenation packs them 6 bits apart.
TYPE_INTEGER, TYPE_IPADDR, TYPE_INET_PROTO, TYPE_INET_SERVICE = 4, 7, 12, 13
SERVICE_KEY_TYPE = (TYPE_IPADDR << 12) | (TYPE_INET_PROTO << 6) | TYPE_INET_SERVICE
SERVICE_KEY_LEN = 12  # each part padded to a 32-bit register
# nft records how to print a map's keys in the set's userdata; numgen values are host order.
_HOST_ORDER = struct.pack("=I", 1 if sys.byteorder == "little" else 2)
_BIG_ENDIAN = struct.pack("=I", 2)

Message = tuple[str, list]


def batch(old: dict | None, new: dict) -> list[Message]:
    """The messages of one transaction turning table `old` into `new`."""
    ids = _Ids()
    messages: list[Message] = []
    table = [("NFTA_TABLE_NAME", TABLE)]
    if old is None:
        messages += [("NEWTABLE", table), ("DELTABLE", table), ("NEWTABLE", table)]
        for name in new["maps"]:
            messages.append(("NEWSET", _service_map(name, ids.next())))
        old = {"chains": {}, "maps": {name: [] for name in new["maps"]}}
    old_chains, new_chains = old["chains"], new["chains"]
    for name, chain in new_chains.items():
        if name not in old_chains:
            messages.append(("NEWCHAIN", _chain(name, chain["base"])))
    for name, chain in new_chains.items():
        before = old_chains.get(name)
        if before is not None and before["rules"] == chain["rules"]:
            continue
        if before is not None:
            messages.append(("DELRULE", _in_chain(name)))  # no handle: flush the chain
        for rule in chain["rules"]:
            messages += _rule(name, rule, ids)
    for name, elements in new["maps"].items():
        before = {tuple(e[:3]): e[3] for e in old["maps"].get(name, [])}
        after = {tuple(e[:3]): e[3] for e in elements}
        gone = [key for key, chain in before.items() if after.get(key) != chain]
        added = [(key, chain) for key, chain in after.items() if before.get(key) != chain]
        if gone:
            messages.append(("DELSETELEM", _elements(name, [(key, None) for key in sorted(gone)])))
        if added:
            messages.append(("NEWSETELEM", _elements(name, sorted(added))))
    for name in old_chains:
        if name not in new_chains:
            messages += [("DELRULE", _in_chain(name)), ("DELCHAIN", _in_chain(name, key="NFTA_CHAIN"))]
    return messages


class _Ids:
    """Ids naming sets created in this batch (their kernel names are not known yet)."""

    def __init__(self) -> None:
        self._last = 0

    def next(self) -> int:
        self._last += 1
        return self._last


def _chain(name: str, base: list | None) -> list:
    attrs = [("NFTA_CHAIN_TABLE", TABLE), ("NFTA_CHAIN_NAME", name)]
    if base:
        chain_type, hook, priority = base
        attrs += [
            ("NFTA_CHAIN_HOOK", {"attrs": [("NFTA_HOOK_HOOKNUM", HOOKS[hook]), ("NFTA_HOOK_PRIORITY", priority)]}),
            ("NFTA_CHAIN_POLICY", 1),  # accept
            ("NFTA_CHAIN_TYPE", chain_type),
        ]
    return attrs


def _in_chain(name: str, key: str = "NFTA_RULE") -> list:
    return [(f"{key}_TABLE", TABLE), (f"{key}_{'NAME' if key == 'NFTA_CHAIN' else 'CHAIN'}", name)]


def _service_map(name: str, set_id: int) -> list:
    return [
        ("NFTA_SET_TABLE", TABLE),
        ("NFTA_SET_NAME", name),
        ("NFTA_SET_FLAGS", {"NFT_SET_MAP"}),
        ("NFTA_SET_KEY_TYPE", SERVICE_KEY_TYPE),
        ("NFTA_SET_KEY_LEN", SERVICE_KEY_LEN),
        ("NFTA_SET_DATA_TYPE", DATA_VERDICT),
        ("NFTA_SET_DATA_LEN", 16),
        ("NFTA_SET_ID", set_id),
        ("NFTA_SET_USERDATA", [("NFTNL_UDATA_SET_KEYBYTEORDER", _BIG_ENDIAN)]),
    ]


def service_key(ip: str, protocol: str, port: int) -> bytes:
    """A `service_ips` key: address, protocol and port, each in a 32-bit register."""
    return socket.inet_aton(ip) + struct.pack("B3x", PROTOCOLS[protocol]) + struct.pack(">H2x", port)


def _elements(name: str, items: list) -> list:
    elements = []
    for key, chain in items:
        attrs = [("NFTA_SET_ELEM_KEY", {"attrs": [("NFTA_DATA_VALUE", service_key(*key))]})]
        if chain is not None:
            attrs.append(("NFTA_SET_ELEM_DATA", {"attrs": [("NFTA_DATA_VERDICT", _verdict(VERDICT_GOTO, chain))]}))
        elements.append({"attrs": attrs})
    return [("NFTA_SET_ELEM_LIST_TABLE", TABLE), ("NFTA_SET_ELEM_LIST_SET", name),
            ("NFTA_SET_ELEM_LIST_ELEMENTS", elements)]


def _verdict(code: int, chain: str) -> dict:
    return {"attrs": [("NFTA_VERDICT_CODE", code), ("NFTA_VERDICT_CHAIN", chain)]}


def _rule(chain: str, rule: list, ids: _Ids) -> list[Message]:
    """The messages for one rule: an anonymous map first when the rule needs one."""
    messages, expressions = [], []
    for statement in rule:
        if statement[0] == "numgen":
            set_id = ids.next()
            messages += _numgen_map(statement[1], set_id)
            expressions += [
                _expr("numgen", [("NFTA_NG_DREG", REG_1), ("NFTA_NG_MODULUS", len(statement[1])),
                                 ("NFTA_NG_TYPE", NG_INCREMENTAL), ("NFTA_NG_OFFSET", 0)]),
                _expr("lookup", [("NFTA_LOOKUP_SET", "__map%d"), ("NFTA_LOOKUP_SREG", REG_1),
                                 ("NFTA_LOOKUP_DREG", REG_VERDICT), ("NFTA_LOOKUP_SET_ID", set_id)]),
            ]
        else:
            expressions += _STATEMENTS[statement[0]](*statement[1:])
    attrs = [("NFTA_RULE_TABLE", TABLE), ("NFTA_RULE_CHAIN", chain), ("NFTA_RULE_EXPRESSIONS", expressions)]
    return messages + [("NEWRULE", attrs)]


def _numgen_map(chains: list[str], set_id: int) -> list[Message]:
    """`{ 0 : goto a, 1 : goto b }`: an anonymous constant map that lives with its rule."""
    new_set = [
        ("NFTA_SET_TABLE", TABLE),
        ("NFTA_SET_NAME", "__map%d"),
        ("NFTA_SET_FLAGS", {"NFT_SET_ANONYMOUS", "NFT_SET_CONSTANT", "NFT_SET_MAP"}),
        ("NFTA_SET_KEY_TYPE", TYPE_INTEGER),
        ("NFTA_SET_KEY_LEN", 4),
        ("NFTA_SET_DATA_TYPE", DATA_VERDICT),
        ("NFTA_SET_DATA_LEN", 16),
        ("NFTA_SET_ID", set_id),
        ("NFTA_SET_USERDATA", [("NFTNL_UDATA_SET_KEYBYTEORDER", _HOST_ORDER)]),
        ("NFTA_SET_DESC", {"attrs": [("NFTA_SET_DESC_SIZE", len(chains))]}),
    ]
    elements = [
        {"attrs": [("NFTA_SET_ELEM_KEY", {"attrs": [("NFTA_DATA_VALUE", struct.pack("=I", index))]}),
                   ("NFTA_SET_ELEM_DATA", {"attrs": [("NFTA_DATA_VERDICT", _verdict(VERDICT_GOTO, chain))]})]}
        for index, chain in enumerate(chains)
    ]
    add = [("NFTA_SET_ELEM_LIST_TABLE", TABLE), ("NFTA_SET_ELEM_LIST_SET", "__map%d"),
           ("NFTA_SET_ELEM_LIST_ELEMENTS", elements), ("NFTA_SET_ELEM_LIST_SET_ID", set_id)]
    return [("NEWSET", new_set), ("NEWSETELEM", add)]


def _expr(name: str, data: list) -> dict:
    attrs = [("NFTA_EXPR_NAME", name)]
    if data:
        attrs.append(("NFTA_EXPR_DATA", {"attrs": data}))
    return {"attrs": attrs}


def _value(data: bytes) -> dict:
    return {"attrs": [("NFTA_DATA_VALUE", data)]}


def _match(field: str, op: str, address: str) -> list[dict]:
    network = ipaddress.IPv4Network(address)
    expressions = [_expr("payload", [("NFTA_PAYLOAD_DREG", REG_1), ("NFTA_PAYLOAD_BASE", PAYLOAD_NETWORK),
                                     ("NFTA_PAYLOAD_OFFSET", 12 if field == "saddr" else 16),
                                     ("NFTA_PAYLOAD_LEN", 4)])]
    if network.prefixlen < 32:
        expressions.append(_expr("bitwise", [("NFTA_BITWISE_SREG", REG_1), ("NFTA_BITWISE_DREG", REG_1),
                                             ("NFTA_BITWISE_LEN", 4),
                                             ("NFTA_BITWISE_MASK", _value(network.netmask.packed)),
                                             ("NFTA_BITWISE_XOR", _value(bytes(4)))]))
    expressions.append(_cmp(CMP_EQ if op == "eq" else CMP_NEQ, network.network_address.packed))
    return expressions


def _cmp(op: int, data: bytes) -> dict:
    return _expr("cmp", [("NFTA_CMP_SREG", REG_1), ("NFTA_CMP_OP", op), ("NFTA_CMP_DATA", _value(data))])


def _l4proto(protocol: str) -> list[dict]:
    return [_expr("meta", [("NFTA_META_DREG", REG_1), ("NFTA_META_KEY", META_L4PROTO)]),
            _cmp(CMP_EQ, bytes([PROTOCOLS[protocol]]))]


def _lookup(map_name: str) -> list[dict]:
    return [
        _expr("payload", [("NFTA_PAYLOAD_DREG", REG_1), ("NFTA_PAYLOAD_BASE", PAYLOAD_NETWORK),
                          ("NFTA_PAYLOAD_OFFSET", 16), ("NFTA_PAYLOAD_LEN", 4)]),
        _expr("meta", [("NFTA_META_DREG", REG32_01), ("NFTA_META_KEY", META_L4PROTO)]),
        _expr("payload", [("NFTA_PAYLOAD_DREG", REG32_02), ("NFTA_PAYLOAD_BASE", PAYLOAD_TRANSPORT),
                          ("NFTA_PAYLOAD_OFFSET", 2), ("NFTA_PAYLOAD_LEN", 2)]),
        _expr("lookup", [("NFTA_LOOKUP_SET", map_name), ("NFTA_LOOKUP_SREG", REG_1),
                         ("NFTA_LOOKUP_DREG", REG_VERDICT)]),
    ]


def _mark_set(bits: int) -> list[dict]:
    return [
        _expr("meta", [("NFTA_META_DREG", REG_1), ("NFTA_META_KEY", META_MARK)]),
        _expr("bitwise", [("NFTA_BITWISE_SREG", REG_1), ("NFTA_BITWISE_DREG", REG_1), ("NFTA_BITWISE_LEN", 4),
                          ("NFTA_BITWISE_MASK", _value(struct.pack("=I", 0xFFFFFFFF & ~bits))),
                          ("NFTA_BITWISE_XOR", _value(struct.pack("=I", bits)))]),
        _expr("meta", [("NFTA_META_KEY", META_MARK), ("NFTA_META_SREG", REG_1)]),
    ]


def _mark_test(bits: int) -> list[dict]:
    return [
        _expr("meta", [("NFTA_META_DREG", REG_1), ("NFTA_META_KEY", META_MARK)]),
        _expr("bitwise", [("NFTA_BITWISE_SREG", REG_1), ("NFTA_BITWISE_DREG", REG_1), ("NFTA_BITWISE_LEN", 4),
                          ("NFTA_BITWISE_MASK", _value(struct.pack("=I", bits))),
                          ("NFTA_BITWISE_XOR", _value(bytes(4)))]),
        _cmp(CMP_NEQ, bytes(4)),
    ]


def _dnat(ip: str, port: int) -> list[dict]:
    return [
        _expr("immediate", [("NFTA_IMMEDIATE_DREG", REG_1), ("NFTA_IMMEDIATE_DATA", _value(socket.inet_aton(ip)))]),
        _expr("immediate", [("NFTA_IMMEDIATE_DREG", REG_2), ("NFTA_IMMEDIATE_DATA", _value(struct.pack(">H", port)))]),
        _expr("nat", [("NFTA_NAT_TYPE", NAT_DNAT), ("NFTA_NAT_FAMILY", NFPROTO_IPV4),
                      ("NFTA_NAT_REG_ADDR_MIN", REG_1), ("NFTA_NAT_REG_ADDR_MAX", REG_1),
                      ("NFTA_NAT_REG_PROTO_MIN", REG_2), ("NFTA_NAT_REG_PROTO_MAX", REG_2),
                      ("NFTA_NAT_FLAGS", {"NF_NAT_RANGE_MAP_IPS", "NF_NAT_RANGE_PROTO_SPECIFIED"})]),
    ]


def _jump(code: int):
    def statement(chain: str) -> list[dict]:
        return [_expr("immediate", [("NFTA_IMMEDIATE_DREG", REG_VERDICT),
                                    ("NFTA_IMMEDIATE_DATA", {"attrs": [("NFTA_DATA_VERDICT", _verdict(code, chain))]})])]

    return statement


_STATEMENTS = {
    "match": _match,
    "l4proto": _l4proto,
    "lookup": _lookup,
    "mark_set": _mark_set,
    "mark_test": _mark_test,
    "dnat": _dnat,
    "masquerade": lambda: [_expr("masq", [])],
    "jump": _jump(VERDICT_JUMP),
    "goto": _jump(VERDICT_GOTO),
    "reject_tcp": lambda: [_expr("reject", [("NFTA_REJECT_TYPE", REJECT_TCP_RST)])],
    "reject": lambda: [_expr("reject", [("NFTA_REJECT_TYPE", REJECT_ICMP_UNREACH),
                                        ("NFTA_REJECT_ICMP_CODE", ICMP_PORT_UNREACH)])],
}
