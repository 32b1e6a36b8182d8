"""Ansible INI inventories: which hosts exist, how to reach them, and what they are for.

Existing Ansible and Kubespray inventories should work unchanged, so this follows
Ansible's INI plugin: `[group]`, `[group:vars]`, `[group:children]`, host ranges,
inline host variables as Python literals, `[group:vars]` values as strings, and the
precedence all < parent group < child group < host. Kubespray's `kube_control_plane`
and `kube_node` count as `masters` and `nodes`.
"""

import ast
import logging
import re
import shlex
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from raftkube.errors import UserError

log = logging.getLogger(__name__)

DEFAULT_API_PORT = 6443
DEFAULT_RAFT_PORT = 2380
DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"

GROUP_ALIASES = {"kube_control_plane": "masters", "kube_node": "nodes"}


class InventoryError(UserError):
    """The inventory file is missing or malformed; the message names file and line."""


@dataclass(frozen=True)
class Host:
    """One machine of the inventory, with every variable already merged."""

    name: str
    address: str
    port: int
    user: str
    key_file: str | None
    python: str
    groups: frozenset[str]
    vars: dict = field(hash=False)
    api_port: int = DEFAULT_API_PORT
    raft_port: int = DEFAULT_RAFT_PORT
    docker_host: str = DEFAULT_DOCKER_HOST

    @property
    def api_netloc(self) -> str:
        """`HOST:PORT` of this master's API for a URL (an IPv6 address bracketed)."""
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{host}:{self.api_port}"

    @property
    def is_master(self) -> bool:
        return "masters" in self.groups

    @property
    def is_node(self) -> bool:
        return "nodes" in self.groups


@dataclass(frozen=True)
class Inventory:
    """A parsed inventory: hosts in file order, split into masters and nodes."""

    path: Path
    hosts: dict[str, Host]
    masters: list[Host]
    nodes: list[Host]
    token_path: Path
    known_hosts_path: Path
    raft_secret_path: Path

    @property
    def ca_cert_path(self) -> Path:
        """The cluster CA's certificate (what clients trust), made by `raftkube setup`."""
        return ca_cert_file(self.path)

    @property
    def ca_key_path(self) -> Path:
        return Path(f"{self.path}.ca.key")

    @property
    def kubeconfig_path(self) -> Path:
        return Path(f"{self.path}.kubeconfig")

    def master_cert_paths(self, name: str) -> tuple[Path, Path]:
        """(certificate, key) of master `name`'s serving certificate; the same layout on the master."""
        return master_cert_files(self.path, name)

    def host(self, name: str) -> Host:
        try:
            return self.hosts[name]
        except KeyError:
            raise InventoryError(f"{self.path}: no host named {name!r}") from None


def ca_cert_file(inventory_path: str | Path) -> Path:
    return Path(f"{inventory_path}.ca.crt")


def master_cert_files(inventory_path: str | Path, name: str) -> tuple[Path, Path]:
    directory = Path(f"{inventory_path}.pki")
    return directory / f"{name}.crt", directory / f"{name}.key"


@dataclass
class _Value:
    """A variable's value and the line that set it, so a bad value can be located."""

    value: Any
    line: int


@dataclass
class _Group:
    name: str
    line: int
    hosts: list[str] = field(default_factory=list)
    children: list[str] = field(default_factory=list)
    vars: dict[str, _Value] = field(default_factory=dict)


_SECTION = re.compile(r"^\[(?P<group>[^\[\]:\s]+)(?::(?P<kind>[^\[\]\s]*))?\]$")
# A host pattern, optionally followed by ":port"; colons inside [...] belong to ranges.
_HOST_PATTERN = re.compile(r"^(?P<name>(?:[^:\[\]]|\[[^\[\]]*\])+?)(?::(?P<port>\d+))?$")


