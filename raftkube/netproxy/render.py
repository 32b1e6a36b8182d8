"""A ruleset as `nft list table ip raftkube` prints it, and that listing read back.

Used to check, on a real node, that the netlink messages `netproxy.netlink` sends mean
what the rules say: the kernel's table, listed by nft, must equal the rendering.
Both sides become `{"chains": {name: [header?, rule, ...]}, "maps": {name: {element}}}`.
"""

from __future__ import annotations

import re

_PRIORITY_NAMES = {("nat", "prerouting", -100): "dstnat", ("nat", "postrouting", 100): "srcnat",
                   ("filter", "input", 0): "filter", ("filter", "forward", 0): "filter",
                   ("filter", "output", 0): "filter"}


def render(ruleset: dict) -> dict:
    chains = {}
    for name, chain in ruleset["chains"].items():
        lines = []
        if chain["base"]:
            chain_type, hook, priority = chain["base"]
            shown = _PRIORITY_NAMES.get((chain_type, hook, priority), str(priority))
            lines.append(f"type {chain_type} hook {hook} priority {shown}; policy accept;")
        lines += [_rule(rule) for rule in chain["rules"]]
        chains[name] = lines
    maps = {name: {f"{ip} . {proto} . {port} : goto {chain}" for ip, proto, port, chain in elements}
            for name, elements in ruleset["maps"].items()}
    return {"chains": chains, "maps": maps}


def _rule(rule: list) -> str:
    if [s[0] for s in rule] == ["l4proto", "reject_tcp"]:
        return "reject with tcp reset"  # nft folds the protocol match into the statement
    return " ".join(_statement(*statement) for statement in rule)


def _statement(name: str, *args) -> str:
    if name == "match":
        field, op, address = args
        if address.endswith("/32"):
            address = address[:-3]
        return f"ip {field} {'!= ' if op == 'ne' else ''}{address}"
    if name == "l4proto":
        return f"meta l4proto {args[0]}"
    if name == "lookup":
        return f"ip daddr . meta l4proto . th dport vmap @{args[0]}"
    if name == "numgen":
        chains = args[0]
        pairs = ", ".join(f"{i} : goto {chain}" for i, chain in enumerate(chains))
        return f"numgen inc mod {len(chains)} vmap {{ {pairs} }}"
    if name == "mark_set":
        return f"meta mark set meta mark | 0x{args[0]:08x}"
    if name == "mark_test":
        return f"meta mark & 0x{args[0]:08x} != 0x00000000"
    if name == "dnat":
        return f"dnat to {args[0]}:{args[1]}"
    if name in ("jump", "goto"):
        return f"{name} {args[0]}"
    return {"masquerade": "masquerade", "reject": "reject", "reject_tcp": "reject with tcp reset"}[name]


def parse_listing(text: str) -> dict:
    """`nft list table ip raftkube` output in the same shape as `render`."""
    chains: dict[str, list[str]] = {}
    maps: dict[str, set[str]] = {}
    current, kind, in_elements, pending = None, None, False, ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("table "):
            continue
        header = re.match(r"^(chain|map) (\S+) \{$", line)
        if header:
            kind, current = header.groups()
            if kind == "chain":
                chains[current] = []
            else:
                maps[current] = set()
            continue
        if line == "}":
            if in_elements:
                in_elements = False
                continue
            current = None
            continue
        if kind == "chain" and current is not None:
            chains[current].append(line)
        elif kind == "map" and current is not None:
            if line.startswith("elements = {"):
                in_elements = True
                line = line[len("elements = {"):]
            if in_elements:
                pending += " " + line
                if pending.rstrip().endswith("}"):
                    in_elements = False
                    pending = pending.rstrip()[:-1]
                if not pending.rstrip().endswith(","):
                    maps[current] |= {e.strip() for e in pending.split(",") if e.strip()}
                    pending = ""
    return {"chains": chains, "maps": maps}
