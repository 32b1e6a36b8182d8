"""How much the persistent helper saves: a no-op host operation, helper vs one SSH exec each.

    python bench/remote_rtt.py [-i INVENTORY] [--host NAME] [--helper-rounds 200] [--run-rounds 20]

Without -i it builds a one-node lab (`raftkube.lab.Lab`) and removes it afterwards.
Prints the median of each, then `ratio=run/helper` as the last line.
"""

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from raftkube.remote import ssh
from raftkube.remote.connection import HostConnection
from raftkube.remote.inventory import Inventory, load_inventory

def median_seconds(operation: Callable[[], object], rounds: int) -> float:
    operation()  # warm-up: connection, helper start, first-use costs are not what we measure
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        operation()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def measure(inventory: Inventory, host_name: str | None, helper_rounds: int, run_rounds: int) -> None:
    host = inventory.host(host_name) if host_name else (inventory.nodes or list(inventory.hosts.values()))[0]
    with HostConnection(host, inventory.known_hosts_path) as conn:
        # The host's own highest term: never raise it, a real leader may be using this host.
        term = conn.connect()["term"]
        helper = median_seconds(lambda: conn.call("ping", term=term), helper_rounds)
    plain = ssh.connect(host, inventory.known_hosts_path)
    try:
        run = median_seconds(lambda: ssh.run(plain, ["true"]), run_rounds)
    finally:
        plain.close()
    print(f"host={host.name}")
    print(f"helper_median_ms={helper * 1000:.3f}")
    print(f"run_median_ms={run * 1000:.3f}")
    print(f"ratio={run / helper:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-i", "--inventory", type=Path, help="use this inventory instead of building a lab")
    parser.add_argument("--host", help="inventory host to measure (default: the first node)")
    parser.add_argument("--helper-rounds", type=int, default=200)
    parser.add_argument("--run-rounds", type=int, default=20)
    args = parser.parse_args()
    if args.inventory:
        measure(load_inventory(args.inventory), args.host, args.helper_rounds, args.run_rounds)
        return
    from raftkube.lab import Lab

    lab = Lab("rttbench")
    try:
        inventory = load_inventory(lab.up(nodes=1, masters=0, setup=False, echo=lambda line: print(line, file=sys.stderr)))
        for host in inventory.hosts.values():
            ssh.connect(host, inventory.known_hosts_path, accept_new=True).close()
        measure(inventory, args.host, args.helper_rounds, args.run_rounds)
    finally:
        lab.down(quiet=True)


if __name__ == "__main__":
    main()
