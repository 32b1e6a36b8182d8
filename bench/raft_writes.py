"""Write throughput: objects created per second through the API of a 3-master cluster,
against the raw rate of pysyncobj replicated calls on a 3-node cluster on the same machine.

    python bench/raft_writes.py [--seconds 5] [--clients 64] [--rounds 3]

Both clusters run as three processes on loopback with the masters' Raft settings. The
raw cluster replicates one pod-sized object per call (a dict insert), keeping many calls
in flight; the API run POSTs pods from concurrent clients spread over all three masters
(followers forward to the leader). API and raw rounds alternate and each rate is the
median over the rounds (a shared machine swings a single run by 2x). The last line is
`ratio=api/raw`.

A third rate, the HTTP ceiling, is the same clients against three https servers that only
parse each body and echo it back (aiohttp, as the masters; no validation, no Raft): an
API serving one create per request on this stack cannot be faster on this machine, so
`ceiling_ratio=ceiling/raw` is the highest ratio it allows (clients and servers share
its cores).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import aiohttp
from aiohttp import web
from pysyncobj import FAIL_REASON, SyncObj, replicated

from raftkube.pki import ensure_cluster_pki
from raftkube.remote.inventory import load_inventory
from raftkube.state.store import raft_conf

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the checkout: tests.ports
from tests.ports import free_port  # noqa: E402

TOKEN = "bench-token"


def pod(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default", "labels": {"app": "bench"}},
            "spec": {"containers": [{"name": "main", "image": "busybox"}]}}


# -- raw pysyncobj --------------------------------------------------------------------

class RawStore(SyncObj):
    def __init__(self, self_address: str, peers: list[str], batch: bool):
        self.objects = {}
        conf = raft_conf(TOKEN, None, appendEntriesUseBatch=batch)
        super().__init__(self_address, [p for p in peers if p != self_address], conf)

    @replicated
    def put(self, key: str, obj: dict) -> None:
        self.objects[key] = obj


def raw_node(batch: str, self_address: str, peers: list[str]) -> None:
    """A follower of the raw cluster, until terminated."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})  # before pysyncobj's threads start
    RawStore(self_address, peers, batch == "batch")
    signal.sigwait({signal.SIGTERM})


def measure_raw(seconds: float, in_flight: int, batch: bool) -> float:
    """Replicated calls per second; `batch` is pysyncobj's appendEntriesUseBatch."""
    addresses = [f"127.0.0.1:{free_port()}" for _ in range(3)]
    mode = "batch" if batch else "immediate"
    others = [subprocess.Popen([sys.executable, __file__, "--raw-node", mode, address, *addresses])
              for address in addresses[1:]]
    try:
        store = RawStore(addresses[0], addresses, batch)
        _wait(lambda: store._getLeader() is not None and store.isReady(), 20, "raw cluster never elected")
        slots = threading.Semaphore(in_flight)
        done = [0]

        def finished(result, failure) -> None:
            # Only a committed call counts: a refused one (queue full) costs nothing.
            if failure == FAIL_REASON.SUCCESS:
                done[0] += 1
            slots.release()

        body = pod("raw")
        start = time.monotonic()
        i = 0
        while time.monotonic() - start < seconds:
            slots.acquire()
            store.put(f"k{i}", body, callback=finished)
            i += 1
        for _ in range(in_flight):
            slots.acquire(timeout=10)
        elapsed = time.monotonic() - start
        store.destroy()
        return done[0] / elapsed
    finally:
        for proc in others:
            proc.terminate()
            proc.wait(10)


# -- the HTTP ceiling -----------------------------------------------------------------

def echo_server(port: str, cert: str, key: str) -> None:
    """An https server that answers a POSTed JSON object with itself (201), until terminated."""
    async def echo(request: web.Request) -> web.Response:
        return web.json_response(await request.json(), status=201)

    app = web.Application()
    app.router.add_post("/api/v1/namespaces/default/pods", echo)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    web.run_app(app, host="127.0.0.1", port=int(port), ssl_context=tls, access_log=None, print=None)


def measure_ceiling(root: Path, seconds: float, clients: int) -> float:
    """Creates per second the bench's clients reach against echo servers on the masters' certificates."""
    inventory, ports = write_inventory(root)
    pki = Path(f"{inventory}.pki")
    procs = [subprocess.Popen([sys.executable, __file__, "--echo-server", str(api),
                               str(pki / f"m{n}.crt"), str(pki / f"m{n}.key")])
             for n, (api, _) in enumerate(ports, 1)]
    try:
        endpoints = [f"https://127.0.0.1:{api}" for api, _ in ports]
        return asyncio.run(measure_api(endpoints, seconds, clients, f"{inventory}.ca.crt"))
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(15)


# -- through the API ------------------------------------------------------------------

def write_inventory(root: Path) -> tuple[Path, list[tuple[int, int]]]:
    """A 3-master inventory on free loopback ports, its secrets and its PKI."""
    ports = [(free_port(), free_port()) for _ in range(3)]
    inventory = root / "inventory.ini"
    inventory.write_text("[masters]\n" + "".join(
        f"m{n} ansible_host=127.0.0.1 raftkube_api_port={api} raftkube_raft_port={raft} "
        "raftkube_dns_port=0 raftkube_dns_upstream=none\n"  # DNS on a free port, never the machine's 53
        for n, (api, raft) in enumerate(ports, 1)))
    for suffix, value in ((".token", TOKEN), (".raft-secret", TOKEN + "-raft")):
        secret = Path(f"{inventory}{suffix}")
        secret.write_text(value + "\n")
        secret.chmod(0o600)
    ensure_cluster_pki(load_inventory(inventory))
    return inventory, ports


