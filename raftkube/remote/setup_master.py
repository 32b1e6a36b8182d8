"""Installing raftkube on a master host and keeping its master process running.

The package travels as a wheel of the running raftkube, keyed by a digest of its
source, into a venv of its own at /var/lib/raftkube/venvs/<digest>; hosts need no
internet. A new build never touches the venv a running master imports from: the master
moves to it when it is restarted, and older venvs go after that. The venv sees the
host's site-packages, so dependencies already there are used; when some are missing,
wheels of them built here are shipped too (`pip install --no-index --find-links`).
The master runs under systemd where systemd is PID 1, otherwise as a daemon started by
/var/lib/raftkube/master/start (which the lab also runs when it boots a host).
"""

import dataclasses
import hashlib
import logging
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

import fabric

import raftkube
from raftkube.errors import UserError
from raftkube.remote.hostprep import STATE_DIR, HostFacts
from raftkube.remote.inventory import Host, Inventory, ca_cert_file, master_cert_files, render_inventory
from raftkube.remote.ssh import RemoteCommandFailed, file_chunks, run, upload

log = logging.getLogger(__name__)

VENVS = f"{STATE_DIR}/venvs"
WHEELS = f"{STATE_DIR}/wheels"
MASTER_DIR = f"{STATE_DIR}/master"
CONFIG_MARK = f"{MASTER_DIR}/setup.sha256"
START_SCRIPT = f"{MASTER_DIR}/start"
PID_FILE = f"{MASTER_DIR}/master.pid"
LOG_FILE = f"{MASTER_DIR}/master.log"
REMOTE_INVENTORY = f"{STATE_DIR}/inventory.ini"
REMOTE_KNOWN_HOSTS = f"{REMOTE_INVENTORY}.known_hosts"
SSH_DIR = f"{STATE_DIR}/ssh"
# What holds secrets on a master is private to root (and so is every directory holding a
# 0600 file setup ships).
PRIVATE_DIRS = (STATE_DIR, SSH_DIR, MASTER_DIR)
# The only variables the masters read; the rest (ansible_password, become passwords, ...)
# stays on the machine that ran setup.
KEPT_VARS = {"ansible_host", "ansible_port", "ansible_user", "ansible_ssh_private_key_file",
             "ansible_private_key_file", "ansible_python_interpreter"}
UNIT_NAME = "raftkube-master.service"
UNIT_PATH = f"/etc/systemd/system/{UNIT_NAME}"
# Building dependency wheels may fetch from an index; a stalled one must not hang setup.
PIP_TIMEOUT = 900

# Fixed scripts: everything variable reaches them as argv or comes from the constants above.
_RUNNING = f"""
pid=$(cat {PID_FILE} 2>/dev/null) || exit 1
grep -qs raftkube "/proc/$pid/cmdline"
"""
_STOP = f"""
pid=$(cat {PID_FILE} 2>/dev/null) || exit 0
grep -qs raftkube "/proc/$pid/cmdline" || exit 0
kill "$pid"
for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || exit 0; sleep 0.2; done
kill -9 "$pid"
"""


class InstallError(UserError):
    """raftkube could not be packaged here or installed on a host."""


