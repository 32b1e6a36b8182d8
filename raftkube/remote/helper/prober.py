"""Running the pods' probes on the host, next to the pods: one scheduler thread, a small pool.

`ensure(pod)` (from the `ensure_pod` op) registers the probes of every container of a
pod; the scheduler thread sleeps until the earliest probe is due and hands that
container's due probes to the pool, so a hundred pods cost a heap, not a hundred
sleeping threads. Each run first inspects the container: a container that is not
running has no probe results, and one that started again (a restart) starts its
probes over (`probes.ContainerProbes`).

Handlers, as kubelet runs them:
- exec: `docker exec` of the command in the container; exit code 0 is success;
- tcpSocket: a TCP connect; httpGet: a GET whose status is 200..399. Both reach the pod
  from inside its network namespace (the socket is made in a thread that has `setns`'d
  into `/proc/<container pid>/ns/net`, then connected from there) to 127.0.0.1:port, so
  they work before, and without, the pod having an IP of its own. A `host` given in the
  probe is connected to from the host's namespace instead.

A liveness (or startup) failure records Unhealthy then Killing events and stops the
container with the pod's grace period, off the pool (it may take that long); the leader
sees it exited and restarts it per restartPolicy. A helper whose leader was superseded
(the host has admitted a newer term through another helper) stops probing.
"""

from __future__ import annotations

import heapq
import http.client
import itertools
import logging
import math
import os
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import docker
import docker.errors
import requests.exceptions

from raftkube.remote.helper.dockertime import unix_time
from raftkube.remote.helper.events import EventRing
from raftkube.remote.helper.netns import setns_net
from raftkube.remote.helper.probes import KILL, LIVENESS, TITLES, ContainerProbes, ProbeSpec, container_probes

log = logging.getLogger(__name__)

OUTPUT_LIMIT = 1024  # bytes of a probe's output kept for its event message
EXEC_OVERHEAD = 1.0  # seconds allowed on top of an exec probe's timeout for starting it


@dataclass
class _Entry:
    """The probes of one container of one pod, as the scheduler holds them."""

    pod: dict  # {uid, namespace, name}
    container: str
    specs: dict[str, ProbeSpec]
    ports: dict[str, int]  # named container ports, for probes that name their port
    grace: float
    state: ContainerProbes | None = None  # None until the container is seen running
    run_key: str | None = None  # Docker's StartedAt of the run `state` belongs to
    container_id: str | None = None
    version: int = 0  # bumped to drop heap entries that are no longer current
    busy: bool = False
    kicked: bool = False  # (re)started by us while busy: look again at once
    last_error: str | None = None
    cancelled: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def idle_recheck(self) -> float:
        """How often a container that is not running is looked at for a new run
        (restarts we make are `kick`ed, so this only catches others')."""
        return min(spec.period for spec in self.specs.values())


