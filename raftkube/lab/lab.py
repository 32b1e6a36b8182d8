"""A whole raftkube cluster on one Linux machine, the way `kind` gives one to Kubernetes users.

Each lab host is a `Sandbox` (network + mount namespace + cgroup) on the lab's bridge,
with its own sshd (own host keys, key-only root login with the lab's key) and, for
nodes, its own dockerd. `up` writes an Ansible inventory that `raftkube setup` and every
client command use exactly as they would use a real one.
"""

import fcntl
import json
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import docker

from raftkube.errors import UserError
from raftkube.lab import image, network
from raftkube.lab.sandbox import CGROUP_ROOT, RUN_DIR, Sandbox, remove_cgroup_tree
from raftkube.lab.where import LAB_ROOT

log = logging.getLogger(__name__)

SUBNET_PREFIX = "10.213"  # 10.213.<lab index>.0/24; pod and service ranges stay clear of it
NAME_RE = re.compile(r"^[a-z][a-z0-9]{0,9}$")
SSHD = "/usr/sbin/sshd"
# What Debian's sshd gives root's sessions as PATH, after the lab's python.
SESSION_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DOCKERD = "dockerd"


class LabError(UserError):
    """The lab cannot do what was asked (bad name, unknown host, a daemon that won't start)."""


@dataclass
class LabHost:
    name: str
    role: str  # "master" or "node"
    address: str
    veth: str


