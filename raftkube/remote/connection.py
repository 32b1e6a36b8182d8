"""The leader's end of a host: one SSH connection, one helper process, many requests.

Opening an SSH exec per operation costs ~0.2 s; a round trip on a helper that is
already running costs a few milliseconds. So a `HostConnection` keeps one fabric
Connection and one exec channel running the helper, and multiplexes requests from any
number of threads over it by request id. When the connection breaks, pending requests
fail with `ConnectionLost` and the next call reconnects, with back-off so a dead host
is not hammered.

A host can also hang without breaking anything: a stopped helper, a partition that TCP
notices after 15 minutes. So writes go through one writer thread and a caller waits for
its write at most WRITE_TIMEOUT, and the helper answers a keepalive ping every KEEPALIVE
seconds from its reader thread; a write that does not finish, or no line from the
helper for KEEPALIVE_DEADLINE, marks the connection dead (within the loops' node grace
period) and the next call opens a new one.
"""

import itertools
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any, BinaryIO

import fabric
import paramiko

from raftkube.errors import UserError
from raftkube.remote import protocol, ssh
from raftkube.remote.inventory import Host
from raftkube.remote.zipapp import Zipapp, helper_zipapp

log = logging.getLogger(__name__)

HELPER_DIR = "/var/lib/raftkube/helper"
STATE_DIR = "/var/lib/raftkube"
HELLO_TIMEOUT = 20.0
# The helper exits after IDLE_EXIT s without a line; a keepalive every KEEPALIVE s keeps it
# while the leader lives, so one that vanished without closing leaves nothing behind. The
# helper answers each keepalive: silence for KEEPALIVE_DEADLINE means the host hangs.
KEEPALIVE = 1.0
KEEPALIVE_DEADLINE = 3.5
WRITE_TIMEOUT = 10.0
IDLE_EXIT = 90.0
BACKOFF_FIRST = 0.5
BACKOFF_MAX = 30.0
# A connection that dies again within this long of opening counts as a failure (back-off).
STABLE = 60.0


class HelperError(UserError):
    """The helper refused or failed an operation; `kind` is one of protocol's error kinds."""

    def __init__(self, message: str, kind: str = protocol.FAILED):
        super().__init__(message)
        self.kind = kind


class StaleTermError(HelperError):
    """The host has obeyed a newer leader: this one must stop acting."""


class RequestTimeout(HelperError):
    """No answer in time; the operation may still happen on the host (its answer is dropped)."""


class ConnectionLost(ssh.HostUnreachable):
    """The connection to the host broke while the request was outstanding."""


_ERRORS = {protocol.STALE_TERM: StaleTermError}


