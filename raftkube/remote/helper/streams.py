"""Streaming logs and interactive exec over the helper's request/answer channel.

The channel carries one JSON answer per request, so a stream becomes a session the
leader polls: `logs_read` returns what a container wrote after a cursor (the last
line's Docker timestamp), and `exec_start` starts a process whose output a reader
thread buffers until `exec_read` collects it; `exec_write` feeds its stdin (and can
close it), `exec_resize` sizes its terminal. Bytes travel base64-encoded. A session
nobody polls for `SESSION_IDLE` seconds is closed (the leader or the user went away).
"""

from __future__ import annotations

import base64
import itertools
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

from raftkube.remote.helper.errors import BadRequest, NotFound, OpError

SESSION_IDLE = 300.0
MAX_READ = 1 << 20  # per answer: a JSON line of a few MiB at most


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@dataclass
class _Session:
    exec_id: str
    sock: socket.socket
    tty: bool
    stdout: bytearray = field(default_factory=bytearray)
    stderr: bytearray = field(default_factory=bytearray)
    ended: bool = False
    used: float = field(default_factory=time.monotonic)
    changed: threading.Condition = field(default_factory=threading.Condition)


class Streams:
    """Log and exec sessions on one Docker engine (`runtime` finds the containers)."""

    def __init__(self, runtime):
        self._runtime = runtime
        self._sessions: dict[str, _Session] = {}
        self._lock = threading.Lock()
        self._ids = itertools.count(1)

    # -- logs ---------------------------------------------------------------------------

    def logs_read(self, uid: str, container: str, tail: int | None = None, since: float | None = None,
                  after: str | None = None, timestamps: bool = False, previous: bool = False) -> dict:
        """What the container wrote: the last `tail` lines, or since `since` (Unix seconds), or
        after the cursor `after` (from an earlier answer). Returns {data, cursor, running}."""
        with self._runtime._docker():
            found = self._runtime._container(uid, container)
            found.reload()
            options = {"stdout": True, "stderr": True, "timestamps": True}
            state = found.attrs.get("State", {})
            if previous:
                with self._runtime._memory_lock:
                    restarts = self._runtime._restarts(uid).get(container, {}).get("count", 0)
                if not restarts:
                    raise NotFound(f'previous terminated container "{container}" in pod not found')
                # Restarts reuse the container: the previous run is what came before this start.
                options["until"] = _docker_seconds(state.get("StartedAt"))
            if after:
                options["since"] = max(_docker_seconds(after) - 1.0, 0.0)
            elif since is not None:
                options["since"] = float(since)
            elif tail is not None and tail >= 0:
                options["tail"] = tail
            asked_at = time.time()
            raw = found.logs(**options)
        lines = raw.splitlines(keepends=True)
        out = bytearray()
        cursor = after
        for line in lines:
            stamp, _, text = line.partition(b" ")
            stamp_text = stamp.decode(errors="replace")
            if after and stamp_text <= after:
                continue
            if len(out) + len(line) > MAX_READ:
                if not out:  # one line longer than a read: its start, and the next read goes on after it
                    out += (line if timestamps else text)[:MAX_READ]
                    cursor = stamp_text
                break
            out += line if timestamps else text
            cursor = stamp_text
        if not lines and not after:  # nothing written yet (or `--tail 0`): the next read starts from now
            cursor = _docker_stamp(asked_at)
        return {"data": _b64(bytes(out)), "cursor": cursor, "running": state.get("Running", False)}

    # -- exec ---------------------------------------------------------------------------

    def exec_start(self, uid: str, container: str, argv: list[str], tty: bool = False,
                   stdin: bool = False) -> dict:
        """Start argv (no shell) in the container; returns {session}."""
        if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
            raise BadRequest("exec_start: argv must be a non-empty list of strings")
        self._expire()
        api = self._runtime.client.api
        with self._runtime._docker():
            found = self._runtime._container(uid, container)
            if found.status != "running":
                raise OpError(f"container {container} is not running")
            exec_id = api.exec_create(found.id, argv, stdin=stdin, tty=tty, stdout=True, stderr=True)["Id"]
            sock = api.exec_start(exec_id, tty=tty, socket=True)
        raw = getattr(sock, "_sock", sock)
        session = _Session(exec_id, raw, tty)
        name = f"x{next(self._ids)}"
        with self._lock:
            self._sessions[name] = session
        threading.Thread(target=self._pump, args=(session,), name=f"exec-{name}", daemon=True).start()
        return {"session": name}

    def exec_write(self, session: str, data: str = "", close: bool = False) -> dict:
        """Feed stdin (base64); `close` closes it (the process sees end of input)."""
        found = self._session(session)
        try:
            if data:
                found.sock.sendall(base64.b64decode(data))
            if close:
                found.sock.shutdown(socket.SHUT_WR)
        except OSError as exc:
            if not found.ended:
                raise OpError(f"exec stdin: {exc}") from None
        return {"ok": True}

    def exec_read(self, session: str, wait: float = 0.5) -> dict:
        """Output since the last read (waiting up to `wait` s for some); exit_code once it ended."""
        found = self._session(session)
        with found.changed:
            if not (found.stdout or found.stderr or found.ended):
                found.changed.wait(min(max(wait, 0.0), 5.0))
            stdout, stderr = bytes(found.stdout[:MAX_READ]), bytes(found.stderr[:MAX_READ])
            del found.stdout[:len(stdout)]
            del found.stderr[:len(stderr)]
            drained = found.ended and not found.stdout and not found.stderr
        exit_code = None
        if drained:
            with self._runtime._docker():
                exit_code = self._runtime.client.api.exec_inspect(found.exec_id).get("ExitCode")
            self._close(session)
        return {"stdout": _b64(stdout), "stderr": _b64(stderr), "exit_code": exit_code, "ended": drained}

    def exec_resize(self, session: str, width: int, height: int) -> dict:
        found = self._session(session)
        with self._runtime._docker():
            self._runtime.client.api.exec_resize(found.exec_id, height=int(height), width=int(width))
        return {"ok": True}

    def exec_close(self, session: str) -> dict:
        self._close(session)
        return {"ok": True}

    def _pump(self, session: _Session) -> None:
        """Read the process's output; without a tty Docker frames it (8-byte headers)."""
        pending = b""
        try:
            while True:
                chunk = session.sock.recv(65536)
                if not chunk:
                    break
                if session.tty:
                    self._append(session, session.stdout, chunk)
                    continue
                pending += chunk
                while len(pending) >= 8:
                    stream, size = struct.unpack(">BxxxL", pending[:8])
                    if len(pending) < 8 + size:
                        break
                    payload, pending = pending[8:8 + size], pending[8 + size:]
                    self._append(session, session.stderr if stream == 2 else session.stdout, payload)
        except OSError:
            pass
        with session.changed:
            session.ended = True
            session.changed.notify_all()

    @staticmethod
    def _append(session: _Session, buffer: bytearray, data: bytes) -> None:
        with session.changed:
            buffer += data
            session.changed.notify_all()

    def _session(self, name: str) -> _Session:
        with self._lock:
            found = self._sessions.get(name)
        if found is None:
            raise NotFound(f"no exec session {name!r} (ended or expired)")
        found.used = time.monotonic()
        return found

    def _close(self, name: str) -> None:
        with self._lock:
            found = self._sessions.pop(name, None)
        if found is not None:
            try:
                found.sock.close()
            except OSError:
                pass

    def _expire(self) -> None:
        now = time.monotonic()
        with self._lock:
            idle = [name for name, s in self._sessions.items() if now - s.used > SESSION_IDLE]
        for name in idle:
            self._close(name)


def _docker_stamp(seconds: float) -> str:
    """Unix seconds in the fixed-width form Docker stamps log lines with (so they compare as text)."""
    whole = int(seconds)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{int((seconds - whole) * 1e9):09d}Z"


def _docker_seconds(stamp: str | None) -> float:
    """Docker's RFC 3339 nanosecond time as Unix seconds (the fraction kept to microseconds)."""
    if not stamp:
        return 0.0
    whole, _, fraction = stamp.rstrip("Z").partition(".")
    moment = datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S")
    return moment.replace(tzinfo=timezone.utc).timestamp() + float(f"0.{fraction or '0'}")
