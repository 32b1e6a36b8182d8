"""SSH connections to inventory hosts, with host keys checked against the inventory's file.

Hosts are trusted the way `ssh -o StrictHostKeyChecking=accept-new` trusts them: `raftkube
setup` records each host's key on first contact in `Inventory.known_hosts_path`; from then
on a different key is refused, and everything but setup refuses unknown hosts too. The
user's ~/.ssh/known_hosts and ~/.ssh/config are not consulted, so what the inventory says
is exactly what is used.
"""

import errno
import fcntl
import logging
import os
import shlex
import socket
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import fabric
import paramiko
from invoke.exceptions import CommandTimedOut, UnexpectedExit

from raftkube.errors import UserError
from raftkube.remote.inventory import Host

log = logging.getLogger(__name__)
# paramiko logs a full traceback for every failed connect; the errors below say it in a line.
logging.getLogger("paramiko.transport").setLevel(logging.CRITICAL)

CONNECT_TIMEOUT = 10.0


class HostUnreachable(UserError):
    """No SSH session could be opened to a host (down, refused, timed out, not sshd)."""


class HostKeyChanged(UserError):
    """The host presented a key other than the one recorded for it: maybe an impostor."""


class HostKeyUnknown(UserError):
    """No key is recorded for the host yet and this caller may not record one."""


class HostLoginFailed(UserError):
    """sshd answered but refused our user and key."""


class RemoteCommandFailed(UserError):
    """A command run on a host over SSH exited non-zero or timed out."""


# Serialises known_hosts writers within this process; flock does the same across processes.
_record_lock = threading.Lock()


def describe(host: Host) -> str:
    """How messages name a host: `node1 (10.0.0.5:22)`."""
    return f"{host.name} ({host.address}:{host.port})"


def known_hosts_name(host: Host) -> str:
    """The known_hosts entry name paramiko (and OpenSSH) look up for this host."""
    return host.address if host.port == 22 else f"[{host.address}]:{host.port}"


def load_known_hosts(path: Path) -> paramiko.HostKeys:
    """The recorded keys, read afresh so records made by another process are seen."""
    keys = paramiko.HostKeys()
    if path.exists():
        try:
            keys.load(str(path))
        except (OSError, paramiko.hostkeys.InvalidHostKey) as exc:
            raise UserError(f"cannot read known hosts file {path}: {exc}") from None
    return keys


def _record(path: Path, host: Host, key: paramiko.PKey) -> None:
    """Append the host's key unless an equal one is there; refuse if a different one is."""
    name = known_hosts_name(host)
    with _record_lock, open(path, "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        recorded = load_known_hosts(path).lookup(name)
        if recorded is not None:
            if recorded.get(key.get_name()) != key:
                raise _changed(host, key, path)
            return
        f.write(paramiko.hostkeys.HostKeyEntry([name], key).to_line())
    log.info("recorded %s key of %s in %s", key.get_name(), describe(host), path)


def _changed(host: Host, key: paramiko.PKey, path: Path) -> HostKeyChanged:
    return HostKeyChanged(
        f"host {describe(host)} presented a different {key.get_name()} key than the one recorded in "
        f"{path}; if the host was reinstalled, remove its line ({known_hosts_name(host)})"
    )


class _AcceptNewPolicy(paramiko.MissingHostKeyPolicy):
    """Called by paramiko only when no key is recorded for the host: record it, or refuse."""

    def __init__(self, host: Host, known_hosts: Path, accept_new: bool):
        self.host, self.known_hosts, self.accept_new = host, known_hosts, accept_new

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        if not self.accept_new:
            raise HostKeyUnknown(
                f"host {describe(self.host)} has no key recorded in {self.known_hosts}; "
                "run `raftkube setup -i INVENTORY` to record it"
            )
        _record(self.known_hosts, self.host, key)


def connect(host: Host, known_hosts: str | Path, accept_new: bool = False, timeout: float = CONNECT_TIMEOUT) -> fabric.Connection:
    """An open fabric Connection to `host`, its key checked against `known_hosts`.

    Raises HostKeyChanged, HostKeyUnknown (unless `accept_new`), HostUnreachable or
    HostLoginFailed. With a key file in the inventory only that key is offered; without
    one, ssh's defaults apply (the agent and ~/.ssh/id_*), as with Ansible.
    """
    known_hosts = Path(known_hosts)
    if host.key_file is not None and not os.path.isfile(host.key_file):
        raise UserError(f"host {host.name}: ssh key file {host.key_file} does not exist")
    connect_kwargs = {"banner_timeout": timeout, "auth_timeout": timeout, "channel_timeout": timeout}
    if host.key_file is not None:
        connect_kwargs |= {"key_filename": host.key_file, "allow_agent": False, "look_for_keys": False}
    conn = fabric.Connection(
        host=host.address,
        user=host.user,
        port=host.port,
        # An explicit empty ssh config: ~/.ssh/config must not rewrite what the inventory says.
        config=fabric.Config(ssh_config=paramiko.SSHConfig()),
        connect_timeout=int(max(1, timeout)),
        connect_kwargs=connect_kwargs,
    )
    # Fabric installs AutoAddPolicy; replace it before anything can connect.
    conn.client.set_missing_host_key_policy(_AcceptNewPolicy(host, known_hosts, accept_new))
    for name, keys in load_known_hosts(known_hosts).items():
        for key in keys.values():
            conn.client.get_host_keys().add(name, key.get_name(), key)
    try:
        conn.open()
    except paramiko.BadHostKeyException as exc:
        conn.client.close()
        raise _changed(host, exc.key, known_hosts) from None
    except paramiko.AuthenticationException as exc:
        conn.client.close()
        raise HostLoginFailed(f"host {describe(host)} refused ssh login as {host.user}: {exc}") from None
    except (paramiko.SSHException, OSError, EOFError) as exc:
        conn.client.close()
        raise HostUnreachable(f"host {describe(host)} is unreachable: {_reason(exc)}") from None
    except UserError:
        conn.client.close()
        raise
    log.debug("connected to %s", describe(host))
    return conn


def _reason(exc: BaseException) -> str:
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timed out"
    if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError):
        refused = all(getattr(e, "errno", None) == errno.ECONNREFUSED for e in exc.errors.values())
        return "connection refused" if refused else str(exc)
    return str(exc) or type(exc).__name__