class Lab:
    """A named lab: its hosts, its files under /var/lib/raftkube-lab/NAME, its kernel objects."""

    def __init__(self, name: str = "lab"):
        if not NAME_RE.match(name):
            raise LabError(f"invalid lab name {name!r}: 1-10 lowercase letters and digits, starting with a letter")
        self.name = name
        self.dir = LAB_ROOT / name
        self.inventory_path = self.dir / "inventory.ini"
        self.key_path = self.dir / "id_ed25519"
        self.bridge = f"rk-{name}"

    # -- state ------------------------------------------------------------------

    def _load(self) -> dict:
        meta = self.dir / "lab.json"
        if not meta.exists():
            raise LabError(f"lab {self.name!r} is not up (run: raftkube lab up --name {self.name})")
        return json.loads(meta.read_text())

    def hosts(self) -> list[LabHost]:
        return [LabHost(**h) for h in self._load()["hosts"]]

    def host(self, name: str) -> LabHost:
        for host in self.hosts():
            if host.name == name:
                return host
        known = ", ".join(h.name for h in self.hosts())
        raise LabError(f"lab {self.name!r} has no host {name!r} (hosts: {known})")

    def sandbox(self, host: str) -> Sandbox:
        return Sandbox(self.name, host, self.dir / "hosts" / host)

    def docker_host(self, host: str) -> str:
        return f"unix://{self.dir / 'hosts' / host / 'docker.sock'}"

    # -- up / down --------------------------------------------------------------

    def up(self, nodes: int = 3, masters: int = 3, echo: Callable[[str], None] = print,
           setup: bool = True) -> Path:
        """Build the lab from nothing (removing leftovers of one with this name first).

        With `setup`, `raftkube setup` then prepares the hosts and starts the masters,
        exactly as on real hosts; without it the lab is bare hosts (to test setup itself).
        """
        if nodes < 0 or masters < 0 or nodes > 150 or masters > 89:
            raise LabError("a lab has 0-89 masters and 0-150 nodes")
        _require_tools()
        started = time.monotonic()
        self.down(quiet=True)
        subnet, hosts = self._claim_subnet(nodes, masters)

        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"raftkube-lab-{self.name}",
                        "-f", str(self.key_path)], check=True)
        network.create_bridge(self.bridge, f"{subnet}.1", 24)
        for host in hosts:
            self._create_host(host)
        rootfs = image.build_rootfs_tar(LAB_ROOT)
        with ThreadPoolExecutor(max_workers=max(1, len(hosts))) as pool:
            list(pool.map(lambda h: self._boot(h, rootfs), hosts))
        self._write_inventory(hosts)
        echo(f"lab {self.name}: {masters} masters, {nodes} nodes on {subnet}.0/24 "
             f"up in {time.monotonic() - started:.1f}s")
        if setup and masters:
            from raftkube.setup import setup_cluster

            setup_cluster(str(self.inventory_path), echo)
            echo(f"lab {self.name}: cluster ready in {time.monotonic() - started:.1f}s")
        return self.inventory_path

    def down(self, quiet: bool = False) -> None:
        """Remove everything the lab made, also when it was half built or its creator was killed."""
        names = {p.name.removeprefix(f"rk-{self.name}-") for p in Path("/run/netns").glob(f"rk-{self.name}-*")}
        names |= {p.stem for p in (RUN_DIR / self.name).glob("*.mnt")}
        hosts_dir = self.dir / "hosts"
        if hosts_dir.is_dir():
            names |= {p.name for p in hosts_dir.iterdir()}
        for name in sorted(names):
            self.sandbox(name).destroy()
        # Deleting a namespace frees its end of a veth only when the kernel gets to it
        # (seconds later on a busy machine): delete our ends now, so a lab that claims
        # this index next finds the names free.
        for veth in self._veths():
            network.delete_link(veth)
        # dockerd made cgroups for its containers in every hierarchy, not only ours.
        for tree in CGROUP_ROOT.glob(f"*/raftkube-lab/{self.name}"):
            remove_cgroup_tree(tree)
        network.delete_link(self.bridge)
        shutil.rmtree(RUN_DIR / self.name, ignore_errors=True)
        if self.dir.exists():
            shutil.rmtree(self.dir)
        if not quiet:
            print(f"lab {self.name}: removed")

    def _veths(self) -> list[str]:
        try:
            return [host["veth"] for host in json.loads((self.dir / "lab.json").read_text())["hosts"]]
        except (OSError, ValueError, KeyError, TypeError):
            return []

    def _claim_subnet(self, nodes: int, masters: int) -> tuple[str, list[LabHost]]:
        """Pick the lowest subnet no other lab uses and record the lab's hosts (labs coexist)."""
        LAB_ROOT.mkdir(parents=True, exist_ok=True)
        with open(LAB_ROOT / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            used = set()
            for meta in LAB_ROOT.glob("*/lab.json"):
                try:
                    used.add(json.loads(meta.read_text())["index"])
                except (OSError, ValueError, KeyError):
                    continue
            index = next((i for i in range(1, 255) if i not in used), None)
            if index is None:
                raise LabError("no free lab subnet: remove a lab with `raftkube lab down --name NAME`")
            subnet = f"{SUBNET_PREFIX}.{index}"
            hosts = [LabHost(f"master{i}", "master", f"{subnet}.{10 + i}", f"rk{index}m{i}")
                     for i in range(1, masters + 1)]
            hosts += [LabHost(f"node{i}", "node", f"{subnet}.{100 + i}", f"rk{index}n{i}")
                      for i in range(1, nodes + 1)]
            meta = {"name": self.name, "index": index, "subnet": f"{subnet}.0/24", "bridge": self.bridge,
                    "hosts": [asdict(h) for h in hosts]}
            self.dir.mkdir(parents=True)
            (self.dir / "lab.json").write_text(json.dumps(meta, indent=2))
        return subnet, hosts

    # -- one host ---------------------------------------------------------------

    def _create_host(self, host: LabHost) -> None:
        sandbox = self.sandbox(host.name)
        host_dir = self.dir / "hosts" / host.name
        host_dir.mkdir(parents=True)
        network.create_netns(sandbox.netns_name)
        sandbox.create_namespaces()
        sandbox.create_cgroups()
        network.attach_host(self.bridge, host.veth, str(sandbox.netns_path), host.address, 24)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", host.name,
                        "-f", str(host_dir / "ssh_host_ed25519_key")], check=True)
        (host_dir / "authorized_keys").write_text((self.key_path.with_suffix(".pub")).read_text())
        (host_dir / "sshd_config").write_text(_sshd_config(host, host_dir))

    def _boot(self, host: LabHost, rootfs: Path | None = None) -> None:
        """Start what runs on the host when it powers on: sshd, dockerd, a master if installed."""
        sandbox = self.sandbox(host.name)
        host_dir = self.dir / "hosts" / host.name
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        sandbox.spawn([SSHD, "-D", "-e", "-f", str(host_dir / "sshd_config")], host_dir / "sshd.log")
        if host.role == "node":
            # The engine's exec root is the host's /run: a boot starts with it empty.
            exec_root = RUN_DIR / self.name / f"{host.name}.docker"
            shutil.rmtree(exec_root, ignore_errors=True)
            sandbox.spawn([
                DOCKERD, "--data-root", str(host_dir / "docker"), "--exec-root", str(exec_root),
                "-H", self.docker_host(host.name), "--pidfile", str(host_dir / "docker.pid"),
                "--bridge=none", "--iptables=false", "--ip6tables=false", "--ip-forward=false",
                "--ip-masq=false", "--userland-proxy=false", "--exec-opt", "native.cgroupdriver=cgroupfs",
                "--cgroup-parent", f"/{sandbox.cgroup}", "--log-level", "warn",
            ], host_dir / "dockerd.log")
        _wait_for(lambda: _tcp_open(host.address, 22), f"sshd on {host.name}", host_dir / "sshd.log")
        if host.role == "node":
            # A fixed API version: the client must not ask the engine before it answers.
            client = docker.DockerClient(base_url=self.docker_host(host.name), version="1.41", timeout=5)
            try:
                _wait_for(lambda: _docker_answers(client), f"dockerd on {host.name}", host_dir / "dockerd.log")
            finally:
                client.close()
            if rootfs is not None:
                image.import_busybox(self.docker_host(host.name), rootfs)
        start_master = sandbox.private_source("/var/lib/raftkube") / "master" / "start"
        if start_master.exists():
            # A master installed by `raftkube setup` comes back at boot, as its service would.
            sandbox.spawn([str(Path("/var/lib/raftkube/master/start"))], host_dir / "boot.log")

    def _write_inventory(self, hosts: list[LabHost]) -> None:
        lines = [f"# raftkube lab {self.name!r}: written by `raftkube lab up`", ""]
        for group, role in (("masters", "master"), ("nodes", "node")):
            lines.append(f"[{group}]")
            for host in (h for h in hosts if h.role == role):
                extra = f" raftkube_docker_host={self.docker_host(host.name)}" if role == "node" else ""
                lines.append(f"{host.name} ansible_host={host.address}{extra}")
            lines.append("")
        lines += ["[all:vars]", "ansible_user=root", f"ansible_ssh_private_key_file={self.key_path}",
                  f"raftkube_lab={self.name}", ""]
        self.inventory_path.write_text("\n".join(lines))

    # -- operations on a running lab -------------------------------------------

    def stop(self, name: str) -> None:
        """Kill everything on the host at once (sshd, dockerd, containers, a master)."""
        self.host(name)
        self.sandbox(name).power_off()

    def start(self, name: str) -> None:
        """Power the host back on: its disk (/var/lib/raftkube, Docker's data) is as it was."""
        host = self.host(name)
        sandbox = self.sandbox(name)
        if sandbox.pids():
            raise LabError(f"lab host {name} is running; stop it first")
        sandbox.create_namespaces()
        self._boot(host)

    def partition(self, name: str) -> None:
        network.set_link_state(self.host(name).veth, up=False)

    def heal(self, name: str) -> None:
        network.set_link_state(self.host(name).veth, up=True)

    def exec(self, name: str, argv: list[str], **kwargs) -> subprocess.CompletedProcess:
        """Run argv inside the host, with DOCKER_HOST naming the host's own engine."""
        host = self.host(name)
        env = dict(os.environ)
        if host.role == "node":
            env["DOCKER_HOST"] = self.docker_host(name)
        else:
            env.pop("DOCKER_HOST", None)
        return self.sandbox(name).run(argv, env=env, **kwargs)