class HelperClient:
    """Requests and answers over one pair of byte streams to a running helper.

    Independent of SSH so it can be driven over pipes to a local helper process.
    """

    def __init__(self, reader: BinaryIO, write: Callable[[bytes], None], name: str, keepalive: float | None = None,
                 abort: Callable[[], None] | None = None, write_timeout: float = WRITE_TIMEOUT,
                 keepalive_deadline: float | None = None):
        """`abort` closes the underlying stream (it must unblock a stuck `write`)."""
        self.name = name
        self._keepalive = keepalive
        self._keepalive_deadline = keepalive_deadline or (3 * keepalive if keepalive else None)
        self._reader, self._write, self._abort = reader, write, abort
        self._write_timeout = write_timeout
        self._ids = itertools.count(protocol.HELLO_ID + 1)
        self._lock = threading.Lock()
        # One writer thread: paramiko's sendall sends a request in packets, and two threads'
        # packets must not interleave; and a write stuck on a hung host blocks only it.
        self._outbox: queue.SimpleQueue = queue.SimpleQueue()
        self._pending: dict[int, Future] = {}
        self._hello: Future = Future()
        self._closed = threading.Event()
        self._last_heard = time.monotonic()
        self._thread = threading.Thread(target=self._read_loop, name=f"helper-{name}", daemon=True)

    def start(self, timeout: float = HELLO_TIMEOUT) -> dict:
        """Start reading and wait for the helper's hello; returns it (pid, python version)."""
        self._thread.start()
        threading.Thread(target=self._write_loop, name=f"helper-writer-{self.name}", daemon=True).start()
        if self._keepalive:
            threading.Thread(target=self._keepalive_loop, name=f"helper-keepalive-{self.name}", daemon=True).start()
        try:
            return self._hello.result(timeout)
        except FutureTimeout:
            raise ConnectionLost(f"{self.name}: the helper did not start within {timeout:g}s") from None

    @property
    def alive(self) -> bool:
        return not self._closed.is_set()

    def call(self, op: str, args: dict | None = None, term: int = 0, timeout: float = 30.0) -> Any:
        """Run `op` on the host and return its result; HelperError subclasses when it fails."""
        future: Future = Future()
        with self._lock:
            if self._closed.is_set():
                raise ConnectionLost(f"{self.name}: connection to the helper is closed")
            rid = next(self._ids)
            self._pending[rid] = future
        try:
            data = protocol.encode_request(protocol.Request(rid, op, args or {}, term, timeout))
        except (TypeError, ValueError):
            self._pending.pop(rid, None)
            raise  # args that are not JSON: the caller's bug, not the host's
        try:
            self._send(data)
        except ConnectionLost:
            self._pending.pop(rid, None)
            raise
        try:
            response: protocol.Response = future.result(timeout)
        except FutureTimeout:
            self._pending.pop(rid, None)
            raise RequestTimeout(f"{self.name}: {op} timed out after {timeout:g}s", protocol.EXPIRED) from None
        if not response.ok:
            raise _ERRORS.get(response.kind, HelperError)(f"{self.name}: {op}: {response.error}", response.kind)
        return response.result

    def close(self) -> None:
        self._fail_all("closed")

    def _send(self, data: bytes) -> None:
        """Hand `data` to the writer thread; ConnectionLost (and the connection is dead)
        when it fails or does not finish within the write timeout."""
        done: Future = Future()
        self._outbox.put((data, done))
        if self._closed.is_set():  # put after a close: nobody would write it
            raise ConnectionLost(f"{self.name}: connection to the helper is closed")
        try:
            done.result(self._write_timeout)
        except FutureTimeout:
            reason = f"a write to the helper did not finish within {self._write_timeout:g}s"
            self._fail_all(reason)
            raise ConnectionLost(f"{self.name}: {reason}") from None
        except (OSError, EOFError, ConnectionLost) as exc:
            self._fail_all(f"write failed: {exc}")
            raise ConnectionLost(f"{self.name}: connection to the helper broke: {exc}") from None

    def _write_loop(self) -> None:
        while True:
            item = self._outbox.get()
            if item is None:
                return
            data, done = item
            if self._closed.is_set():
                done.set_exception(ConnectionLost(f"{self.name}: connection to the helper is closed"))
                continue
            try:
                self._write(data)
            except Exception as exc:  # the stream is broken, whatever the exception
                done.set_exception(exc if isinstance(exc, (OSError, EOFError)) else OSError(str(exc)))
                continue
            done.set_result(None)

    def _keepalive_loop(self) -> None:
        """Ping the helper; no line from it for the deadline means the host hangs."""
        while not self._closed.wait(self._keepalive):
            if not self._hello.done():  # starting: the hello has its own timeout
                continue
            silent = time.monotonic() - self._last_heard
            if silent > self._keepalive_deadline:
                self._fail_all(f"no answer from the helper for {silent:.1f}s")
                return
            rid = next(self._ids)
            try:
                self._outbox.put((protocol.encode_request(protocol.Request(rid, protocol.KEEPALIVE)), Future()))
            except Exception as exc:
                self._fail_all(f"keepalive failed: {exc}")

    def _read_loop(self) -> None:
        try:
            for line in iter(self._reader.readline, b""):
                self._dispatch(line)
            reason = "the helper exited"
        except Exception as exc:  # any failure of the stream means the same: the connection is gone
            reason = f"read failed: {exc}"
        self._fail_all(reason)

    def _dispatch(self, line: bytes) -> None:
        self._last_heard = time.monotonic()
        try:
            response = protocol.decode_response(line)
        except protocol.ProtocolError as exc:
            log.warning("%s: unreadable line from the helper (%s): %.200r", self.name, exc, line)
            return
        if response.id == protocol.HELLO_ID:
            if not self._hello.done():
                self._hello.set_result(response.result)
            return
        future = self._pending.pop(response.id, None)
        if future is None:
            log.debug("%s: late answer to request %d dropped", self.name, response.id)
            return
        future.set_result(response)

    def _abort_quietly(self) -> None:
        try:
            self._abort()
        except Exception as exc:  # it is being thrown away either way
            log.debug("%s: abort failed: %s", self.name, exc)

    def _fail_all(self, reason: str) -> None:
        with self._lock:
            if self._closed.is_set():
                return
            self._closed.set()
            pending, self._pending = self._pending, {}
        log.info("%s: helper connection closed (%s)", self.name, reason)
        self._outbox.put(None)  # the writer stops once it is past what it may be stuck on
        if self._abort is not None:
            # On its own thread: closing a channel whose transport hangs may block too.
            threading.Thread(target=self._abort_quietly, name=f"helper-abort-{self.name}", daemon=True).start()
        error = ConnectionLost(f"{self.name}: connection to the helper lost ({reason})")
        if not self._hello.done():
            self._hello.set_exception(error)
        for future in pending.values():
            future.set_exception(error)


