"""Pod startup latency: created through the API -> Running, next to plain `docker run`
of the same image on the same lab node, in the same run.

    python bench/pod_startup.py [--pods 30]

Builds a lab (3 masters, 1 node), creates the pods one at a time and times each from
the POST to the watch event that shows it Running; then times `docker run -d` of the
same image on the node's own engine. The last line is `ratio=p99/docker_run_p99`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import time
import uuid

from raftkube.client.discovery import find_masters
from raftkube.lab import Lab
from raftkube.remote.inventory import load_inventory

NS = "/api/v1/namespaces/default"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


def pod(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"terminationGracePeriodSeconds": 0,
                     "containers": [{"name": "c", "image": "busybox", "command": ["sleep", "3600"]}]}}


def wait_ready(client) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            node = client.get("/api/v1/nodes/node1")
            if any(c["type"] == "Ready" and c["status"] == "True" for c in node["status"].get("conditions") or ()):
                return
        except Exception:
            pass
        time.sleep(0.5)
    raise SystemExit("node1 never became Ready")


def pod_startups(client, count: int) -> list[float]:
    times = []
    for i in range(count):
        name = f"start-{i}"
        started = time.monotonic()
        created = client.create(f"{NS}/pods", pod(name))
        revision = created["metadata"]["resourceVersion"]
        for event in client.watch(f"{NS}/pods", {"resourceVersion": revision}, read_timeout=60):
            obj = event["object"]
            if obj["metadata"]["name"] == name and (obj.get("status") or {}).get("phase") == "Running":
                times.append(time.monotonic() - started)
                break
        else:
            raise SystemExit(f"pod {name} never ran")
    return times


def docker_runs(docker_host: str, count: int) -> list[float]:
    times, names = [], []
    try:
        for _ in range(count):
            name = f"bench-{uuid.uuid4().hex[:8]}"
            names.append(name)
            started = time.monotonic()
            subprocess.run(["docker", "-H", docker_host, "run", "-d", "--name", name, "--network", "none",
                            "busybox", "sleep", "3600"], check=True, capture_output=True)
            times.append(time.monotonic() - started)
    finally:
        subprocess.run(["docker", "-H", docker_host, "rm", "-f", *names], capture_output=True)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pods", type=int, default=30)
    args = parser.parse_args()
    lab = Lab(f"bps{uuid.uuid4().hex[:5]}")
    try:
        lab.up(nodes=1, masters=3, echo=lambda line: None)
        with find_masters(str(lab.inventory_path)).client() as client:
            wait_ready(client)
            pods = pod_startups(client, args.pods)
            for i in range(args.pods):
                client.delete(f"{NS}/pods/start-{i}", params={"gracePeriodSeconds": "0"})
        docker = docker_runs(load_inventory(lab.inventory_path).host("node1").docker_host, args.pods)
    finally:
        lab.down(quiet=True)
    print(f"pod_startup p50={statistics.median(pods):.3f}s p99={percentile(pods, 99):.3f}s "
          f"({args.pods} pods, API -> Running, 3 masters, 1 node)")
    print(f"docker_run p50={statistics.median(docker):.3f}s p99={percentile(docker, 99):.3f}s (same node)")
    print(f"ratio={percentile(pods, 99) / percentile(docker, 99):.2f}")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
