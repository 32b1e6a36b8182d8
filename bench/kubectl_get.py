"""kubectl against raftkube: how long `kubectl get pods -A` takes next to `raftkube get pods -A`.

    python bench/kubectl_get.py [--runs 15]

Starts three masters on loopback (as bench/cli_latency.py does), writes the kubeconfig
`raftkube setup` would, then runs, interleaved so both see the same machine load:
`kubectl get pods -A` with a warm discovery cache (one HOME for all runs), the same with
an empty HOME each time (discovery and OpenAPI fetched again: a first use), and
`raftkube get pods -A`. Prints the medians and, last, `ratio=kubectl/raftkube` (warm).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from cli_latency import start_local_masters, wall  # noqa: E402

from raftkube.client.kubeconfig import write_kubeconfig  # noqa: E402
from raftkube.remote.inventory import load_inventory  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    if shutil.which("kubectl") is None:
        raise SystemExit("kubectl is not installed")
    with tempfile.TemporaryDirectory(prefix="kubectl-bench-") as root:
        inventory, procs = start_local_masters(Path(root))
        try:
            kubeconfig, _ = write_kubeconfig(load_inventory(inventory), (Path(f"{inventory}.token")).read_text().strip())
            warm_home = Path(root) / "home"
            warm_home.mkdir()
            base = {"PATH": os.environ["PATH"], "KUBECONFIG": str(kubeconfig)}
            warm = {**base, "HOME": str(warm_home)}
            script = Path(sys.executable).with_name("raftkube")
            raftkube = [str(script)] if script.exists() else [sys.executable, "-m", "raftkube"]
            ours = {**os.environ, "RAFTKUBE_INVENTORY": str(inventory)}
            wall(["kubectl", "get", "pods", "-A"], warm)  # fills the discovery cache
            wall([*raftkube, "get", "pods", "-A"], ours)
            warms, colds, raftkubes = [], [], []
            for _ in range(args.runs):
                warms.append(wall(["kubectl", "get", "pods", "-A"], warm))
                with tempfile.TemporaryDirectory(prefix="kubectl-home-") as home:
                    colds.append(wall(["kubectl", "get", "pods", "-A"], {**base, "HOME": home}))
                raftkubes.append(wall([*raftkube, "get", "pods", "-A"], ours))
        finally:
            for proc in procs:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
    warm_m, cold_m, ours_m = (statistics.median(x) for x in (warms, colds, raftkubes))
    print(f"kubectl get pods -A (warm discovery cache): median {warm_m * 1000:.0f} ms over {args.runs} runs")
    print(f"kubectl get pods -A (empty HOME): median {cold_m * 1000:.0f} ms")
    print(f"raftkube get pods -A: median {ours_m * 1000:.0f} ms")
    print(f"ratio={warm_m / ours_m:.2f}")


if __name__ == "__main__":
    main()