def start_masters(root: Path) -> tuple[list[subprocess.Popen], list[str]]:
    inventory, ports = write_inventory(root)
    procs = [subprocess.Popen([sys.executable, "-m", "raftkube", "master", "-i", str(inventory),
                               "--name", f"m{n}", "--data-dir", str(root / f"m{n}")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for n in range(1, 4)]
    return procs, [f"https://127.0.0.1:{api}" for api, _ in ports]


def cpu_seconds(pid: int | None = None) -> float:
    """CPU time (user+system) of a process, this one by default: where the time goes."""
    if pid is None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measure_api(endpoints: list[str], seconds: float, clients: int, ca_file: str) -> float:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    connector = aiohttp.TCPConnector(limit=clients, ssl=ssl.create_default_context(cafile=ca_file))
    async with aiohttp.ClientSession(headers=headers, connector=connector) as session:
        await _until_writable(session, endpoints)
        created = [0]
        deadline = time.monotonic() + seconds

        async def client(number: int) -> None:
            endpoint = endpoints[number % len(endpoints)]
            i = 0
            while time.monotonic() < deadline:
                async with session.post(f"{endpoint}/api/v1/namespaces/default/pods",
                                        json=pod(f"c{number}-{i}")) as response:
                    await response.read()
                    if response.status == 201:
                        created[0] += 1
                i += 1

        start = time.monotonic()
        await asyncio.gather(*(client(n) for n in range(clients)))
        return created[0] / (time.monotonic() - start)


async def _until_writable(session: aiohttp.ClientSession, endpoints: list[str]) -> None:
    """Wait until every master accepts a write."""
    give_up = time.monotonic() + 30
    for n, endpoint in enumerate(endpoints):
        while True:
            try:
                async with session.post(f"{endpoint}/api/v1/namespaces/default/pods", json=pod(f"warmup{n}")) as r:
                    if r.status in (201, 409):
                        break
            except aiohttp.ClientError:
                pass
            if time.monotonic() > give_up:
                raise SystemExit(f"{endpoint} never accepted a write")
            await asyncio.sleep(0.2)


def _wait(condition, timeout: float, message: str) -> None:
    give_up = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > give_up:
            raise SystemExit(message)
        time.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clients", type=int, default=64, help="concurrent API clients")
    parser.add_argument("--in-flight", type=int, default=256, help="raw replicated calls in flight")
    parser.add_argument("--rounds", type=int, default=3, help="alternating API/raw rounds (at least 3); medians count")
    parser.add_argument("--raw-node", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--echo-server", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.raw_node:
        raw_node(args.raw_node[0], args.raw_node[1], args.raw_node[2:])
        return
    if args.echo_server:
        echo_server(*args.echo_server)
        return

    if args.rounds < 3:
        parser.error("--rounds must be at least 3 (a median of fewer says little)")
    # The machine may be shared: each rate is the median of alternating rounds.
    api_rates, raw_rates, ceiling_rates, cpu_shares = [], {True: [], False: []}, [], []
    for _ in range(args.rounds):
        with tempfile.TemporaryDirectory(prefix="raftkube-bench-") as root:
            procs, endpoints = start_masters(Path(root))
            try:
                before = [cpu_seconds(proc.pid) for proc in procs] + [cpu_seconds()]
                started = time.monotonic()
                api_rates.append(asyncio.run(measure_api(endpoints, args.seconds, args.clients, f"{root}/inventory.ini.ca.crt")))
                elapsed = time.monotonic() - started
                used = [cpu_seconds(proc.pid) - b for proc, b in zip(procs, before)] + [cpu_seconds() - before[-1]]
                cpu_shares.append((elapsed, used))
            finally:
                for proc in procs:
                    proc.terminate()
                for proc in procs:
                    proc.wait(15)
        # The masters send entries immediately (appendEntriesUseBatch=False) because they
        # batch commands themselves; raw calls may do better with pysyncobj's own
        # batching, so the raw rate is the better of the two settings.
        for batch in (True, False):
            raw_rates[batch].append(measure_raw(args.seconds, args.in_flight, batch))
        with tempfile.TemporaryDirectory(prefix="raftkube-bench-") as root:
            ceiling_rates.append(measure_ceiling(Path(root), args.seconds, args.clients))
    api = statistics.median(api_rates)
    raw = max(statistics.median(rates) for rates in raw_rates.values())
    print(f"api_creates_per_s={api:.0f} median of {', '.join(f'{r:.0f}' for r in api_rates)} "
          f"(3 masters, {args.clients} concurrent clients over HTTP)")
    for batch, rates in raw_rates.items():
        print(f"raw_replicated_calls_per_s={statistics.median(rates):.0f} median of "
              f"{', '.join(f'{r:.0f}' for r in rates)} (3 pysyncobj nodes, {args.in_flight} calls in flight, "
              f"appendEntriesUseBatch={batch})")
    elapsed, used = cpu_shares[min(range(len(api_rates)), key=lambda i: abs(api_rates[i] - api))]
    print(f"api_cpu: masters {' + '.join(f'{u:.1f}' for u in used[:-1])} s, client {used[-1]:.1f} s "
          f"in {elapsed:.1f} s incl. warm-up, on {os.cpu_count()} cores (the rest: other processes or idle)")
    ceiling = statistics.median(ceiling_rates)
    print(f"http_ceiling_per_s={ceiling:.0f} median of {', '.join(f'{r:.0f}' for r in ceiling_rates)} "
          f"(the same clients against 3 https servers that only parse and echo each body)")
    print(f"raw_median={raw:.0f} (the better setting's median)")
    print(f"ceiling_ratio={ceiling / raw:.2f} (the highest ratio an aiohttp API creating one object per request reaches here)")
    print(f"ratio={api / raw:.2f}")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