class Prober:
    """The probes of every pod on one Docker engine."""

    def __init__(self, client: docker.DockerClient, docker_host: str, events: EventRing,
                 superseded: Callable[[], bool] = lambda: False, workers: int = 4):
        self.client, self.docker_host, self.events = client, docker_host, events
        self.superseded = superseded
        self._pods: dict[str, dict[str, _Entry]] = {}  # uid -> container name -> entry
        self._specs: dict[str, Any] = {}  # uid -> what the pod's probes were made from
        self._heap: list[tuple[float, int, int, _Entry]] = []
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="probe")
        self._own_netns = os.open("/proc/self/ns/net", os.O_RDONLY)
        threading.Thread(target=self._schedule, name="prober", daemon=True).start()

    # The seams for runtime.py.

    def ensure(self, pod: dict) -> None:
        """Probe the pod's containers as its spec says; kept as they are if it is unchanged."""
        meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
        uid = meta["uid"]
        containers = spec.get("containers") or []
        key = [(c.get("name"), c.get("livenessProbe"), c.get("readinessProbe"), c.get("startupProbe"), c.get("ports"))
               for c in containers] + [spec.get("terminationGracePeriodSeconds")]
        with self._wake:
            if uid in self._pods and self._specs.get(uid) == key:
                return
        try:
            parsed = {c["name"]: container_probes(c) for c in containers}
        except ValueError as exc:
            raise ValueError(f"pod {meta.get('namespace')}/{meta.get('name')}: {exc}") from None
        ident = {"uid": uid, "namespace": meta.get("namespace", "default"), "name": meta.get("name")}
        grace = float(spec.get("terminationGracePeriodSeconds", 30))
        entries = {}
        for container in containers:
            specs = parsed[container["name"]]
            if specs:
                ports = {p["name"]: p["containerPort"] for p in container.get("ports") or [] if p.get("name")}
                entries[container["name"]] = _Entry(ident, container["name"], specs, ports, grace)
        with self._wake:
            self.forget(uid, locked=True)
            self._pods[uid], self._specs[uid] = entries, key
            for entry in entries.values():
                self._push(entry, time.time())

    def forget(self, uid: str, locked: bool = False) -> None:
        """Stop probing the pod (stopped, removed, or replaced by `ensure`)."""
        if not locked:
            with self._wake:
                return self.forget(uid, locked=True)
        for entry in self._pods.pop(uid, {}).values():
            entry.cancelled = True
        self._specs.pop(uid, None)

    def kick(self, uid: str, container: str) -> None:
        """The container was just (re)started by us: look at it now, not a period later."""
        with self._wake:
            entry = self._pods.get(uid, {}).get(container)
            if entry is not None and entry.busy:
                entry.kicked = True
            elif entry is not None:
                self._push(entry, time.time())

    def ensured(self, uid: str) -> bool:
        with self._wake:
            return uid in self._specs

    def status(self, uid: str, container: str) -> dict:
        """`ready` (None: no readiness probe), `started`, and each probe's last result."""
        with self._wake:
            entry = self._pods.get(uid, {}).get(container)
        if entry is None:
            return {"ready": None, "started": True, "probes": {}}
        with entry.lock:
            state = entry.state
            if state is None:
                ready = False if any(k == "readiness" for k in entry.specs) else None
                started = "startup" not in entry.specs
                return {"ready": ready, "started": started, "probes": {}}
            return {"ready": state.ready, "started": state.started, "probes": state.summary()}

    # The scheduler.

    def _push(self, entry: _Entry, when: float) -> None:
        """Schedule `entry` at `when`; the caller holds `self._wake`."""
        entry.version += 1
        heapq.heappush(self._heap, (when, next(self._order), entry.version, entry))
        self._wake.notify()

    def _schedule(self) -> None:
        while True:
            with self._wake:
                while not self._heap or self._heap[0][0] > time.time():
                    self._wake.wait(timeout=self._heap[0][0] - time.time() if self._heap else None)
                _, _, version, entry = heapq.heappop(self._heap)
                if entry.cancelled or version != entry.version or entry.busy:
                    continue
                entry.busy = True
            self._pool.submit(self._run, entry)

    def _run(self, entry: _Entry) -> None:
        next_at = time.time() + entry.idle_recheck
        try:
            next_at = self._probe(entry)
            entry.last_error = None
        except Exception as exc:
            # Docker down or the like: said once per container, not every period.
            error = f"{type(exc).__name__}: {exc}"
            if error != entry.last_error:
                log.warning("probing %s/%s %s: %s", entry.pod["namespace"], entry.pod["name"], entry.container, error)
            entry.last_error = error
        finally:
            with self._wake:
                entry.busy = False
                if not entry.cancelled:
                    self._push(entry, time.time() if entry.kicked else next_at)
                entry.kicked = False

    def _probe(self, entry: _Entry) -> float:
        """Run the entry's due probes; returns when to look at it next."""
        if self.superseded():
            # A newer leader's helper probes this host now; this one only waits for its end.
            return time.time() + entry.idle_recheck
        container = self._inspect(entry)
        now = time.time()
        if container is None or not container["State"].get("Running"):
            with entry.lock:
                entry.state, entry.run_key = None, None
            return now + entry.idle_recheck
        started_at = container["State"]["StartedAt"]
        with entry.lock:
            if entry.run_key != started_at or entry.state is None:
                entry.state = ContainerProbes(entry.specs, unix_time(started_at) or now)
                entry.run_key, entry.container_id = started_at, container["Id"]
            due = entry.state.due(now)
        pid = container["State"].get("Pid")
        for kind in due:
            spec = entry.specs[kind]
            ok, message = self._handle(spec, entry, pid)
            with entry.lock:
                action = entry.state.record(kind, ok, time.time(), message)
            if not ok:
                self.events.record(entry.pod, entry.container, "Unhealthy", f"{TITLES[kind]} probe failed: {message}", "Warning")
            if action == KILL:
                self._kill(entry, kind, spec)
                break
        with entry.lock:
            next_at = entry.state.next_at()
        return next_at if next_at is not None else time.time() + entry.idle_recheck

    def _inspect(self, entry: _Entry) -> dict | None:
        """The container's current state: by the id seen last (one call), else found by its
        pod labels (its id changes when `ensure_pod` replaces it)."""
        if entry.container_id is not None:
            try:
                return self.client.api.inspect_container(entry.container_id)
            except docker.errors.NotFound:
                entry.container_id = None
        filters = {"label": [f"io.raftkube.pod.uid={entry.pod['uid']}", f"io.raftkube.container.name={entry.container}"]}
        try:
            found = self.client.api.containers(all=True, filters=filters)
            container = self.client.api.inspect_container(found[0]["Id"]) if found else None
        except docker.errors.NotFound:
            return None
        if container is not None:
            entry.container_id = container["Id"]
        return container

    def _kill(self, entry: _Entry, kind: str, spec: ProbeSpec) -> None:
        what = "liveness" if kind == LIVENESS else "startup"
        self.events.record(entry.pod, entry.container, "Killing",
                           f"Container {entry.container} failed {what} probe, will be restarted")
        grace = spec.grace if spec.grace is not None else entry.grace
        cid = entry.container_id

        def stop() -> None:
            try:
                self.client.api.stop(cid, timeout=math.ceil(grace))
            except docker.errors.APIError as exc:
                log.warning("stopping %s for its failed %s probe: %s", cid, what, exc)

        # Off the pool: a long grace period must not hold up other pods' probes.
        threading.Thread(target=stop, name="probe-kill", daemon=True).start()

    # Handlers: each returns (success, message for an event).

    def _handle(self, spec: ProbeSpec, entry: _Entry, pid: int) -> tuple[bool, str]:
        try:
            if spec.handler == "exec":
                return self._exec(spec, entry)
            port = self._port(spec.action.get("port"), entry)
            if spec.handler == "tcpSocket":
                return self._tcp(spec, pid, port)
            return self._http(spec, pid, port)
        except _ProbeError as exc:
            return False, str(exc)
        except (OSError, docker.errors.DockerException, requests.exceptions.RequestException) as exc:
            # Whatever stopped the probe from running counts as its failure, as in kubelet.
            return False, f"{spec.handler} probe could not run: {exc}"

    def _port(self, port: Any, entry: _Entry) -> int:
        if isinstance(port, str) and not port.isdigit():
            if port not in entry.ports:
                raise _ProbeError(f"no container port named {port!r}")
            return entry.ports[port]
        return int(port)

    def _exec(self, spec: ProbeSpec, entry: _Entry) -> tuple[bool, str]:
        command = list(spec.action.get("command") or [])
        api = self.client.api
        try:
            exec_id = api.exec_create(entry.container_id, command, stdout=True, stderr=True)["Id"]
            # The timeout is the command's: starting a process in a container costs runc a
            # few hundred ms on a busy host, which must not fail a healthy container.
            output = self._exec_output(exec_id, time.monotonic() + spec.timeout + EXEC_OVERHEAD)
            if output is None:
                return False, f"command {command!r} timed out after {spec.timeout:g}s"
            code = api.exec_inspect(exec_id).get("ExitCode")
        except docker.errors.APIError as exc:
            return False, f"exec {command!r}: {exc.explanation or exc}"
        text = output[:OUTPUT_LIMIT].decode(errors="replace").strip()
        if code == 0:
            return True, text
        return False, f"command {command!r} exited with {code}: {text}" if text else f"command {command!r} exited with {code}"

    def _exec_output(self, exec_id: str, deadline: float) -> bytes | None:
        """The started exec's output (stdout and stderr), None if it outlives `deadline`.

        The docker SDK waits for an exec's output with no timeout at all (it polls the
        socket with none), so the stream is read here, from a client of its own that is
        closed afterwards (its connection was taken over by the exec stream).
        """
        api = docker.APIClient(base_url=self.docker_host, version=self.client.api.api_version, timeout=30)
        try:
            stream = api.exec_start(exec_id, socket=True)
            fd, data = stream.fileno(), bytearray()
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                    return None
                chunk = os.read(fd, 65536)
                if not chunk:
                    return _demultiplex(bytes(data))
                if len(data) < 4 * OUTPUT_LIMIT:
                    data += chunk
        finally:
            api.close()

    def _tcp(self, spec: ProbeSpec, pid: int, port: int) -> tuple[bool, str]:
        host = spec.action.get("host") or "127.0.0.1"
        sock = self._socket(pid, own_host=bool(spec.action.get("host")))
        try:
            sock.settimeout(spec.timeout)
            sock.connect((host, port))
            return True, ""
        except OSError as exc:
            return False, f"dial tcp {host}:{port}: {_reason(exc)}"
        finally:
            sock.close()

    def _http(self, spec: ProbeSpec, pid: int, port: int) -> tuple[bool, str]:
        action = spec.action
        host = action.get("host") or "127.0.0.1"
        scheme = (action.get("scheme") or "HTTP").upper()
        path = action.get("path") or "/"
        if not path.startswith("/"):
            path = "/" + path
        url = f"{scheme.lower()}://{host}:{port}{path}"
        sock = self._socket(pid, own_host=bool(action.get("host")))
        connection = _Connection(host, port, sock, spec.timeout, scheme == "HTTPS")
        headers = {"User-Agent": "kube-probe/1.29", "Accept": "*/*"}
        headers |= {h["name"]: h.get("value", "") for h in action.get("httpHeaders") or []}
        try:
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            body = response.read(OUTPUT_LIMIT)
        except (OSError, http.client.HTTPException) as exc:
            return False, f'Get "{url}": {_reason(exc)}'
        finally:
            connection.close()
        if 200 <= response.status < 400:
            return True, ""
        text = body.decode(errors="replace").strip()
        return False, f"HTTP probe failed with statuscode: {response.status}" + (f": {text}" if text else "")

    def _socket(self, pid: int, own_host: bool) -> socket.socket:
        """A TCP socket in the pod's network namespace (or the host's, for a probe `host`)."""
        if own_host:
            return socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            target = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY)
        except OSError as exc:
            raise _ProbeError(f"the pod's network namespace is gone: {exc}") from None
        try:
            setns_net(target)
            try:
                return socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            finally:
                self._back_home()
        except OSError as exc:
            raise _ProbeError(f"cannot enter the pod's network namespace: {exc}") from None
        finally:
            os.close(target)

    def _back_home(self) -> None:
        try:
            setns_net(self._own_netns)
        except OSError:
            # A pool thread left in a pod's namespace would probe and talk from there for ever.
            log.critical("cannot return to the host's network namespace: exiting", exc_info=True)
            os._exit(70)