class HostConnection:
    """One host's SSH connection and helper, (re)opened on demand, shared by threads."""

    def __init__(self, host: Host, known_hosts: str | Path, zipapp: Zipapp | None = None, connect_timeout: float = 10.0,
                 backoff_max: float = BACKOFF_MAX):
        self.host = host
        self.known_hosts = Path(known_hosts)
        self.connect_timeout = connect_timeout
        self.backoff_max = backoff_max
        self._zipapp = zipapp
        self._lock = threading.Lock()
        self._conn: fabric.Connection | None = None
        self._client: HelperClient | None = None
        self._hello: dict = {}
        self._failures = 0
        self._next_attempt = 0.0
        self._last_error = ""
        self._opened_at = 0.0
        self._deaths = 0
        self._closed = False

    def call(self, op: str, args: dict | None = None, term: int = 0, timeout: float = 30.0) -> Any:
        """Run `op` on the host under the leader's `term`; see HelperClient.call."""
        return self._ensure().call(op, args, term, timeout)

    def connect(self) -> dict:
        """Connect now rather than on the first call; returns the helper's hello.

        The hello's `term` is the highest term the host has obeyed when the helper started.
        """
        self._ensure()
        return dict(self._hello)

    @property
    def connected(self) -> bool:
        """Whether the helper runs now (read without the lock: a hint for a standby loop)."""
        client = self._client
        return client is not None and client.alive

    @property
    def helper_pid(self) -> int | None:
        """The helper's pid on the host while connected (tests check it is gone after close)."""
        return self._hello.get("pid") if self._client and self._client.alive else None

    def close(self) -> None:
        """End the helper for good: a call racing this one, or made after, never reconnects."""
        with self._lock:
            self._closed = True
            self._teardown()

    def __enter__(self) -> "HostConnection":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _ensure(self) -> HelperClient:
        with self._lock:
            if self._closed:
                raise ConnectionLost(f"{self.host.name}: the connection was closed")
            if self._client is not None and self._client.alive:
                return self._client
            if self._client is not None:
                self._lost()
                self._teardown(wait=False)
            wait = self._next_attempt - time.monotonic()
            if wait > 0:
                raise ssh.HostUnreachable(f"{self._last_error}; next attempt in {wait:.1f}s")
            try:
                self._client = self._open()
            except (UserError, paramiko.SSHException, OSError, EOFError) as exc:
                self._teardown()
                self._failures += 1
                delay = min(BACKOFF_FIRST * 2 ** (self._failures - 1), self.backoff_max)
                self._next_attempt = time.monotonic() + delay
                error = exc if isinstance(exc, UserError) else ssh.HostUnreachable(
                    f"{ssh.describe(self.host)}: cannot start the helper: {exc or type(exc).__name__}"
                )
                self._last_error = str(error)
                log.warning("%s (retry in %.1fs)", error, delay)
                raise error from None
            self._failures = 0
            self._opened_at = time.monotonic()
            return self._client

    def _lost(self) -> None:
        """The helper connection died (broken, or hung past its deadlines): reopen at once
        the first time, with back-off when it keeps dying soon after opening."""
        now = time.monotonic()
        self._deaths = self._deaths + 1 if now - self._opened_at < STABLE else 1
        if self._deaths > 1:
            delay = min(BACKOFF_FIRST * 2 ** (self._deaths - 2), self.backoff_max)
            self._next_attempt = now + delay
            self._last_error = (f"{ssh.describe(self.host)}: the helper connection died {self._deaths} times "
                                f"within {STABLE:g}s of opening")

    def _open(self) -> HelperClient:
        name = self.host.name
        self._conn = ssh.connect(self.host, self.known_hosts, timeout=self.connect_timeout)
        transport = self._conn.client.get_transport()
        transport.set_keepalive(10)
        remote = self._ship()
        channel = transport.open_session(timeout=self.connect_timeout)
        channel.exec_command(
            ssh.command_line([self.host.python, remote, "--state-dir", STATE_DIR, "--docker-host", self.host.docker_host,
                              "--idle-exit", f"{IDLE_EXIT:g}"])
        )
        client = HelperClient(channel.makefile("rb"), channel.sendall, name, keepalive=KEEPALIVE, abort=channel.close)
        stderr = _StderrLog(name, channel.makefile_stderr("rb"))
        try:
            self._hello = client.start()
        except ConnectionLost as exc:
            # Most likely python3 is missing or too old: what it said is the useful part.
            said = stderr.last_line(wait=2.0)
            raise ConnectionLost(f"{ssh.describe(self.host)}: the helper did not start: {said or exc}") from None
        log.info("%s: helper %s running as pid %s", name, remote, self._hello.get("pid"))
        return client

    def _ship(self) -> str:
        """Unpack the helper on the host unless it is there already; returns its directory.

        The helper runs from a directory rather than from the zipapp: Python caches what it
        compiles there (`__pycache__`), where out of a zip it compiled the docker SDK and
        pyroute2 again at every start, about a second of CPU per helper and per master.
        """
        zipapp = self._zipapp or helper_zipapp()
        remote = f"{HELPER_DIR}/{zipapp.digest}"
        if ssh.run(self._conn, ["test", "-f", f"{remote}/__main__.py"], check=False,
                   timeout=self.connect_timeout).exited == 0:
            return remote
        ssh.feed(self._conn, [self.host.python, "-c", _UNPACK_SCRIPT, remote], ssh.file_chunks(zipapp.path))
        log.info("%s: shipped helper %s", self.host.name, remote)
        return remote

    def _teardown(self, wait: bool = True) -> None:
        """Close the helper and SSH connection; `wait=False` closes a dead one in the
        background (closing a transport to a hung host may block)."""
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._conn is not None:
            conn, self._conn = self._conn, None
            if wait:
                self._close_quietly(conn)
            else:
                threading.Thread(target=self._close_quietly, args=(conn,), daemon=True,
                                 name=f"close-{self.host.name}").start()

    def _close_quietly(self, conn: fabric.Connection) -> None:
        try:
            conn.close()
        except Exception as exc:  # a half-dead transport may fail to close; it is gone either way
            log.debug("%s: close failed: %s", self.host.name, exc)