def load_inventory(path: str | Path) -> Inventory:
    """Read and check an inventory file; `InventoryError("FILE:LINE: ...")` when it is bad."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise InventoryError(f"cannot read inventory {path}: {exc.strerror}") from None
    return _Parser(path).parse(text)


def expand_host_range(pattern: str) -> list[str]:
    """Expand Ansible host ranges: `node[01:03]`, `10.0.0.[1:3]`, `www[01:50:2]`, `db-[a:f]`.

    Raises ValueError with the reason when a range is malformed.
    """
    start = pattern.find("[")
    if start < 0:
        if "]" in pattern:
            raise ValueError("unmatched ']'")
        return [pattern]
    stop = pattern.find("]", start)
    if stop < 0:
        raise ValueError("unmatched '['")
    head, body, tail = pattern[:start], pattern[start + 1 : stop], pattern[stop + 1 :]
    return [head + item + rest for item in _range_items(body) for rest in expand_host_range(tail)]


def _range_items(body: str) -> list[str]:
    bounds = body.split(":")
    if len(bounds) not in (2, 3):
        raise ValueError("a range is [begin:end] or [begin:end:step]")
    begin, end = bounds[0] or "0", bounds[1]
    step_text = bounds[2] if len(bounds) == 3 else "1"
    if not end:
        raise ValueError("the range needs an end")
    if not step_text.isdigit() or int(step_text) < 1:
        raise ValueError("the step must be a positive number")
    step = int(step_text)
    if begin.isdigit() and end.isdigit():
        width = len(begin) if begin.startswith("0") and len(begin) > 1 else 0
        if width and len(end) != width:
            raise ValueError("zero-padded begin and end must have the same width")
        if int(begin) > int(end):
            raise ValueError("begin must not exceed end")
        return [str(i).zfill(width) for i in range(int(begin), int(end) + 1, step)]
    letters = string.ascii_letters
    if len(begin) == 1 and len(end) == 1 and begin in letters and end in letters:
        if letters.index(begin) > letters.index(end):
            raise ValueError("begin must not exceed end")
        return list(letters[letters.index(begin) : letters.index(end) + 1 : step])
    raise ValueError("a range is numeric or single letters")


def _literal(text: str) -> Any:
    """An inline host value as Ansible reads it: a Python literal, else the plain string."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return text


def _plain(text: str) -> str:
    """A `[group:vars]` value: always a string, minus one pair of surrounding quotes."""
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