def _sshd_config(host: LabHost, host_dir: Path) -> str:
    return "\n".join([
        "Port 22",
        f"ListenAddress {host.address}",
        f"HostKey {host_dir / 'ssh_host_ed25519_key'}",
        f"AuthorizedKeysFile {host_dir / 'authorized_keys'}",
        f"PidFile {host_dir / 'sshd.pid'}",
        "PermitRootLogin prohibit-password",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "UsePAM no",
        "UseDNS no",
        "MaxSessions 64",
        "MaxStartups 64:30:128",
        "Subsystem sftp internal-sftp",
        # The machine's python (the one running the lab, with raftkube's dependencies)
        # first, as the machine's shell startup, which lab hosts do not read, would put it.
        f'SetEnv "PATH={Path(sys.executable).parent}:{SESSION_PATH}"',
        "",
    ])


def _require_tools() -> None:
    if os.geteuid() != 0:
        raise LabError("the lab needs root (network namespaces, cgroups, sshd, dockerd)")
    missing = [t for t in ("unshare", "nsenter", "ssh-keygen", SSHD, DOCKERD, "ip") if not shutil.which(t)]
    if missing:
        raise LabError(f"missing {', '.join(missing)}: run scripts/install first")


def _tcp_open(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=0.5):
            return True
    except OSError:
        return False


def _docker_answers(client: docker.DockerClient) -> bool:
    try:
        return bool(client.ping())
    except Exception:  # the engine's socket appears before it answers; any failure means "not yet"
        return False


def _wait_for(ready: Callable[[], bool], what: str, log_file: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            tail = log_file.read_text(errors="replace").strip().splitlines()[-3:] if log_file.exists() else []
            raise LabError(f"{what} did not start within {timeout:.0f}s: {' | '.join(tail) or 'no log'}")
        time.sleep(0.1)
