"""One lab host: a network namespace, a mount namespace and a cgroup on this machine.

A lab host must look like a separate machine to everything that talks to it over SSH:
its own addresses (network namespace), its own `/var/lib/raftkube` (a mount namespace in
which that directory is the host's private one) and a way to pull its plug (every process
it runs sits in one cgroup, so `kill_all` can freeze and kill them together, Docker's
containers included, which dockerd puts below the same cgroup with `--cgroup-parent`).
Everything else (python3, its site-packages, /usr) is the machine's own filesystem,
except root's shell startup file: this machine's (pyenv init and the like) would run at
every SSH command, costing a fraction of a second each, and a rehash lock it leaves when
a lab host is killed mid-command would stall every later SSH session on the machine.
"""

import logging
import os
import signal
import subprocess
import time
from pathlib import Path

log = logging.getLogger(__name__)

NETNS_DIR = Path("/run/netns")
RUN_DIR = Path("/run/raftkube-lab")
CGROUP_ROOT = Path("/sys/fs/cgroup")
# pids tracks every process; freezer stops them forking while we kill them.
CGROUP_CONTROLLERS = ("pids", "freezer")
# What a real host has of its own and the machine's filesystem must not share between
# lab hosts: raftkube's state, and /etc/docker (dockerd derives its engine ID from a key there).
PRIVATE_DIRS = ("/var/lib/raftkube", "/etc/docker")
# What a non-interactive SSH command's bash reads, shadowed by the host's own (a comment line).
SHADOWED_FILES = ("/root/.bashrc",)