class _Parser:
    """One pass over the lines, then group resolution and variable merging."""

    def __init__(self, path: Path):
        self.path = path
        self.groups: dict[str, _Group] = {"all": _Group("all", 0), "ungrouped": _Group("ungrouped", 0)}
        self.declared: set[str] = {"all", "ungrouped"}
        self.host_vars: dict[str, dict[str, _Value]] = {}
        self.host_port: dict[str, _Value] = {}
        # Groups named by [x:vars] or [y:children] before (or without) their own [x] section.
        self.pending: dict[str, tuple[int, str]] = {}

    def fail(self, line: int, message: str) -> InventoryError:
        return InventoryError(f"{self.path.name}:{line}: {message}")

    def group(self, name: str, line: int) -> _Group:
        if name not in self.groups:
            self.groups[name] = _Group(name, line)
        return self.groups[name]

    def parse(self, text: str) -> Inventory:
        group, kind = "ungrouped", "hosts"
        for number, raw in enumerate(text.splitlines(), start=1):
            line = raw.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("["):
                group, kind = self.section(line, number)
            elif kind == "hosts":
                self.host_line(group, line, number)
            elif kind == "vars":
                self.var_line(group, line, number)
            else:
                self.child_line(group, line, number)
        for name, (number, message) in self.pending.items():
            if name not in self.declared:
                raise self.fail(number, message)
        return self.build()

    def section(self, line: str, number: int) -> tuple[str, str]:
        match = _SECTION.match(line)
        if not match:
            raise self.fail(number, f"bad section header {line}")
        name, kind = match["group"], match["kind"] or "hosts"
        if kind not in ("hosts", "vars", "children"):
            raise self.fail(number, f"bad section [{name}:{kind}]: expected [group], [group:vars] or [group:children]")
        self.group(name, number)
        if kind == "hosts" or kind == "children":
            self.declared.add(name)
        elif name not in self.declared:
            self.pending.setdefault(name, (number, f"[{name}:vars] names a group that is never defined"))
        return name, kind

    def host_line(self, group: str, line: str, number: int) -> None:
        try:
            tokens = shlex.split(line, comments=True)
        except ValueError as exc:
            raise self.fail(number, f"cannot split host line: {exc}") from None
        if not tokens:
            return
        match = _HOST_PATTERN.match(tokens[0])
        if not match:
            raise self.fail(number, f"bad host pattern {tokens[0]!r}")
        try:
            names = expand_host_range(match["name"])
        except ValueError as exc:
            raise self.fail(number, f'bad host range "{match["name"]}": {exc}') from None
        assignments: dict[str, _Value] = {}
        for token in tokens[1:]:
            key, sep, value = token.partition("=")
            if not sep or not key:
                raise self.fail(number, f"expected key=value after the host name, got {token!r}")
            assignments[key] = _Value(_literal(value), number)
        for name in names:
            if name not in self.groups[group].hosts:
                self.groups[group].hosts.append(name)
            self.host_vars.setdefault(name, {}).update(assignments)
            if match["port"]:
                self.host_port[name] = _Value(int(match["port"]), number)

    def var_line(self, group: str, line: str, number: int) -> None:
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise self.fail(number, f"expected key=value in [{group}:vars], got {line!r}")
        self.groups[group].vars[key.strip()] = _Value(_plain(value), number)

    def child_line(self, group: str, line: str, number: int) -> None:
        child = line.split()[0]
        if not _SECTION.match(f"[{child}]"):
            raise self.fail(number, f"bad group name {child!r} in [{group}:children]")
        if child == group:
            raise self.fail(number, f"group {group!r} cannot be its own child")
        self.group(child, number)
        if child not in self.groups[group].children:
            self.groups[group].children.append(child)
        if child not in self.declared:
            self.pending.setdefault(child, (number, f"[{group}:children] names group {child!r}, which is never defined"))

    def depths(self) -> dict[str, int]:
        """Distance of each group from `all` (longest path), as Ansible orders variable merging."""
        depth: dict[str, int] = {}
        parents: dict[str, list[str]] = {name: [] for name in self.groups}
        for g in self.groups.values():
            for child in g.children:
                parents[child].append(g.name)

        def visit(name: str, trail: tuple[str, ...]) -> int:
            if name in trail:
                cycle = " -> ".join((*trail[trail.index(name):], name))
                raise self.fail(self.groups[name].line, f"groups form a cycle: {cycle}")
            if name not in depth:
                above = [visit(p, (*trail, name)) for p in parents[name] if p != "all"]
                depth[name] = 0 if name == "all" else 1 + max(above, default=0)
            return depth[name]

        for name in self.groups:
            visit(name, ())
        return depth

    def members(self) -> dict[str, set[str]]:
        """Every group each host belongs to, through children, `all` and `ungrouped` included."""
        result: dict[str, set[str]] = {}

        def descend(name: str, root: str, seen: set[str]) -> None:
            if name in seen:
                return
            seen.add(name)
            for host in self.groups[name].hosts:
                result.setdefault(host, set()).add(root)
            for child in self.groups[name].children:
                descend(child, root, seen)

        for name in self.groups:
            descend(name, name, set())
        for groups in result.values():
            groups.add("all")
            if groups - {"all", "ungrouped"}:
                groups.discard("ungrouped")
            else:
                groups.add("ungrouped")
        return result

    def build(self) -> Inventory:
        depth = self.depths()
        members = self.members()
        order = [h for g in self.groups.values() for h in g.hosts]
        hosts: dict[str, Host] = {}
        for name in dict.fromkeys(order):
            groups = members.get(name, {"all", "ungrouped"})
            merged: dict[str, _Value] = {}
            for g in sorted(groups, key=lambda g: (depth[g], g)):
                merged.update(self.groups[g].vars)
            if name in self.host_port:
                merged["ansible_port"] = self.host_port[name]
            merged.update(self.host_vars.get(name, {}))
            hosts[name] = self.make_host(name, groups, merged)
        all_vars = self.groups["all"].vars
        inventory = Inventory(
            path=self.path,
            hosts=hosts,
            masters=[h for h in hosts.values() if h.is_master],
            nodes=[h for h in hosts.values() if h.is_node],
            token_path=self.relative(all_vars.get("raftkube_token_file"), ".token"),
            known_hosts_path=self.relative(all_vars.get("raftkube_known_hosts"), ".known_hosts"),
            raft_secret_path=self.relative(all_vars.get("raftkube_raft_secret_file"), ".raft-secret"),
        )
        log.debug("inventory %s: %d masters, %d nodes", self.path, len(inventory.masters), len(inventory.nodes))
        return inventory

    def relative(self, value: _Value | None, suffix: str) -> Path:
        if value is None:
            return Path(f"{self.path}{suffix}")
        return self.path.parent / Path(str(value.value)).expanduser()

    def make_host(self, name: str, groups: set[str], merged: dict[str, _Value]) -> Host:
        def get(*keys: str) -> _Value | None:
            return next((merged[k] for k in keys if k in merged), None)

        def text(value: _Value | None, default: str) -> str:
            return default if value is None else str(value.value)

        def port(key: str, default: int) -> int:
            value = merged.get(key)
            if value is None:
                return default
            try:
                number = int(value.value)
            except (TypeError, ValueError):
                number = 0
            if not 0 < number < 65536:
                raise self.fail(value.line, f"host {name}: {key} must be a port number, got {value.value!r}")
            return number

        key_file = get("ansible_ssh_private_key_file", "ansible_private_key_file")
        aliases = {GROUP_ALIASES[g] for g in groups if g in GROUP_ALIASES}
        ssh_port = port("ansible_ssh_port", 22) if "ansible_port" not in merged else port("ansible_port", 22)
        return Host(
            name=name,
            address=text(get("ansible_host", "ansible_ssh_host"), name),
            port=ssh_port,
            user=text(get("ansible_user", "ansible_ssh_user"), "root"),
            key_file=None if key_file is None else str(self.path.parent / Path(str(key_file.value)).expanduser()),
            python=text(get("ansible_python_interpreter"), "python3"),
            groups=frozenset((groups - {"all"}) | aliases),
            vars={k: v.value for k, v in merged.items()},
            api_port=port("raftkube_api_port", DEFAULT_API_PORT),
            raft_port=port("raftkube_raft_port", DEFAULT_RAFT_PORT),
            docker_host=text(get("raftkube_docker_host"), DEFAULT_DOCKER_HOST),
        )


