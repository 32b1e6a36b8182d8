"""How fast a deleted backend leaves every node's service rules.

    python bench/endpoint_propagation.py [--changes 20] [--lab NAME]

Builds a lab (1 master, 3 nodes) and a Service with two steady backends. Each change
creates one more backend, waits until every node's table names it, deletes it and
times how long until the last node's table no longer names it (each node's
`nft list table ip raftkube` polled in its own thread). Prints p50 and p99 over the
changes, then `ratio=p99/0.5` last (target p99 <= 0.5 s, so ratio <= 1).
"""

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from netlab import backend, lab_cluster, service  # noqa: E402

NODES = ("node1", "node2", "node3")


def names(lab, node: str, ip: str) -> bool:
    out = lab.exec(node, ["nft", "list", "table", "ip", "raftkube"], capture_output=True, text=True).stdout
    return f"dnat to {ip}:" in out


def wait_all(lab, ip: str, present: bool, since: float | None = None, timeout: float = 60.0) -> float:
    """Seconds from `since` (default now) until every node's table names `ip` (present) or none does."""
    started = time.monotonic() if since is None else since
    done: dict[str, float] = {}

    def watch(node: str) -> None:
        while time.monotonic() - started < timeout:
            if names(lab, node, ip) == present:
                done[node] = time.monotonic() - started
                return
            time.sleep(0.005)

    threads = [threading.Thread(target=watch, args=(node,)) for node in NODES]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if len(done) != len(NODES):
        raise RuntimeError(f"{ip} still {'absent' if present else 'present'} on some node after {timeout}s")
    return max(done.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=20)
    parser.add_argument("--lab", help="use this running lab instead of building one (kept afterwards)")
    args = parser.parse_args()
    with lab_cluster("netprop", nodes=3, existing=args.lab) as cluster:
        labels = {"app": "propagation"}
        cluster.create("services", service("propagation", labels))
        for index, node in enumerate(("node1", "node2")):
            cluster.create("pods", backend(f"steady{index}", node, labels))
            cluster.wait_ready(f"steady{index}")
        samples = []
        for change in range(args.changes):
            name = f"churn{change}"
            cluster.create("pods", backend(name, NODES[change % 3], labels))
            ip = cluster.wait_ready(name)["status"]["podIP"]
            wait_all(cluster.lab, ip, present=True)
            started = time.monotonic()
            cluster.client.delete(f"/api/v1/namespaces/default/pods/{name}")
            samples.append(wait_all(cluster.lab, ip, present=False, since=started))
            print(f"change {change}: {samples[-1] * 1000:.0f} ms", file=sys.stderr)
        samples.sort()
        p50 = statistics.median(samples)
        p99 = samples[min(len(samples) - 1, round(0.99 * (len(samples) - 1)))]
        print(f"changes={len(samples)}")
        print(f"p50_ms={p50 * 1000:.0f}")
        print(f"p99_ms={p99 * 1000:.0f}")
        print(f"ratio={p99 / 0.5:.2f}")


if __name__ == "__main__":
    main()
