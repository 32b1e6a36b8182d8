"""Failover: how long until a new RC's first pod runs after the leader's host is stopped,
and until a stopped node's pods run elsewhere; next to the same RC's first pod with no
failure, in the same run.

    python bench/failover.py [--runs 5]

Builds a lab (3 masters, 3 nodes). Baseline: create an RC of 1 and time its first pod
Running. Leader: stop the leader's host, create an RC at once (the client moves to a
live master) and time its first pod Running from the stop; the host is started again
between runs. Node: stop a node running 3 pods of an RC of 6 and time until 6 run on the
others (the target is grace + eviction + 2 s). The last line is
`ratio=leader_failover_median/baseline_median`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import uuid

from raftkube.client.discovery import find_masters
from raftkube.lab import Lab
from raftkube.remote.inventory import load_inventory

NS = "/api/v1/namespaces/default"


def rc(name: str, replicas: int) -> dict:
    return {"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"app": name},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"terminationGracePeriodSeconds": 0,
                                           "containers": [{"name": "c", "image": "busybox", "command": ["sleep", "3600"]}]}}}}


def until(check, timeout: float = 120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            result = check()
        except Exception:
            result = None
        if result:
            return result
        time.sleep(0.05)
    raise SystemExit("timed out")


def running(client, app: str, nodes=None) -> int:
    items = client.get(f"{NS}/pods", {"labelSelector": f"app={app}"})["items"]
    return sum(1 for p in items if (p.get("status") or {}).get("phase") == "Running"
               and not p["metadata"].get("deletionTimestamp") and (nodes is None or p["spec"]["nodeName"] in nodes))


def create_with_retry(client, obj: dict) -> None:
    until(lambda: client.create(f"{NS}/replicationcontrollers", obj) or True, timeout=60)


def leader_host(lab: Lab, client) -> str:
    inventory = load_inventory(lab.inventory_path)
    leader = until(lambda: client.get("/raftkube/v1/cluster").get("leader"))
    return next(m.name for m in inventory.masters if f"{m.address}:{m.raft_port}" == leader)


def healthy(client) -> bool:
    status = client.get("/raftkube/v1/cluster")
    return status.get("leader") and all(m["connected"] for m in status["members"]) and status["lease"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    lab = Lab(f"bfo{uuid.uuid4().hex[:5]}")
    baseline, failovers = [], []
    try:
        lab.up(nodes=3, masters=3, echo=lambda line: None)
        with find_masters(str(lab.inventory_path)).client() as client:
            until(lambda: all(any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"].get("conditions") or ())
                              for n in client.get("/api/v1/nodes")["items"]))
            for run in range(args.runs):
                started = time.monotonic()
                create_with_retry(client, rc(f"base{run}", 1))
                until(lambda: running(client, f"base{run}") >= 1)
                baseline.append(time.monotonic() - started)
            for run in range(args.runs):
                until(lambda: healthy(client))
                victim = leader_host(lab, client)
                started = time.monotonic()
                lab.stop(victim)
                create_with_retry(client, rc(f"fail{run}", 1))
                until(lambda: running(client, f"fail{run}") >= 1)
                failovers.append(time.monotonic() - started)
                lab.start(victim)
            until(lambda: healthy(client))
            create_with_retry(client, rc("spread", 6))
            until(lambda: running(client, "spread") == 6)
            node_stop_started = time.monotonic()
            lab.stop("node3")
            until(lambda: running(client, "spread", nodes={"node1", "node2"}) == 6)
            node_failover = time.monotonic() - node_stop_started
            lab.start("node3")
    finally:
        lab.down(quiet=True)
    print(f"baseline first pod Running: median={statistics.median(baseline):.2f}s max={max(baseline):.2f}s")
    print(f"leader host stopped -> new RC's first pod Running: median={statistics.median(failovers):.2f}s "
          f"max={max(failovers):.2f}s ({args.runs} runs)")
    print(f"node stopped -> its pods Running elsewhere: {node_failover:.2f}s (grace 5 s + eviction 10 s + 2 s = 17 s target)")
    print(f"ratio={statistics.median(failovers) / statistics.median(baseline):.2f}")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
