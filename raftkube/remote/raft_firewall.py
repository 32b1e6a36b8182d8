"""The Raft port firewall on each master: only the other masters may connect.

Whoever completes pysyncobj's handshake can run code on a master (its frames are
pickles), and the Raft secret is the only lock; so each master also keeps everyone but
the masters away from its Raft port, with an nftables table of its own
(`inet raftkube_raft`), replaced whole in one `nft -f` transaction each time setup runs.
Masters need the `nft` command (Debian/Ubuntu: the nftables package).
"""

from __future__ import annotations

import ipaddress
import socket

import fabric

from raftkube.errors import UserError
from raftkube.remote.inventory import Host, Inventory
from raftkube.remote.ssh import RemoteCommandFailed, feed, run

TABLE = "raftkube_raft"


class FirewallError(UserError):
    """The Raft port firewall could not be installed on a master."""


def ruleset(raft_port: int, masters: list[str]) -> str:
    """The `nft -f` script: the table, replaced whole, accepting `raft_port` only from
    loopback and the masters' addresses (IPv4 or IPv6 literals)."""
    v4 = sorted({a for a in masters if ipaddress.ip_address(a).version == 4}, key=ipaddress.ip_address)
    v6 = sorted({a for a in masters if ipaddress.ip_address(a).version == 6}, key=ipaddress.ip_address)
    rules = [f'tcp dport {raft_port} iifname "lo" accept']
    if v4:
        rules.append(f"tcp dport {raft_port} ip saddr {{ {', '.join(v4)} }} accept")
    if v6:
        rules.append(f"tcp dport {raft_port} ip6 saddr {{ {', '.join(v6)} }} accept")
    rules.append(f"tcp dport {raft_port} reject with tcp reset")
    body = "\n".join(f"        {rule}" for rule in rules)
    # Declaring the table first makes the delete valid on a host that never had it.
    return f"""table inet {TABLE}
delete table inet {TABLE}
table inet {TABLE} {{
    chain input {{
        type filter hook input priority -10; policy accept;
{body}
    }}
}}
"""


def master_addresses(inventory: Inventory) -> list[str]:
    """Every master's address as an IP literal (names resolved here, as setup sees them)."""
    addresses = []
    for master in inventory.masters:
        try:
            ipaddress.ip_address(master.address)
            addresses.append(master.address)
        except ValueError:
            try:
                infos = socket.getaddrinfo(master.address, None, proto=socket.IPPROTO_TCP)
            except socket.gaierror as exc:
                raise FirewallError(f"master {master.name}: cannot resolve {master.address}: {exc.strerror}") from None
            addresses.extend(sorted({info[4][0] for info in infos}))
    return addresses


def host_addresses(conn: fabric.Connection) -> list[str]:
    """Every address a master has (`hostname -I`): a host with several interfaces may
    reach the other masters from one that is not its inventory address."""
    try:
        words = run(conn, ["hostname", "-I"], check=False, timeout=10).stdout.split()
    except RemoteCommandFailed:
        return []
    addresses = []
    for word in words:
        try:
            addresses.append(str(ipaddress.ip_address(word)))
        except ValueError:
            continue
    return addresses


def install(conn: fabric.Connection, host: Host, allowed: list[str]) -> None:
    """Replace the host's Raft port table: `allowed` (IP literals) and loopback only."""
    script = ruleset(host.raft_port, allowed)
    try:
        feed(conn, ["nft", "-f", "-"], [script.encode()], timeout=30)
    except RemoteCommandFailed as exc:
        raise FirewallError(f"host {host.name}: cannot install the Raft port firewall with nft ({exc}); "
                            "masters need nftables (the `nft` command)") from None
