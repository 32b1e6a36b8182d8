"""Preparing one host over SSH: check what raftkube needs there and create its directories.

Each step is an idempotent check-or-ensure that returns the line `raftkube setup` shows
for it, so a second run reads as a list of things already in place.
"""

import json
from dataclasses import dataclass

import fabric

from raftkube.errors import UserError
from raftkube.remote.inventory import Host
from raftkube.remote.ssh import RemoteCommandFailed, run

STATE_DIR = "/var/lib/raftkube"
POD_DIR = f"{STATE_DIR}/pods"
DEFAULT_MAX_PODS = 110
MIN_PYTHON = (3, 9)  # the host helper's floor
MASTER_PYTHON = (3, 11)  # raftkube itself (pyproject's requires-python)

SYSCTL_FILE = "/etc/sysctl.d/90-raftkube.conf"

# Runs on the host with its python3: fixed text, never built from inventory data; the
# Python floor, the node flag, the sysctl file to keep forwarding on after a reboot ("" for
# none) and the directories arrive as argv. A Python below the floor only reports its
# version: a host setup refuses is left as it was.
_FACTS_SCRIPT = r"""
import json, os, platform, sys
floor = tuple(int(part) for part in sys.argv[1].split("."))
if sys.version_info[:2] < floor:
    print(json.dumps({"python": list(sys.version_info[:3])}))
    sys.exit(0)
is_node, sysctl_file, dirs = sys.argv[2] == "node", sys.argv[3], sys.argv[4:]
for path in dirs:
    os.makedirs(path, mode=0o755, exist_ok=True)
forwarding = persisted = None
if is_node:
    with open("/proc/sys/net/ipv4/ip_forward", "r+") as f:
        forwarding = f.read().strip() == "1"
        if not forwarding:
            f.seek(0)
            f.write("1")
    wanted = "# Written by raftkube setup: nodes route pod traffic.\nnet.ipv4.ip_forward = 1\n"
    if sysctl_file:
        try:
            with open(sysctl_file) as f:
                persisted = f.read() == wanted
        except FileNotFoundError:
            persisted = False
        if not persisted:
            with open(sysctl_file, "w") as f:
                f.write(wanted)
memory = 0
with open("/proc/meminfo") as f:
    for line in f:
        if line.startswith("MemTotal:"):
            memory = int(line.split()[1]) * 1024
os_image = "Linux"
try:
    with open("/etc/os-release") as f:
        for line in f:
            if line.startswith("PRETTY_NAME="):
                os_image = line.split("=", 1)[1].strip().strip('"')
except OSError:
    pass
print(json.dumps({
    "python": list(sys.version_info[:3]),
    "cpu": len(os.sched_getaffinity(0)),
    "memory": memory,
    "forwarding_was_on": forwarding,
    "forwarding_was_persisted": persisted,
    "systemd": os.path.isdir("/run/systemd/system") and open("/proc/1/comm").read().strip() == "systemd",
    "kernel": platform.release(),
    "architecture": platform.machine(),
    "os_image": os_image,
}))
"""


class HostNotReady(UserError):
    """The host lacks something raftkube needs (python3, a running Docker engine)."""


@dataclass(frozen=True)
class HostFacts:
    """What setup learned about a host: enough to register it as a Node and start services."""

    python: tuple[int, int, int]
    cpu: int
    memory: int
    systemd: bool
    forwarding_was_on: bool | None
    forwarding_was_persisted: bool | None
    kernel: str
    architecture: str
    os_image: str


@dataclass(frozen=True)
class Capacity:
    """A node's capacity as the Node object states it (Kubernetes quantities)."""

    cpu: str
    memory: str
    pods: str


def gather_facts(conn: fabric.Connection, host: Host) -> HostFacts:
    """Check python3, create raftkube's directories, turn on IP forwarding on nodes (and keep it on)."""
    role = "node" if host.is_node else "other"
    # Lab hosts share the machine's /etc: the lab sets forwarding in each namespace itself.
    sysctl_file = "" if "raftkube_lab" in host.vars else SYSCTL_FILE
    floor = MASTER_PYTHON if host.is_master else MIN_PYTHON
    argv = [host.python, "-c", _FACTS_SCRIPT, ".".join(map(str, floor)), role, sysctl_file, STATE_DIR, POD_DIR]
    try:
        result = run(conn, argv, timeout=30)
    except RemoteCommandFailed as exc:
        raise HostNotReady(f"host {host.name}: cannot run {host.python} ({exc})") from None
    try:
        facts = json.loads(result.stdout.strip().splitlines()[-1])
        version = tuple(facts["python"])
    except (IndexError, ValueError, KeyError, TypeError):
        raise HostNotReady(f"host {host.name}: {host.python} printed no facts: {result.stdout.strip()[-200:]!r}") from None
    if version[:2] < floor:
        role = "a master" if host.is_master else "raftkube"
        raise HostNotReady(f"host {host.name}: {host.python} is {'.'.join(map(str, version))}, {role} needs "
                           f"{'.'.join(map(str, floor))}+ (set ansible_python_interpreter)")
    return HostFacts(version, facts["cpu"], facts["memory"], facts["systemd"], facts["forwarding_was_on"],
                     facts["forwarding_was_persisted"], facts["kernel"], facts["architecture"], facts["os_image"])


def check_docker(conn: fabric.Connection, host: Host) -> str:
    """The version of the engine at the node's `raftkube_docker_host`; HostNotReady if it is silent."""
    argv = ["docker", "version", "--format", "{{.Server.Version}}"]
    try:
        result = run(conn, argv, env={"DOCKER_HOST": host.docker_host}, timeout=30)
    except RemoteCommandFailed as exc:
        raise HostNotReady(f"host {host.name}: the Docker engine at {host.docker_host} does not answer ({exc})") from None
    return result.stdout.strip()


def capacity(host: Host, facts: HostFacts) -> Capacity:
    """Read from the host, unless the inventory overrides it (raftkube_cpu/_memory/_max_pods)."""
    cpu = host.vars.get("raftkube_cpu", facts.cpu)
    memory = host.vars.get("raftkube_memory", f"{facts.memory // 1024}Ki")
    pods = host.vars.get("raftkube_max_pods", DEFAULT_MAX_PODS)
    return Capacity(str(cpu), str(memory), str(pods))