# Unpacks the zipapp on stdin into a fresh directory renamed into place, so a helper never
# starts from a half-written one; a master that finds another's copy there drops its own.
# One line: it is part of the command line an error message shows.
_UNPACK_SCRIPT = "; ".join([
    "import io, os, shutil, sys, tempfile, zipfile",
    "dest = sys.argv[1]",
    "os.makedirs(os.path.dirname(dest), exist_ok=True)",
    "scratch = tempfile.mkdtemp(prefix='.unpack-', dir=os.path.dirname(dest))",
    "zipfile.ZipFile(io.BytesIO(sys.stdin.buffer.read())).extractall(scratch)",
    "os.chmod(scratch, 0o755)",
    "shutil.rmtree(scratch) if os.path.isdir(dest) else os.rename(scratch, dest)",
])


class _StderrLog:
    """Drains the helper's stderr into our log (unread, it would stall the channel),
    keeping the last line to explain a helper that failed to start."""

    def __init__(self, name: str, stream: BinaryIO):
        self.name, self.stream = name, stream
        self._last = ""
        self._thread = threading.Thread(target=self._drain, name=f"helper-stderr-{name}", daemon=True)
        self._thread.start()

    def last_line(self, wait: float) -> str:
        self._thread.join(wait)
        return self._last

    def _drain(self) -> None:
        try:
            for raw in iter(self.stream.readline, b""):
                line = raw.decode(errors="replace").rstrip()
                if line:
                    self._last = line
                    log.info("%s: %s", self.name, line)
        except Exception as exc:  # the channel closing mid-read ends the drain, nothing more
            log.debug("%s: stderr closed: %s", self.name, exc)