class Sandbox:
    """The kernel objects that make one lab host: netns, mount ns file, cgroups."""

    def __init__(self, lab: str, host: str, host_dir: Path):
        self.lab = lab
        self.host = host
        self.host_dir = host_dir
        self.netns_name = f"rk-{lab}-{host}"
        self.netns_path = NETNS_DIR / self.netns_name
        self.mntns_path = RUN_DIR / lab / f"{host}.mnt"
        self.utsns_path = RUN_DIR / lab / f"{host}.uts"
        self.cgroup = f"raftkube-lab/{lab}/{host}"

    # -- creation ---------------------------------------------------------------

    def create_namespaces(self) -> None:
        """Persistent mount and UTS namespaces: the PRIVATE_DIRS are this host's own
        (under host_dir), and `hostname` says the host's name."""
        _ensure_private_run_dir()
        self.mntns_path.parent.mkdir(parents=True, exist_ok=True)
        self.mntns_path.touch()
        self.utsns_path.touch()
        subprocess.run(["unshare", f"--mount={self.mntns_path}", f"--uts={self.utsns_path}",
                        "--propagation", "private", "true"], check=True)
        for target in PRIVATE_DIRS:
            source = self.private_source(target)
            source.mkdir(parents=True, exist_ok=True)
            Path(target).mkdir(parents=True, exist_ok=True)
            self._bind(source, target)
        for target in SHADOWED_FILES:
            if Path(target).is_file():
                own = self.host_dir / Path(target).name
                own.write_text(f"# {self.host}'s own {target}, written by `raftkube lab up`: the machine's stays out.\n")
                self._bind(own, target)
        subprocess.run(["nsenter", f"--uts={self.utsns_path}", "hostname", self.host], check=True)

    def _bind(self, source: Path, target: str) -> None:
        subprocess.run(["nsenter", f"--mount={self.mntns_path}", "mount", "--bind", str(source), target],
                       check=True, capture_output=True, text=True)

    def private_source(self, target: str) -> Path:
        """Where this host's own copy of a PRIVATE_DIRS entry lives on the machine."""
        return self.host_dir / "root" / target.strip("/").replace("/", "_")

    def create_cgroups(self) -> None:
        for controller in CGROUP_CONTROLLERS:
            (CGROUP_ROOT / controller / self.cgroup).mkdir(parents=True, exist_ok=True)

    # -- running things inside --------------------------------------------------

    def enter_argv(self, argv: list[str]) -> list[str]:
        """argv prefixed so that it runs inside this host's namespaces."""
        return ["nsenter", f"--net={self.netns_path}", f"--mount={self.mntns_path}",
                f"--uts={self.utsns_path}", "--", *argv]

    def _join_cgroup(self) -> None:
        """Runs in the child before exec: whatever runs inside the host is the host's."""
        for controller in CGROUP_CONTROLLERS:
            (CGROUP_ROOT / controller / self.cgroup / "cgroup.procs").write_text("0")

    def spawn(self, argv: list[str], log_file: Path, env: dict | None = None) -> subprocess.Popen:
        """Start a long-lived process inside the host; it outlives the caller."""
        with open(log_file, "ab") as out:
            return subprocess.Popen(
                self.enter_argv(argv), stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                start_new_session=True, preexec_fn=self._join_cgroup, env=env,
            )

    def run(self, argv: list[str], env: dict | None = None, **kwargs) -> subprocess.CompletedProcess:
        """Run argv inside the host and wait; `stop` and `down` kill it with the host."""
        return subprocess.run(self.enter_argv(argv), env=env, preexec_fn=self._join_cgroup, **kwargs)

    # -- pulling the plug -------------------------------------------------------

    def pids(self) -> list[int]:
        pids: set[int] = set()
        base = CGROUP_ROOT / "pids" / self.cgroup
        if base.is_dir():
            for procs in base.rglob("cgroup.procs"):
                try:
                    pids.update(int(p) for p in procs.read_text().split())
                except OSError:
                    continue
        return sorted(pids)

    def kill_all(self, timeout: float = 10.0) -> None:
        """Kill every process of this host at once, like pulling its power cord."""
        freezer = CGROUP_ROOT / "freezer" / self.cgroup / "freezer.state"
        frozen = _write_quietly(freezer, "FROZEN")
        deadline = time.monotonic() + timeout
        while True:
            pids = self.pids()
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            if frozen:
                _write_quietly(freezer, "THAWED")
            if time.monotonic() > deadline:
                raise RuntimeError(f"lab host {self.host}: processes {pids} survive SIGKILL")
            time.sleep(0.05)
        if frozen:
            _write_quietly(freezer, "THAWED")

    def power_off(self) -> None:
        """Kill everything and drop the mount namespace: its mounts vanish as at a reboot."""
        self.kill_all()
        for ns_file in (self.mntns_path, self.utsns_path):
            if ns_file.exists():
                subprocess.run(["umount", str(ns_file)], capture_output=True)
                ns_file.unlink(missing_ok=True)

    # -- removal ----------------------------------------------------------------

    def destroy(self) -> None:
        """Remove the namespaces and cgroups, killing whatever still runs."""
        self.power_off()
        if self.netns_path.exists():
            subprocess.run(["ip", "netns", "delete", self.netns_name], capture_output=True)
        for tree in CGROUP_ROOT.glob(f"*/{self.cgroup}"):
            remove_cgroup_tree(tree)


def remove_cgroup_tree(path: Path) -> None:
    """rmdir a cgroup and its children, deepest first (cgroups cannot be rm -r'd)."""
    if not path.is_dir():
        return
    for child in sorted((p for p in path.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
        try:
            child.rmdir()
        except OSError as exc:
            log.debug("cgroup %s stays: %s", child, exc)
    try:
        path.rmdir()
    except OSError as exc:
        log.debug("cgroup %s stays: %s", path, exc)


def _write_quietly(path: Path, value: str) -> bool:
    try:
        path.write_text(value)
        return True
    except OSError:
        return False


def _ensure_private_run_dir() -> None:
    """Mount-namespace files may only be bind-mounted on a private mount (else EINVAL)."""
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    if subprocess.run(["mountpoint", "-q", str(RUN_DIR)]).returncode != 0:
        subprocess.run(["mount", "--bind", str(RUN_DIR), str(RUN_DIR)], check=True)
        subprocess.run(["mount", "--make-private", str(RUN_DIR)], check=True)
