"""The lab's wire: one bridge on this machine, one veth into each host's network namespace.

Hosts get an address on the lab subnet and nothing else: no default route, so a lab
host can reach this machine's end of the bridge and the other hosts, never the world.
"""

from pyroute2 import IPRoute, netns
from pyroute2.netlink.exceptions import NetlinkError


def create_bridge(name: str, address: str, prefixlen: int) -> None:
    with IPRoute() as ipr:
        ipr.link("add", ifname=name, kind="bridge")
        index = ipr.link_lookup(ifname=name)[0]
        ipr.addr("add", index=index, address=address, prefixlen=prefixlen)
        ipr.link("set", index=index, state="up")


def delete_link(name: str) -> None:
    """Delete a link if it exists (deleting one end of a veth removes both), with the
    helper's rule for a veth the kernel frees meanwhile along with its namespace."""
    # Imported here: every lab command imports this module, few delete links.
    from raftkube.remote.helper.network import delete_link as delete_named_link

    with IPRoute() as ipr:
        delete_named_link(ipr, name)


def create_netns(name: str) -> None:
    netns.create(name)


def attach_host(bridge: str, veth: str, netns_path: str, address: str, prefixlen: int) -> None:
    """A veth from the bridge into the host's namespace, where it is `eth0` at `address`.

    A link of that name can only be a leftover (lab indexes are claimed under a lock):
    the kernel frees a deleted namespace, and the veth in it, in its own time."""
    delete_link(veth)
    with IPRoute() as ipr:
        ipr.link("add", ifname=veth, kind="veth", peer={"ifname": "eth0", "net_ns_fd": netns_path})
        index = ipr.link_lookup(ifname=veth)[0]
        ipr.link("set", index=index, master=ipr.link_lookup(ifname=bridge)[0], state="up")
    with IPRoute(netns=netns_path) as ipr:
        ipr.link("set", index=ipr.link_lookup(ifname="lo")[0], state="up")
        eth0 = ipr.link_lookup(ifname="eth0")[0]
        ipr.addr("add", index=eth0, address=address, prefixlen=prefixlen)
        ipr.link("set", index=eth0, state="up")


def set_link_state(name: str, up: bool) -> None:
    """Bring this machine's end of a host's veth up or down (partition / heal)."""
    with IPRoute() as ipr:
        found = ipr.link_lookup(ifname=name)
        if not found:
            raise NetlinkError(19, f"no link {name}")
        ipr.link("set", index=found[0], state="up" if up else "down")


def default_routes(netns_path: str) -> list[str]:
    """Every default route the namespace has (the lab promises there is none)."""
    with IPRoute(netns=netns_path) as ipr:
        return [
            str(route.get("gateway") or route.get("oif"))
            for route in ipr.route("dump", family=2)
            if route["dst_len"] == 0 and route.get("table") == 254
        ]