class _ProbeError(Exception):
    pass


class _Connection(http.client.HTTPConnection):
    """An HTTP(S) connection over a socket made elsewhere (in the pod's namespace)."""

    def __init__(self, host: str, port: int, sock: socket.socket, timeout: float, tls: bool):
        super().__init__(host, port, timeout=timeout)
        self._made, self._tls = sock, tls

    def connect(self) -> None:
        self._made.settimeout(self.timeout)
        self._made.connect((self.host, self.port))
        if self._tls:
            # As kubelet does: HTTPS probes do not verify the certificate.
            context = ssl.create_default_context()
            context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
            self.sock = context.wrap_socket(self._made, server_hostname=self.host)
        else:
            self.sock = self._made


def _demultiplex(data: bytes) -> bytes:
    """Docker's multiplexed exec stream (8-byte frame headers: stream, 0, 0, 0, size) as
    the bytes of its frames; a truncated last frame keeps what arrived."""
    out, at = bytearray(), 0
    while at + 8 <= len(data):
        size = int.from_bytes(data[at + 4:at + 8], "big")
        out += data[at + 8:at + 8 + size]
        at += 8 + size
    return bytes(out)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connect: connection refused"
    if isinstance(exc, socket.timeout):
        return "i/o timeout"
    return str(exc) or type(exc).__name__