class Wheelhouse:
    """The running raftkube as a wheel, built once per source digest; dependency wheels on demand.

    Cached under ~/.cache/raftkube: raftkube builds by source digest (older than a day
    are pruned), dependency wheels by the dependency list and this Python's version.
    """

    def __init__(self, cache_dir: Path | None = None):
        self.source = Path(raftkube.__file__).resolve().parent.parent
        if not (self.source / "pyproject.toml").is_file():
            raise InstallError(f"raftkube runs from {self.source}, not a source tree: cannot build its wheel")
        self.digest = _source_digest(self.source)
        project = tomllib.loads((self.source / "pyproject.toml").read_text())["project"]
        self.version = project["version"]
        self.python = f"{sys.version_info.major}.{sys.version_info.minor}"
        cache = cache_dir or Path.home() / ".cache" / "raftkube"
        self._builds = cache / "builds"
        deps_key = hashlib.sha256(f"{self.python} {platform.machine()} {project['dependencies']}".encode())
        self._deps = cache / "deps" / deps_key.hexdigest()[:16]
        self._lock = threading.Lock()

    def raftkube_wheel(self) -> Path:
        here = self._builds / self.digest[:16]
        with self._lock:
            if not here.is_dir():
                self._prune()
                self._build(here, ["--no-deps", str(self.source)])
        return next(here.glob("raftkube-*.whl"))

    def dependency_wheels(self) -> list[Path]:
        """Wheels of every dependency, for this machine's Python (hosts must run the same)."""
        wheel = self.raftkube_wheel()
        with self._lock:
            if not self._deps.is_dir():
                self._build(self._deps, [str(wheel)])
        return sorted(p for p in self._deps.glob("*.whl") if not p.name.startswith("raftkube-"))

    def _build(self, target: Path, args: list[str]) -> None:
        """`pip wheel` into a fresh directory renamed into place: concurrent setups never see half a build."""
        target.parent.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=".build-", dir=target.parent))
        try:
            self._pip(["wheel", "-q", "-w", str(scratch), *args])
            scratch.rename(target)
        except OSError:
            if not target.is_dir():  # not merely another process finishing first
                raise
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def _prune(self) -> None:
        for old in self._builds.glob("*") if self._builds.is_dir() else []:
            if time.time() - old.stat().st_mtime > 86400:
                shutil.rmtree(old, ignore_errors=True)

    def _pip(self, args: list[str]) -> None:
        argv = [sys.executable, "-m", "pip", *args]
        log.info("building wheels: %s", shlex.join(argv))
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=PIP_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise InstallError(f"`pip {' '.join(args[:1])}` building raftkube's wheels took over {PIP_TIMEOUT}s") from None
        if done.returncode != 0:
            tail = (done.stderr.strip() or done.stdout.strip()).splitlines()[-1:]
            raise InstallError(f"`pip {' '.join(args[:1])}` failed building raftkube's wheels: {' '.join(tail)}")