# Inventory-level settings: meaningless on a host line, and relative to the original file.
_INVENTORY_LEVEL = {"raftkube_token_file", "raftkube_known_hosts"}


def render_inventory(hosts: list[Host], key_files: dict[str, str] | None = None) -> str:
    """An equivalent inventory with every merged variable written inline on its host.

    What `raftkube setup` copies to the masters: self-contained (no group vars to get
    wrong), with the ssh key paths replaced by `key_files` (local path -> host path).
    Inline values are Python literals, so types survive a round trip through
    `load_inventory`.
    """
    key_files = key_files or {}
    lines = ["# Written by `raftkube setup` from the cluster's inventory; setup rewrites it.", ""]
    for group in ("masters", "nodes"):
        lines.append(f"[{group}]")
        for host in (h for h in hosts if group in h.groups):
            assigned = {k: v for k, v in host.vars.items() if k not in _INVENTORY_LEVEL}
            if host.key_file is not None:
                for key in ("ansible_ssh_private_key_file", "ansible_private_key_file"):
                    assigned.pop(key, None)
                assigned["ansible_ssh_private_key_file"] = key_files.get(host.key_file, host.key_file)
            assigned.setdefault("ansible_host", host.address)
            lines.append(" ".join([host.name, *(_assignment(k, v) for k, v in assigned.items())]))
        lines.append("")
    return "\n".join(lines)


def _assignment(key: str, value: Any) -> str:
    """`key=value` as plain as it can be while reading back as the same value and type."""
    plain = value if isinstance(value, str) else repr(value)
    token = f"{key}={plain}"
    literal = _literal(plain)
    if type(literal) is type(value) and literal == value and shlex.quote(token) == token:
        return token
    return shlex.quote(f"{key}={value!r}")