def command_line(argv: Sequence[str], env: Mapping[str, str] | None = None) -> str:
    """The one way a remote command line is built: quoted argv, env passed through `env`."""
    prefix = ["env", *(f"{k}={v}" for k, v in env.items())] if env else []
    return shlex.join([*prefix, *argv])


def run(
    conn: fabric.Connection,
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = 60,
    check: bool = True,
    in_stream=False,
):
    """Run argv on the host and return fabric's Result; RemoteCommandFailed when it fails."""
    line = command_line(argv, env)
    try:
        result = conn.run(line, hide=True, warn=not check, in_stream=in_stream, timeout=timeout)
    except (OSError, EOFError, paramiko.SSHException) as exc:
        raise _failed(conn, argv, _reason(exc)) from None
    except UnexpectedExit as exc:
        raise _failed(conn, argv, _last_line(exc.result.stdout, exc.result.stderr, exc.result.exited)) from None
    except CommandTimedOut:
        raise RemoteCommandFailed(f"{conn.host}: `{shlex.join(argv)}` timed out after {timeout:g}s") from None
    return result


def feed(
    conn: fabric.Connection,
    argv: Sequence[str],
    chunks: Iterable[bytes],
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = 300,
) -> str:
    """Run argv on the host with `chunks` streamed to its stdin; its stdout, or RemoteCommandFailed.

    A raw paramiko channel rather than `run(in_stream=...)`: invoke reads input streams a
    byte at a time, far too slow for wheels and image tarballs.
    """
    line = command_line(argv, env)
    try:
        channel = conn.client.get_transport().open_session(timeout=timeout)
    except (OSError, EOFError, paramiko.SSHException) as exc:
        raise _failed(conn, argv, _reason(exc)) from None
    try:
        channel.settimeout(timeout)
        channel.exec_command(line)
        for chunk in chunks:
            channel.sendall(chunk)
        channel.shutdown_write()
        stdout = channel.makefile("rb").read().decode(errors="replace")
        stderr = channel.makefile_stderr("rb").read().decode(errors="replace")
        status = channel.recv_exit_status()
    except (OSError, EOFError, paramiko.SSHException) as exc:
        raise _failed(conn, argv, _reason(exc)) from None
    finally:
        channel.close()
    if status != 0:
        raise _failed(conn, argv, _last_line(stdout, stderr, status))
    return stdout


def _failed(conn: fabric.Connection, argv: Sequence[str], detail: str) -> RemoteCommandFailed:
    return RemoteCommandFailed(f"{conn.host}: `{shlex.join(argv)}` failed: {detail}")


def _last_line(stdout: str, stderr: str, status: int) -> str:
    """What a failed command said last (stderr first), or its exit status if it said nothing."""
    detail = (stderr.strip() or stdout.strip()).splitlines()
    return detail[-1] if detail else f"exit status {status}"


def file_chunks(path: str | Path, size: int = 1 << 18) -> Iterable[bytes]:
    """A local file in pieces, for `feed`."""
    with open(path, "rb") as f:
        while chunk := f.read(size):
            yield chunk


# Writes stdin to "$1" atomically with mode "$2": fixed text, the path and mode come as argv.
_UPLOAD_SCRIPT = 'set -e; mkdir -p "$(dirname "$1")"; umask 077; tmp="$1.tmp.$$"; cat >"$tmp"; chmod "$2" "$tmp"; mv -f "$tmp" "$1"'


def upload(conn: fabric.Connection, remote_path: str, data: bytes | Iterable[bytes], mode: int = 0o644) -> None:
    """Write a file on the host (replacing it atomically); no sftp needed, only sh and cat."""
    chunks = [data] if isinstance(data, bytes) else data
    feed(conn, ["sh", "-c", _UPLOAD_SCRIPT, "sh", remote_path, f"{mode:o}"], chunks)