def _source_digest(source: Path) -> str:
    h = hashlib.sha256()
    files = [source / "pyproject.toml", *(source / "raftkube").rglob("*")]
    for path in sorted(p for p in files if p.is_file() and "__pycache__" not in p.parts):
        h.update(str(path.relative_to(source)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def install_raftkube(conn: fabric.Connection, host: Host, wheelhouse: Wheelhouse) -> str:
    """Make the host's venv hold exactly this raftkube; a no-op when its digest matches."""
    venv = venv_dir(wheelhouse.digest)
    mark = f"{venv}/raftkube-build"
    if run(conn, ["cat", mark], check=False).stdout.strip() == wheelhouse.digest:
        return f"raftkube {wheelhouse.version} already installed"
    # No mark: nothing, or what an interrupted run left; start over.
    run(conn, ["rm", "-rf", venv])
    own_pip = _make_venv(conn, host, venv)
    wheel = wheelhouse.raftkube_wheel()
    here = f"{WHEELS}/{wheelhouse.digest[:16]}"
    upload(conn, f"{here}/{wheel.name}", file_chunks(wheel))
    pip = [f"{venv}/bin/python", "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-index", "--find-links", here]
    # Dependencies: those in the host's site-packages satisfy pip; ship wheels only if some are missing.
    shipped = []

    def installs() -> bool:
        return run(conn, [*pip, f"{here}/{wheel.name}"], timeout=300, check=False).exited == 0

    installed = installs()
    if not installed and not own_pip:
        # The host's pip may be one for another Python or too old for these wheels: the
        # venv's own (ensurepip's) gets a try before wheels are built and shipped.
        _ensure_pip(conn, host, venv)
        installed = installs()
    if not installed:
        shipped = wheelhouse.dependency_wheels()
        for dep in shipped:
            upload(conn, f"{here}/{dep.name}", file_chunks(dep))
        try:
            run(conn, [*pip, f"{here}/{wheel.name}"], timeout=600)
        except RemoteCommandFailed as exc:
            raise InstallError(f"host {host.name}: cannot install raftkube's dependencies from wheels built "
                               f"here for Python {wheelhouse.python} on {platform.machine()} ({exc})") from None
    upload(conn, mark, wheelhouse.digest.encode() + b"\n")
    _remove_all_but(conn, WHEELS, Path(here).name)
    return f"raftkube {wheelhouse.version} installed" + (f" with {len(shipped)} dependency wheels" if shipped else "")


def _make_venv(conn: fabric.Connection, host: Host, venv: str) -> bool:
    """A venv over the host's site-packages, with pip only if the host has none; whether
    the venv has a pip of its own.

    `venv` puts a copy of pip in every venv through ensurepip, which costs seconds of CPU
    on each master; the host's own pip, seen through the system site-packages, installs
    into the venv just as well.
    """
    run(conn, [host.python, "-m", "venv", "--system-site-packages", "--without-pip", venv], timeout=120)
    if run(conn, [f"{venv}/bin/python", "-m", "pip", "--version"], check=False).exited == 0:
        return False
    _ensure_pip(conn, host, venv)
    return True


def _ensure_pip(conn: fabric.Connection, host: Host, venv: str) -> None:
    try:
        run(conn, [f"{venv}/bin/python", "-m", "ensurepip", "--default-pip"], timeout=300)
    except RemoteCommandFailed as exc:
        raise InstallError(f"host {host.name}: {host.python} has neither pip nor ensurepip to install raftkube "
                           f"with (install the python3-pip or python3-venv package there): {exc}") from None


@dataclass(frozen=True)
class MasterConfig:
    """Every file a master reads, as it should be on the host.

    `files` are read at start, so a change in them (or in the installed raftkube, all
    under `digest`) means a restart; the known hosts are read at each SSH connect, so a
    change there is just shipped.
    """

    files: dict[str, tuple[bytes, int]]  # host path -> (content, mode)
    digest: str
    known_hosts: bytes
    wheel_digest: str

    @property
    def mark(self) -> str:
        """What the host keeps to tell, next run, whether anything changed."""
        return f"{self.digest} {hashlib.sha256(self.known_hosts).hexdigest()}"


def kept_vars(host: Host) -> Host:
    """The host with only the variables raftkube reads (ansible_* connection ones, raftkube_*)."""
    return dataclasses.replace(host, vars={key: value for key, value in host.vars.items()
                                           if key in KEPT_VARS or key.startswith("raftkube_")})


def master_config(inventory: Inventory, host: Host, token: str, raft_secret: str, wheel_digest: str) -> MasterConfig:
    """The master's inventory copy, token, Raft secret, known hosts and ssh keys (it drives the hosts too)."""
    key_files = {}
    files: dict[str, tuple[bytes, int]] = {}
    for path in sorted({h.key_file for h in inventory.hosts.values() if h.key_file}):
        try:
            content = Path(path).read_bytes()
        except OSError as exc:
            raise UserError(f"cannot read ssh key file {path} to copy to the masters: {exc.strerror}") from None
        remote = f"{SSH_DIR}/{hashlib.sha256(content).hexdigest()[:12]}-{Path(path).name}"
        key_files[path] = remote
        files[remote] = (content, 0o600)
    rendered = render_inventory([kept_vars(h) for h in inventory.hosts.values()], key_files)
    known_hosts = inventory.known_hosts_path.read_bytes() if inventory.known_hosts_path.exists() else b""
    files[REMOTE_INVENTORY] = (rendered.encode(), 0o600)
    files[f"{REMOTE_INVENTORY}.token"] = (token.encode() + b"\n", 0o600)
    files[f"{REMOTE_INVENTORY}.raft-secret"] = (raft_secret.encode() + b"\n", 0o600)
    files[START_SCRIPT] = (_start_script(host, wheel_digest).encode(), 0o755)
    # https: the CA (a master forwards some requests to the leader) and its own certificate.
    cert, key = inventory.master_cert_paths(host.name)
    remote_cert, remote_key = master_cert_files(REMOTE_INVENTORY, host.name)
    for local, there, mode in ((inventory.ca_cert_path, ca_cert_file(REMOTE_INVENTORY), 0o644),
                               (cert, remote_cert, 0o644), (key, remote_key, 0o600)):
        try:
            files[str(there)] = (local.read_bytes(), mode)
        except OSError as exc:
            raise UserError(f"cannot read {local} to copy to the masters: {exc.strerror}") from None
    h = hashlib.sha256(wheel_digest.encode())
    for path, (content, mode) in sorted(files.items()):
        h.update(f"{path}\0{mode}\0".encode() + content + b"\0")
    return MasterConfig(files, h.hexdigest(), known_hosts, wheel_digest)


def venv_dir(digest: str) -> str:
    return f"{VENVS}/{digest[:16]}"


def _remove_all_but(conn: fabric.Connection, directory: str, keep: str) -> None:
    run(conn, ["find", directory, "-mindepth", "1", "-maxdepth", "1", "!", "-name", keep, "-exec", "rm", "-rf", "{}", "+"])


def _master_argv(host: Host, digest: str) -> list[str]:
    return [f"{venv_dir(digest)}/bin/raftkube", "master", "-i", REMOTE_INVENTORY, "--name", host.name]


def _start_script(host: Host, digest: str) -> str:
    """The daemon's start command, also what the lab runs when it "boots" the host."""
    command = shlex.join(_master_argv(host, digest))
    return f"""#!/bin/sh
# Written by `raftkube setup`: starts this host's raftkube master in the background,
# detached from whoever runs this script (setsid, stdin from /dev/null, output to a log).
pid=$(cat {PID_FILE} 2>/dev/null) && grep -qs raftkube "/proc/$pid/cmdline" && exit 0
cd /
setsid {command} </dev/null >>{LOG_FILE} 2>&1 &
echo $! >{PID_FILE}
"""


def _unit(host: Host, digest: str) -> str:
    return f"""[Unit]
Description=raftkube master {host.name}
After=network-online.target
Wants=network-online.target

[Service]
ExecStart={shlex.join(_master_argv(host, digest))}
Restart=always
RestartSec=2

[Install]
WantedBy=multi-user.target
"""


def service_manager(host: Host, facts: HostFacts) -> str:
    """"systemd" or "daemon": `raftkube_service_manager` decides, else whether systemd is PID 1.

    Lab hosts (`raftkube_lab` set) share the machine's PID 1 and /etc: never systemd there.
    """
    chosen = chosen_service_manager(host)
    if chosen is None:
        return "daemon" if "raftkube_lab" in host.vars or not facts.systemd else "systemd"
    return chosen


def chosen_service_manager(host: Host) -> str | None:
    """The inventory's `raftkube_service_manager`, checked; None leaves it to the host."""
    chosen = host.vars.get("raftkube_service_manager")
    if chosen is not None and chosen not in ("systemd", "daemon"):
        raise UserError(f"host {host.name}: raftkube_service_manager must be systemd or daemon, got {chosen!r}")
    return chosen


def ensure_master(conn: fabric.Connection, host: Host, facts: HostFacts, config: MasterConfig,
                  running: bool) -> tuple[str, bool]:
    """Ship the master's files and (re)start it when they changed; leave a running one alone.

    `running` is whether the master runs, as `master_running` found before.
    Returns the line to show and whether a running master was restarted.
    """
    current = run(conn, ["cat", CONFIG_MARK], check=False).stdout.strip()
    changed = current.split(" ")[0] != config.digest
    if changed:
        for path, (content, mode) in config.files.items():
            upload(conn, path, content, mode)
    private = sorted({*PRIVATE_DIRS, *(str(Path(path).parent) for path, (_, mode) in config.files.items() if mode == 0o600)})
    run(conn, ["mkdir", "-p", *private])
    run(conn, ["chmod", "700", *private])
    if current != config.mark:
        upload(conn, REMOTE_KNOWN_HOSTS, config.known_hosts, 0o644)
    if service_manager(host, facts) == "systemd":
        message = _ensure_unit(conn, host, config.wheel_digest, changed, running)
    else:
        message = _ensure_daemon(conn, changed, running)
    if current != config.mark:
        upload(conn, CONFIG_MARK, config.mark.encode() + b"\n")
    if changed:  # the master now runs from the current venv; older ones are unused
        _remove_all_but(conn, VENVS, Path(venv_dir(config.wheel_digest)).name)
    return message


def master_running(conn: fabric.Connection, host: Host, facts: HostFacts) -> bool:
    """Whether the host's master runs now (starting it again would be a restart)."""
    if service_manager(host, facts) == "systemd":
        return run(conn, ["systemctl", "is-active", "--quiet", UNIT_NAME], check=False).exited == 0
    return run(conn, ["sh", "-c", _RUNNING], check=False).exited == 0


def _ensure_daemon(conn: fabric.Connection, changed: bool, running: bool) -> tuple[str, bool]:
    if running and not changed:
        return "master already running", False
    if running:
        run(conn, ["sh", "-c", _STOP], timeout=30)
    run(conn, [START_SCRIPT], timeout=30)
    return ("master restarted with the new configuration", True) if running else ("master started", False)


def _ensure_unit(conn: fabric.Connection, host: Host, digest: str, changed: bool, running: bool) -> tuple[str, bool]:
    if changed:
        upload(conn, UNIT_PATH, _unit(host, digest).encode(), 0o644)
        run(conn, ["systemctl", "daemon-reload"])
        run(conn, ["systemctl", "enable", UNIT_NAME])
    if running and not changed:
        return "master already running", False
    run(conn, ["systemctl", "restart", UNIT_NAME], timeout=60)
    return ("master restarted with the new configuration", True) if running else ("master started", False)


def master_log_tail(conn: fabric.Connection, host: Host, facts: HostFacts, lines: int = 5) -> str:
    """The last lines the master wrote, to explain a master that does not come up."""
    if service_manager(host, facts) == "systemd":
        argv = ["journalctl", "-u", UNIT_NAME, "-n", str(lines), "--no-pager", "-o", "cat"]
    else:
        argv = ["tail", "-n", str(lines), LOG_FILE]
    try:
        return run(conn, argv, check=False, timeout=10).stdout.strip()
    except RemoteCommandFailed:
        return ""
