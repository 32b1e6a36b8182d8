"""What the leader's once-a-second `report` costs on a node busy probing its pods.

    python bench/helper_report.py [-i INVENTORY] [--pods 30] [--rounds 200]

Starts PODS pods on the first node (each an httpd with an exec readiness probe and a
tcpSocket liveness probe, both every second), then calls `report` and `ping` ROUNDS
times each, interleaved so both see the same load, and removes the pods. Without -i it
builds a one-node lab and removes it afterwards. Prints p50/p99 of each, the number of
probe runs the helper made meanwhile, and last `ratio=report_p99/ping_p99`.
"""

import argparse
import statistics
import sys
import time
import uuid
from pathlib import Path

from raftkube.remote import ssh
from raftkube.remote.connection import HostConnection
from raftkube.remote.inventory import Inventory, load_inventory


def probed_pod(index: int) -> dict:
    every_second = {"periodSeconds": 1, "failureThreshold": 3}
    app = {
        "name": "web", "image": "busybox", "imagePullPolicy": "IfNotPresent",
        "command": ["httpd", "-f", "-p", "8080", "-h", "/tmp"],
        "readinessProbe": {"exec": {"command": ["true"]}, **every_second},
        "livenessProbe": {"tcpSocket": {"port": 8080}, **every_second},
    }  # fmt: skip
    return {"metadata": {"name": f"bench-{index}", "namespace": "default", "uid": str(uuid.uuid4())},
            "spec": {"containers": [app], "terminationGracePeriodSeconds": 1}}


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def probe_runs(report: dict) -> int:
    return sum(p["successes"] + p["failures"] for pod in report["pods"] for c in pod["containers"]
               for p in (c.get("probes") or {}).values())


def measure(inventory: Inventory, pods: int, rounds: int) -> None:
    host = inventory.nodes[0]
    with HostConnection(host, inventory.known_hosts_path) as conn:
        term = conn.connect()["term"]
        made = [probed_pod(i) for i in range(pods)]
        try:
            for pod in made:
                conn.call("ensure_pod", {"pod": pod}, term=term, timeout=120)
            time.sleep(3)  # every probe has run a few times
            before = probe_runs(conn.call("report", term=term))
            reports, pings = [], []
            started = time.monotonic()
            for _ in range(rounds):
                for samples, op in ((reports, "report"), (pings, "ping")):
                    begun = time.perf_counter()
                    answer = conn.call(op, term=term)
                    samples.append(time.perf_counter() - begun)
                time.sleep(0.01)
            elapsed = time.monotonic() - started
            answer = conn.call("report", term=term)
            ready = sum(bool(c.get("ready")) for pod in answer["pods"] for c in pod["containers"])
            runs = probe_runs(answer) - before
        finally:
            for pod in made:
                conn.call("remove_pod", {"uid": pod["metadata"]["uid"]}, term=term, timeout=120)
    print(f"host={host.name} pods={pods} ready={ready}")
    print(f"probe_runs_per_s={runs / elapsed:.1f}")
    print(f"report_p50_ms={statistics.median(reports) * 1000:.2f} report_p99_ms={percentile(reports, 0.99) * 1000:.2f}")
    print(f"ping_p50_ms={statistics.median(pings) * 1000:.2f} ping_p99_ms={percentile(pings, 0.99) * 1000:.2f}")
    print(f"ratio={percentile(reports, 0.99) / percentile(pings, 0.99):.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-i", "--inventory", type=Path, help="use this inventory instead of building a lab")
    parser.add_argument("--pods", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    if args.inventory:
        measure(load_inventory(args.inventory), args.pods, args.rounds)
        return
    from raftkube.lab import Lab

    lab = Lab(f"khb{uuid.uuid4().hex[:5]}")
    try:
        inventory = load_inventory(lab.up(nodes=1, masters=0, setup=False, echo=lambda line: print(line, file=sys.stderr)))
        for host in inventory.hosts.values():
            ssh.connect(host, inventory.known_hosts_path, accept_new=True).close()
        measure(inventory, args.pods, args.rounds)
    finally:
        lab.down(quiet=True)


if __name__ == "__main__":
    main()
