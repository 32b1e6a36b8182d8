"""Real master processes on loopback: `python -m raftkube master` per replica, own data dirs."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from raftkube.pki import ensure_cluster_pki
from raftkube.remote.inventory import load_inventory
from tests.ports import free_port

TOKEN = "integration-test-token"
# Three fresh master processes import aiohttp, pysyncobj and the loops before they elect:
# on a loaded 2-core machine that alone took over 20 s.
STARTUP_TIMEOUT = 60.0
RAFT_SECRET = "integration-test-raft-secret"


class MasterCluster:
    """Masters described by a test inventory, started and killed as real processes."""

    def __init__(self, root: Path, names: list[str]):
        self.root = root
        self.ports = {name: (free_port(), free_port()) for name in names}
        self.dns_ports: dict[str, int] = {}  # cluster DNS: each master its own, never the machine's 53
        self.procs: dict[str, subprocess.Popen] = {}
        self.token = TOKEN
        self.inventory = self.write_inventory(root / "inventory.ini", names)

    def write_inventory(self, path: Path, names: list[str]) -> Path:
        for name in names:
            self.ports.setdefault(name, (free_port(), free_port()))
        lines = ["[masters]"]
        for name in names:
            api, raft = self.ports[name]
            dns = self.dns_ports.setdefault(name, free_port())
            lines.append(f"{name} ansible_host=127.0.0.1 raftkube_api_port={api} raftkube_raft_port={raft} "
                         f"raftkube_dns_port={dns} raftkube_dns_upstream=none")
        path.write_text("\n".join(lines) + "\n")
        for suffix, value in ((".token", self.token), (".raft-secret", RAFT_SECRET)):
            secret = Path(f"{path}{suffix}")
            secret.write_text(value + "\n")
            secret.chmod(0o600)
        # The same CA and certificates `raftkube setup` makes: the masters serve https only.
        # Another inventory of this cluster shares its CA (a master started from it must be
        # trusted by clients of the first).
        first = getattr(self, "inventory", None)
        if first is not None and path != first:
            for suffix in (".ca.crt", ".ca.key"):
                Path(f"{path}{suffix}").write_bytes(Path(f"{first}{suffix}").read_bytes())
            Path(f"{path}.ca.key").chmod(0o600)
        ensure_cluster_pki(load_inventory(path))
        self.ca_file = str(load_inventory(path).ca_cert_path)
        self.tls = ssl.create_default_context(cafile=self.ca_file)
        return path

    def url(self, name: str) -> str:
        return f"https://127.0.0.1:{self.ports[name][0]}"

    def urlopen(self, request, timeout: float):
        """urllib's urlopen, trusting the cluster CA."""
        return urllib.request.urlopen(request, timeout=timeout, context=self.tls)

    def raft_address(self, name: str) -> str:
        return f"127.0.0.1:{self.ports[name][1]}"

    def start(self, name: str, inventory: Path | None = None) -> None:
        log = open(self.root / f"{name}.log", "ab")
        self.procs[name] = subprocess.Popen(
            [sys.executable, "-m", "raftkube", "master", "-i", str(inventory or self.inventory),
             "--name", name, "--data-dir", str(self.root / "data" / name)],
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        log.close()

    def kill(self, name: str, sig: int = signal.SIGKILL) -> int:
        """Signal one master and wait for it; its exit code."""
        proc = self.procs.pop(name)
        proc.send_signal(sig)
        try:
            return proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()  # never leave a master running behind a failed test
            proc.wait()
            raise

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.kill(name, signal.SIGTERM)

    def request(self, name: str, method: str, path: str, body=None, token: str | None = TOKEN,
                timeout: float = 20.0, headers: dict | None = None) -> tuple[int, dict]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url(name) + path, data=data, method=method)
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        if data is not None:
            # A PATCH names its semantics by Content-Type (Kubernetes answers 415 to plain JSON).
            request.add_header("Content-Type", "application/merge-patch+json" if method == "PATCH"
                               else "application/json")
        for key, value in (headers or {}).items():
            request.add_header(key, value)
        try:
            with self.urlopen(request, timeout=timeout) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}")

    def status(self, name: str) -> dict | None:
        try:
            code, body = self.request(name, "GET", "/raftkube/v1/cluster", timeout=2)
        except OSError:
            return None
        return body if code == 200 else None

    def leader(self, timeout: float = 20.0) -> str:
        """The master that leads with a quorum and a committed barrier, once there is one."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_running()
            statuses = {name: self.status(name) for name in self.procs}
            if not all(statuses.values()):  # a master's API not up yet: tests talk to all of them
                time.sleep(0.1)
                continue
            for name, status in statuses.items():
                if status["state"] == "leader" and status["hasQuorum"]:
                    try:
                        code, _ = self.request(name, "GET", "/api/v1/namespaces", timeout=3)
                    except OSError:
                        continue
                    if code == 200:
                        return name
            time.sleep(0.1)
        raise AssertionError(f"no leader within {timeout}s; logs in {self.root}")

    def check_running(self) -> None:
        """Fail at once, with its last words, when a master started here has exited."""
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                lines = (self.root / f"{name}.log").read_text(errors="replace").splitlines()
                raise AssertionError(f"master {name} exited with {proc.returncode}: "
                                     f"{lines[-1] if lines else 'no output'}")

    def followers(self) -> list[str]:
        leader = self.leader()
        return [name for name in self.procs if name != leader]


def pod(name: str, namespace: str = "default", labels: dict | None = None) -> dict:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "labels": labels or {}},
            "spec": {"containers": [{"name": "main", "image": "busybox"}]}}


@contextlib.contextmanager
def running_masters(directory: Path, names: list[str]):
    """A cluster of `names` started in `directory` with a leader elected, killed on the way out."""
    cluster = MasterCluster(directory, names)
    try:
        for name in names:
            cluster.start(name)
        cluster.leader(timeout=STARTUP_TIMEOUT)
        yield cluster
    finally:
        for name in list(cluster.procs):
            cluster.kill(name)


@pytest.fixture
def masters(tmp_path):
    with running_masters(tmp_path, ["m1", "m2", "m3"]) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def module_masters(tmp_path_factory):
    """Three masters shared by a module's tests that leave the cluster as they found it."""
    with running_masters(tmp_path_factory.mktemp("masters"), ["m1", "m2", "m3"]) as cluster:
        yield cluster
