"""How long a client command takes, against the cost of starting Python at all.

    python bench/cli_latency.py [-i INVENTORY] [--runs 20]

Runs `raftkube get pods -A` RUNS times against the cluster of INVENTORY (default:
RAFTKUBE_INVENTORY, else the lab that is up, else three masters started here on
loopback) and `python3 -c pass` as many times in the same run, interleaved so both see
the same machine load; also `raftkube --help`. Prints the medians and, last,
`ratio=get/python` (the target is <= 5).

The console script is the one beside the running interpreter (pyenv's shims add their
own ~0.2 s of bash, which no change to raftkube can remove).
"""

from __future__ import annotations

import argparse
import os
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the checkout: tests.ports
from tests.ports import free_port  # noqa: E402

TOKEN = "bench-token"


def start_local_masters(root: Path) -> tuple[Path, list[subprocess.Popen]]:
    """Three masters on loopback, as the integration tests run them."""
    names = ["m1", "m2", "m3"]
    ports = {name: (free_port(), free_port()) for name in names}
    inventory = root / "inventory.ini"
    inventory.write_text("[masters]\n" + "".join(
        f"{n} ansible_host=127.0.0.1 raftkube_api_port={a} raftkube_raft_port={r} "
        "raftkube_dns_port=0 raftkube_dns_upstream=none\n"  # DNS on a free port, never the machine's 53
        for n, (a, r) in ports.items()))
    for suffix, value in ((".token", TOKEN), (".raft-secret", TOKEN + "-raft")):  # the Raft secret is apart
        secret = Path(f"{inventory}{suffix}")
        secret.write_text(value + "\n")
        secret.chmod(0o600)
    from raftkube.pki import ensure_cluster_pki
    from raftkube.remote.inventory import load_inventory

    ensure_cluster_pki(load_inventory(inventory))
    tls = ssl.create_default_context(cafile=f"{inventory}.ca.crt")
    procs = [subprocess.Popen([sys.executable, "-m", "raftkube", "master", "-i", str(inventory), "--name", n,
                               "--data-dir", str(root / n)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for n in names]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            request = urllib.request.Request(f"https://127.0.0.1:{ports['m1'][0]}/api/v1/namespaces",
                                             headers={"Authorization": f"Bearer {TOKEN}"})
            with urllib.request.urlopen(request, timeout=2, context=tls):
                return inventory, procs
        except OSError:
            time.sleep(0.2)
    raise SystemExit("the local masters elected no leader within 30 s")


def wall(argv: list[str], env: dict) -> float:
    started = time.perf_counter()
    result = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    took = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {result.stderr.decode().strip()}")
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-i", "--inventory", default=None)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()

    procs: list[subprocess.Popen] = []
    tmp = tempfile.TemporaryDirectory(prefix="cli-latency-")
    inventory = args.inventory or os.environ.get("RAFTKUBE_INVENTORY")
    if not inventory:
        from raftkube.lab.where import find_inventory

        inventory = find_inventory()
    if not inventory:
        inventory, procs = start_local_masters(Path(tmp.name))
        print("cluster: three masters on loopback")
    else:
        print(f"cluster: {inventory}")
    script = Path(sys.executable).with_name("raftkube")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "raftkube"]
    env = {**os.environ, "RAFTKUBE_INVENTORY": str(inventory)}
    try:
        wall([*command, "get", "pods", "-A"], env)  # warm the page cache and .pyc files
        gets, helps, pythons = [], [], []
        for _ in range(args.runs):
            gets.append(wall([*command, "get", "pods", "-A"], env))
            helps.append(wall([*command, "--help"], env))
            pythons.append(wall([sys.executable, "-c", "pass"], env))
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        tmp.cleanup()
    get, help_, python = (statistics.median(x) for x in (gets, helps, pythons))
    print(f"command: {' '.join(command)}")
    print(f"raftkube get pods -A: median {get * 1000:.0f} ms over {args.runs} runs")
    print(f"raftkube --help: median {help_ * 1000:.0f} ms")
    print(f"python3 -c pass: median {python * 1000:.0f} ms")
    print(f"ratio={get / python:.2f}")


if __name__ == "__main__":
    main()
