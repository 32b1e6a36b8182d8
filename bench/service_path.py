"""Requests per second from a client pod to a backend pod: by pod IP, and through its VIP.

    python bench/service_path.py [--seconds 2] [--rounds 8] [--lab NAME]

Builds a lab (1 master, 2 nodes), a backend pod on node2 behind a Service, and runs the
client in a pod's network namespace on node1 (a Python loop over raw sockets, entered
with nsenter: busybox's wget would measure process start-up instead). One HTTP/1.0
request per connection (keep-alive off), so every request crosses the NAT. The two
paths alternate in rounds so load on the machine weighs on both alike. Prints both
rates, then `ratio=vip/direct` last (target >= 0.9).
"""

import argparse
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from netlab import backend, lab_cluster, service  # noqa: E402

CLIENT = r"""
import socket, sys, time
host, port, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
done, end = 0, time.monotonic() + seconds
while time.monotonic() < end:
    with socket.create_connection((host, port), timeout=5) as s:
        s.sendall(b"GET / HTTP/1.0\r\nHost: bench\r\n\r\n")
        while s.recv(65536):
            pass
    done += 1
print(done / seconds)
"""


def rate(pid: int, host: str, port: int, seconds: float) -> float:
    out = subprocess.run(["nsenter", f"--net=/proc/{pid}/ns/net", sys.executable, "-c", CLIENT, host, str(port),
                          str(seconds)], check=True, capture_output=True, text=True, timeout=seconds + 60)
    return float(out.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--lab", help="use this running lab instead of building one (kept afterwards)")
    args = parser.parse_args()
    with lab_cluster("netpath", nodes=2, existing=args.lab) as cluster:
        cluster.create("pods", backend("path-server", "node2", {"app": "path-server"}))
        cluster.create("pods", {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "path-client"},
                                "spec": {"nodeName": "node1", "containers": [{"name": "c", "image": "busybox",
                                         "imagePullPolicy": "Never", "command": ["sleep", "100000"]}]}})
        vip = cluster.create("services", service("path", {"app": "path-server"}))["spec"]["clusterIP"]
        pod_ip = cluster.wait_ready("path-server")["status"]["podIP"]
        cluster.wait_ready("path-client")
        pid = cluster.pause_pid("node1", "path-client")
        rate(pid, vip, 80, 1.0)  # warm-up, and the rules are in place once this succeeds
        direct, through_vip = [], []
        for round_ in range(args.rounds):
            # Alternate which path goes first, so a trend in the machine's load favours neither.
            order = ((direct, pod_ip, 8080), (through_vip, vip, 80))
            for samples, host, port in order if round_ % 2 == 0 else reversed(order):
                samples.append(rate(pid, host, port, args.seconds))
        d, v = sum(direct) / len(direct), sum(through_vip) / len(through_vip)
        print(f"direct_rps={d:.0f}")
        print(f"vip_rps={v:.0f}")
        print(f"ratio={v / d:.2f}")


if __name__ == "__main__":
    main()
