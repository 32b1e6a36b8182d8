"""Pods on a host's Docker engine: a pause container holding the namespaces, plus apps.

Like Kubernetes' dockershim: the pause container owns the pod's network (and IPC)
namespace, created with network none (raftkube.netproxy gives it a veth later), and
every app container joins it. The pause image is `busybox` running `sleep` for ever;
a real pause image (which reaps zombies and exits on SIGTERM) can replace it later.

Every container carries labels naming its pod and a hash of what it was created
from, so `ensure_pod` is idempotent: it creates only what is missing or changed.
Restarting exited containers is the leader's decision (see backoff.py); the restart
count Docker keeps counts only its own restarts, so ours (with the run that ended
before the last restart, for `lastState`) is kept in memory and in the pod's
directory on the host. Probes run in the helper (prober.py), started by `ensure_pod`.

containerPorts are recorded on the container (a label, reported by `list_pods`) and
are reachable on the pod IP; hostPort publishing belongs to the netproxy, since a
pause container with network none cannot publish ports through Docker.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import docker.errors
import requests.exceptions

from raftkube.state.names import dns1123_subdomain
from raftkube.state.quantity import QuantityError, parse_cpu, parse_memory
from raftkube.remote.helper.dockertime import unix_time as _timestamp
from raftkube.remote.helper.errors import BadRequest, NotFound, OpError
from raftkube.remote.helper.events import EventRing
from raftkube.remote.helper.prober import Prober

log = logging.getLogger(__name__)

LABEL_UID = "io.raftkube.pod.uid"
LABEL_NAMESPACE = "io.raftkube.pod.namespace"
LABEL_NAME = "io.raftkube.pod.name"
LABEL_CONTAINER = "io.raftkube.container.name"
LABEL_HASH = "io.raftkube.container.hash"
LABEL_PORTS = "io.raftkube.container.ports"

PAUSE = "POD"
RESOLV_VOLUME = "/etc/resolv.conf"  # not a valid volume name, so never a user's
PAUSE_IMAGE = "busybox"
PAUSE_COMMAND = ["sleep", "2147483647"]

# uids and names end up in paths and container names: only what Kubernetes allows.
_UID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,62}$")


def _valid_name(value) -> bool:
    return isinstance(value, str) and not dns1123_subdomain(value)


class PodRuntime:
    """The pods of one Docker engine, with their volumes under `pods_dir/<uid>/`."""

    def __init__(self, docker_host: str, pods_dir: Path, superseded: Callable[[], bool] = lambda: False,
                 network=None):
        self.docker_host = docker_host
        self.pods_dir = Path(pods_dir)
        self.network = network  # helper.network.NodeNetwork: pod veths and resolv.conf
        # The helper runs requests in parallel; two changes to one pod must not interleave.
        self._pod_locks: dict[str, threading.Lock] = defaultdict(threading.Lock)
        self._locks_lock = threading.Lock()
        # `report` runs every second: a container is inspected again only when the list
        # shows its state changed, or when we changed it ourselves.
        self._inspected: dict[str, tuple[str, dict]] = {}
        self._restart_memory: dict[str, dict[str, dict]] = {}  # uid -> container -> {count, last}
        self._memory_lock = threading.Lock()
        self.events = EventRing()
        with self._docker():
            # Asks the engine for its API version: fails here when Docker is not running.
            self.client = docker.DockerClient(base_url=docker_host, timeout=120)
        self.prober = Prober(self.client, docker_host, self.events, superseded)

    def docker_version(self) -> str:
        with self._docker():
            return self.client.version()["Version"]

    def ensure_pod(self, pod: dict) -> dict:
        """Make the host run `pod` (a Kubernetes v1 Pod) and probe it; returns what was created and kept."""
        plan = _plan(pod, self.pods_dir)
        created, kept = [], []
        try:
            self.prober.ensure(pod)
        except (ValueError, KeyError, TypeError) as exc:
            raise BadRequest(f"ensure_pod: bad probe: {exc}") from None
        with self._pod_lock(plan.uid), self._docker():
            self._forget_inspections(plan.uid)
            existing = {c.labels.get(LABEL_CONTAINER): c for c in self._containers(plan.uid)}
            pause = existing.get(PAUSE)
            if pause is None or pause.labels.get(LABEL_HASH) != plan.pause["labels"][LABEL_HASH] or pause.status != "running":
                # A new pause means a new network namespace: apps joined to the old one must go too.
                for container in existing.values():
                    container.remove(force=True)
                existing = {}
                self._create(plan.pause)
                created.append(PAUSE)
            else:
                kept.append(PAUSE)
            self._ensure_network(plan, pod)
            for name, container in existing.items():
                if name != PAUSE and name not in plan.apps:
                    container.remove(force=True)
            for path in plan.directories:
                path.mkdir(parents=True, exist_ok=True)
            for name, config in plan.apps.items():
                container = existing.get(name)
                if container is not None and container.labels.get(LABEL_HASH) == config["labels"][LABEL_HASH]:
                    if container.status == "created":
                        container.start()
                    kept.append(name)
                    continue
                if container is not None:
                    container.remove(force=True)
                self._reset_restarts(plan.uid, name)
                self._create(config)
                created.append(name)
            self._forget_inspections(plan.uid)
        if created:
            log.info("pod %s/%s (%s): created %s", plan.namespace, plan.name, plan.uid, ", ".join(created))
        return {"uid": plan.uid, "created": created, "kept": kept}

    def stop_pod(self, uid: str, grace_seconds: float) -> dict:
        """Stop the pod as Kubernetes does: its apps' stop signal (SIGTERM unless the image
        says otherwise), up to `grace_seconds` in all for them to exit, then SIGKILL; the
        pause container last. Fine if already stopped or gone; `remove_pod` removes."""
        _check_uid(uid)
        if isinstance(grace_seconds, bool) or not isinstance(grace_seconds, (int, float)) or not grace_seconds >= 0:
            raise BadRequest(f"stop_pod: grace_seconds must be a number >= 0, not {grace_seconds!r}")
        self.prober.forget(uid)
        api = self.client.api
        deadline = time.monotonic() + grace_seconds
        with self._pod_lock(uid), self._docker():
            containers = self._containers(uid)
            apps = {c.id: c for c in containers if c.labels.get(LABEL_CONTAINER) != PAUSE and c.status == "running"}
            if grace_seconds > 0:
                for container in apps.values():
                    signal = container.attrs.get("Config", {}).get("StopSignal") or "SIGTERM"
                    self._signal(container.id, signal)
            running = set(apps)
            while running and time.monotonic() < deadline:
                time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))
                listed = api.containers(all=True, filters={"label": f"{LABEL_UID}={uid}", "status": "running"})
                running &= {c["Id"] for c in listed}
            for cid in running:
                self._signal(cid, "SIGKILL")
            # The pause container is a `sleep`, which ignores SIGTERM: no grace for it.
            for container in containers:
                if container.labels.get(LABEL_CONTAINER) == PAUSE and container.status == "running":
                    self._signal(container.id, "SIGKILL")
            self._forget_inspections(uid)
        names = {cid: c.labels.get(LABEL_CONTAINER) for cid, c in apps.items()}
        return {
            "uid": uid,
            "stopped": sorted(names[cid] for cid in apps if cid not in running),
            "killed": sorted(names[cid] for cid in running),
        }

    def remove_pod(self, uid: str) -> dict:
        """Remove the pod's containers and its directory (emptyDir data); fine if already gone."""
        _check_uid(uid)
        self.prober.forget(uid)
        with self._pod_lock(uid), self._docker():
            containers = self._containers(uid)
            # Apps first: removing the pause first would leave them in a dead namespace.
            for container in sorted(containers, key=lambda c: c.labels.get(LABEL_CONTAINER) == PAUSE):
                with contextlib.suppress(docker.errors.NotFound):
                    container.remove(force=True, v=True)
            if self.network is not None:
                self.network.remove_pod(uid)
            shutil.rmtree(self.pods_dir / uid, ignore_errors=True)
            self._forget_inspections(uid)
            with self._memory_lock:
                self._restart_memory.pop(uid, None)
        return {"uid": uid, "removed": len(containers)}

    def report(self, events_since: int = 0) -> dict:
        """Every raftkube pod on this engine as observed now, and the events after `events_since`.

        One container list per call; each container is inspected only when its state
        changed since the last report. A helper that started again numbers its events
        from 1: an `events_since` past the newest seq means "all of them".
        """
        newest = self.events.seq
        if not isinstance(events_since, int) or events_since > newest:
            events_since = 0
        return {"pods": self.list_pods(), "events": self.events.since(events_since), "seq": newest, "time": time.time()}

    def list_pods(self) -> list[dict]:
        """Every raftkube pod on this engine with the observed state of each container."""
        with self._docker():
            listed = self.client.api.containers(all=True, filters={"label": LABEL_UID})
            attrs = [self._inspect(item) for item in listed]
        for gone in set(self._inspected) - {item["Id"] for item in listed}:
            self._inspected.pop(gone, None)
        pods: dict[str, dict] = {}
        for container in attrs:
            if container is None:
                continue
            labels = container.get("Config", {}).get("Labels") or {}
            uid = labels[LABEL_UID]
            pod = pods.get(uid)
            if pod is None:
                pod = pods[uid] = {
                    "uid": uid, "namespace": labels.get(LABEL_NAMESPACE), "name": labels.get(LABEL_NAME),
                    "ensured": self.prober.ensured(uid), "pause": None, "containers": [],
                }  # fmt: skip
            status = self._status(uid, labels, container)
            if status["name"] == PAUSE:
                pod["pause"] = status
            else:
                pod["containers"].append(status)
        for pod in pods.values():
            pod["containers"].sort(key=lambda c: c["name"])
        return sorted(pods.values(), key=lambda p: (p["namespace"] or "", p["name"] or "", p["uid"]))

    def logs(self, uid: str, container: str, tail: int = 100) -> str:
        with self._docker():
            data = self._container(uid, container).logs(tail=tail if tail >= 0 else "all")
        return data.decode(errors="replace")

    def exec(self, uid: str, container: str, argv: list[str]) -> dict:
        """Run argv in a running container (no shell); its exit code and combined output."""
        if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
            raise BadRequest("exec: argv must be a non-empty list of strings")
        with self._docker():
            result = self._container(uid, container).exec_run(argv)
        return {"exit_code": result.exit_code, "output": result.output.decode(errors="replace")}

    def restart_container(self, uid: str, container: str, restart_count: int | None = None) -> dict:
        """Start the container again (stop it first if running), remembering the run that ended.

        With `restart_count` (the count the caller saw), a container restarted since then
        is left alone: a retried or late call never restarts a run that just began."""
        with self._pod_lock(uid), self._docker():
            if restart_count is not None:
                with self._memory_lock:
                    count = self._restarts(uid).get(container, {}).get("count", 0)
                if count != restart_count:
                    return {"uid": uid, "container": container, "restart_count": count}
            found = self._container(uid, container)
            if found.status == "running":
                found.stop(timeout=10)
                found.reload()
            ended = found.attrs.get("State", {})
            last = {
                "exit_code": ended.get("ExitCode"),
                "oom_killed": bool(ended.get("OOMKilled")),
                "error": ended.get("Error") or "",
                "started_at": _timestamp(ended.get("StartedAt")),
                "finished_at": _timestamp(ended.get("FinishedAt")),
                "id": found.id,
            }
            found.start()
            with self._memory_lock:
                memory = self._restarts(uid)
                entry = memory.setdefault(container, {"count": 0, "last": None})
                entry["count"], entry["last"] = entry["count"] + 1, last
                self._save_restarts(uid, memory)
                count = entry["count"]
            self._forget_inspections(uid)
        self.prober.kick(uid, container)
        return {"uid": uid, "container": container, "restart_count": count}

    def _ensure_network(self, plan: "_Plan", pod: dict) -> None:
        """The pod's IP on its pause container's netns, before any app starts in it."""
        if plan.resolv_conf is not None:
            plan.resolv_conf.parent.mkdir(parents=True, exist_ok=True)
            plan.resolv_conf.write_text(_resolv_conf(plan.namespace, self.network))
        pod_ip = (pod.get("status") or {}).get("podIP")
        if not pod_ip or self.network is None:
            return
        pause = self._container(plan.uid, PAUSE)
        pause.reload()
        pid = pause.attrs.get("State", {}).get("Pid")
        if not pid:
            raise OpError(f"pod {plan.namespace}/{plan.name}: pause container is not running")
        self.network.ensure_pod(plan.uid, pid, pod_ip)

    def _pod_lock(self, uid: str) -> threading.Lock:
        with self._locks_lock:
            return self._pod_locks[uid]

    def _signal(self, cid: str, signal: str) -> None:
        """Send a signal; a container that has stopped or gone meanwhile is fine."""
        try:
            self.client.api.kill(cid, signal=signal)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            if exc.status_code != 409:  # 409: not running
                raise

    def _containers(self, uid: str) -> list:
        return self.client.containers.list(all=True, filters={"label": f"{LABEL_UID}={uid}"}, ignore_removed=True)

    def _container(self, uid: str, name: str):
        _check_uid(uid)
        for container in self._containers(uid):
            if container.labels.get(LABEL_CONTAINER) == name:
                return container
        raise NotFound(f"pod {uid} has no container {name!r} on this host")

    def _inspect(self, listed: dict) -> dict | None:
        """The container's inspect data, from the cache while its listed state is the same."""
        cid, state = listed["Id"], listed.get("State")
        cached = self._inspected.get(cid)
        if cached is not None and cached[0] == state:
            return cached[1]
        try:
            attrs = self.client.api.inspect_container(cid)
        except docker.errors.NotFound:
            return None
        self._inspected[cid] = (state, attrs)
        return attrs

    def _forget_inspections(self, uid: str) -> None:
        for cid, (_, attrs) in list(self._inspected.items()):
            if (attrs.get("Config", {}).get("Labels") or {}).get(LABEL_UID) == uid:
                self._inspected.pop(cid, None)

    def _create(self, config: dict) -> None:
        config = dict(config)
        self._ensure_image(config["image"], config.pop("pull_policy"))
        container = self.client.containers.create(**config)
        container.start()

    def _ensure_image(self, image: str, pull_policy: str) -> None:
        try:
            self.client.images.get(image)
            present = True
        except docker.errors.ImageNotFound:
            present = False
        if present and pull_policy != "Always":
            return
        if not present and pull_policy == "Never":
            raise OpError(f"image {image} is not present on this host (imagePullPolicy: Never)")
        try:
            self.client.images.pull(image)
        except docker.errors.APIError as exc:
            if not present:
                raise OpError(f"image {image} is not on this host and pulling it failed: {exc.explanation or exc}") from None
            # Hosts often have no registry (air-gapped, `raftkube image load`): the local copy will do.
            log.warning("pulling %s failed, using the local image: %s", image, exc.explanation or exc)

    def _status(self, uid: str, labels: dict, attrs: dict) -> dict:
        state = attrs.get("State", {})
        name = labels.get(LABEL_CONTAINER, "")
        with self._memory_lock:
            remembered = self._restarts(uid).get(name) or {"count": 0, "last": None}
        status = {
            "name": name,
            "id": attrs.get("Id"),
            "image": attrs.get("Config", {}).get("Image"),
            "image_id": attrs.get("Image"),
            "state": state.get("Status"),
            # The main process, while running: /proc/PID/ns/net is the pod's network namespace.
            "pid": state.get("Pid") or None,
            "exit_code": state.get("ExitCode"),
            "oom_killed": bool(state.get("OOMKilled")),
            "error": state.get("Error") or "",
            "restart_count": remembered["count"],
            "last_termination": remembered["last"],
            "started_at": _timestamp(state.get("StartedAt")),
            "finished_at": _timestamp(state.get("FinishedAt")),
            "ports": json.loads(labels.get(LABEL_PORTS) or "[]"),
        }
        if name != PAUSE:
            status |= self.prober.status(uid, name)
        return status

    def _restarts_file(self, uid: str) -> Path:
        return self.pods_dir / uid / "restarts.json"

    def _restarts(self, uid: str) -> dict[str, dict]:
        """container -> {count, last}: kept in memory, read from the pod's directory once
        (so a new helper process still knows). The caller holds `_memory_lock`."""
        memory = self._restart_memory.get(uid)
        if memory is None:
            try:
                saved = json.loads(self._restarts_file(uid).read_text())
            except (FileNotFoundError, ValueError):
                saved = {}
            memory = {
                name: value if isinstance(value, dict) else {"count": int(value), "last": None}
                for name, value in saved.items()
            }
            self._restart_memory[uid] = memory
        return memory

    def _save_restarts(self, uid: str, memory: dict[str, dict]) -> None:
        path = self._restarts_file(uid)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".restarts.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(json.dumps(memory))
        os.replace(tmp, path)

    def _reset_restarts(self, uid: str, container: str) -> None:
        with self._memory_lock:
            memory = self._restarts(uid)
            if memory.pop(container, None) is not None:
                self._save_restarts(uid, memory)

    @contextlib.contextmanager
    def _docker(self) -> Iterator[None]:
        """Docker's failures as one-line op errors the leader can show."""
        try:
            yield
        except docker.errors.NotFound as exc:
            raise NotFound(str(exc.explanation or exc)) from None
        except docker.errors.APIError as exc:
            raise OpError(f"docker: {exc.explanation or exc}") from None
        except (requests.exceptions.ConnectionError, docker.errors.DockerException) as exc:
            raise OpError(f"cannot talk to Docker at {self.docker_host}: {exc}") from None


@dataclass
class _Plan:
    """What a pod needs on the host: docker create arguments per container, and directories."""

    uid: str
    namespace: str
    name: str
    pause: dict = field(default_factory=dict)
    apps: dict[str, dict] = field(default_factory=dict)
    directories: list[Path] = field(default_factory=list)
    resolv_conf: Path | None = None  # bind-mounted on every app's /etc/resolv.conf


def _plan(pod: dict, pods_dir: Path) -> _Plan:
    if not isinstance(pod, dict):
        raise BadRequest("ensure_pod: pod must be an object")
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    uid, namespace, name = meta.get("uid"), meta.get("namespace", "default"), meta.get("name")
    _check_uid(uid)
    for path, value in (("metadata.name", name), ("metadata.namespace", namespace)):
        if not _valid_name(value):
            raise BadRequest(f"pod {path} {value!r} is not a valid name")
    containers = spec.get("containers")
    if not isinstance(containers, list) or not containers:
        raise BadRequest("pod spec.containers must be a non-empty list")
    plan = _Plan(uid, namespace, name)
    pod_labels = {LABEL_UID: uid, LABEL_NAMESPACE: namespace, LABEL_NAME: name}
    pause_name = _container_name(PAUSE, name, namespace, uid)
    plan.pause = _hashed(
        {
            "image": PAUSE_IMAGE,
            "command": PAUSE_COMMAND,
            "name": pause_name,
            "hostname": name[:63],
            "network_mode": "none",
            "ipc_mode": "shareable",
            "labels": pod_labels | {LABEL_CONTAINER: PAUSE},
            "pull_policy": "IfNotPresent",
        }
    )
    binds, plan.directories = _volumes(spec.get("volumes") or [], pods_dir / uid)
    if spec.get("dnsPolicy", "ClusterFirst") != "Default":
        # Docker's dns options do not apply to network-none/container: pods; mount our own.
        plan.resolv_conf = pods_dir / uid / "resolv.conf"
        binds = binds | {RESOLV_VOLUME: str(plan.resolv_conf)}
    for index, container in enumerate(containers):
        config = _app(container, index, binds, pod_labels, pause_name)
        if config["labels"][LABEL_CONTAINER] in plan.apps:
            raise BadRequest(f"spec.containers[{index}].name is a duplicate")
        plan.apps[config["labels"][LABEL_CONTAINER]] = config
    return plan


def _app(container: dict, index: int, binds: dict[str, str], pod_labels: dict, pause_name: str) -> dict:
    where = f"spec.containers[{index}]"
    name, image = container.get("name"), container.get("image")
    if not _valid_name(name) or name == PAUSE:
        raise BadRequest(f"{where}.name {name!r} is not a valid container name")
    if not isinstance(image, str) or not image:
        raise BadRequest(f"{where}.image is required")
    env = []
    for item in container.get("env") or []:
        if "value" not in item and "valueFrom" in item:
            raise BadRequest(f"{where}.env {item.get('name')!r}: valueFrom is not supported")
        env.append(f"{item['name']}={item.get('value', '')}")
    volumes = [f"{binds[RESOLV_VOLUME]}:/etc/resolv.conf:ro"] if RESOLV_VOLUME in binds else []
    for mount in container.get("volumeMounts") or []:
        source = binds.get(mount.get("name"))
        if source is None:
            raise BadRequest(f"{where}.volumeMounts: no volume named {mount.get('name')!r}")
        target = mount.get("mountPath", "")
        if not target.startswith("/") or ":" in target:
            raise BadRequest(f"{where}.volumeMounts: mountPath {target!r} must be an absolute path without ':'")
        volumes.append(f"{source}:{target}:{'ro' if mount.get('readOnly') else 'rw'}")
    config: dict[str, Any] = {
        "image": image,
        "name": _container_name(name, pod_labels[LABEL_NAME], pod_labels[LABEL_NAMESPACE], pod_labels[LABEL_UID]),
        "network_mode": f"container:{pause_name}",
        "ipc_mode": f"container:{pause_name}",
        "environment": env,
        "volumes": volumes,
        "labels": pod_labels | {LABEL_CONTAINER: name, LABEL_PORTS: json.dumps(container.get("ports") or [], sort_keys=True)},
        "pull_policy": container.get("imagePullPolicy") or _default_pull_policy(image),
    }
    if container.get("command"):
        config["entrypoint"] = list(container["command"])
    if container.get("args"):
        config["command"] = list(container["args"])
    if container.get("workingDir"):
        config["working_dir"] = container["workingDir"]
    config |= _resources(container.get("resources") or {})
    return _hashed(config)


def _resolv_conf(namespace: str, network) -> str:
    from raftkube.remote.helper.network import KUBE_DNS_IP, resolv_conf

    return resolv_conf(namespace, network.dns_ip() if network is not None else KUBE_DNS_IP)


def _default_pull_policy(image: str) -> str:
    """Kubernetes' default: Always for `:latest` or no tag, IfNotPresent otherwise."""
    if "@" in image:
        return "IfNotPresent"
    tag = image.rsplit("/", 1)[-1].partition(":")[2]
    return "Always" if tag in ("", "latest") else "IfNotPresent"


def _resources(resources: dict) -> dict:
    """Kubernetes requests/limits as Docker's: limits cap, requests weigh and reserve."""
    limits, requests_ = resources.get("limits") or {}, resources.get("requests") or {}
    config = {}
    try:
        if "cpu" in limits:
            config["nano_cpus"] = parse_cpu(limits["cpu"]) * 10**6
        if "memory" in limits:
            config["mem_limit"] = parse_memory(limits["memory"])
        if "cpu" in requests_:
            # Kubernetes' own mapping of a CPU request to cgroup v1 shares (min 2).
            config["cpu_shares"] = max(2, parse_cpu(requests_["cpu"]) * 1024 // 1000)
        if "memory" in requests_:
            config["mem_reservation"] = parse_memory(requests_["memory"])
    except QuantityError as exc:
        raise BadRequest(str(exc)) from None
    return config


def _volumes(volumes: list[dict], pod_dir: Path) -> tuple[dict[str, str], list[Path]]:
    """Volume name -> host path to bind, and the directories to create first."""
    binds, directories = {}, []
    for index, volume in enumerate(volumes):
        name = volume.get("name")
        if not _valid_name(name):
            raise BadRequest(f"spec.volumes[{index}].name {name!r} is not a valid name")
        if "emptyDir" in volume:
            if (volume["emptyDir"] or {}).get("medium"):
                raise BadRequest(f"spec.volumes[{index}].emptyDir.medium is not supported")
            path = pod_dir / "volumes" / name
            directories.append(path)
        elif "hostPath" in volume:
            source = volume["hostPath"] or {}
            path = Path(source.get("path", ""))
            kind = source.get("type") or ""
            if not path.is_absolute() or ":" in str(path):
                raise BadRequest(f"spec.volumes[{index}].hostPath.path must be an absolute path without ':'")
            if kind == "DirectoryOrCreate":
                directories.append(path)
            elif kind in ("Directory", "File") and not (path.is_dir() if kind == "Directory" else path.is_file()):
                raise OpError(f"volume {name}: hostPath {path} is not an existing {kind.lower()} on this host")
            elif kind not in ("", "Directory", "File"):
                raise BadRequest(f"spec.volumes[{index}].hostPath.type {kind!r} is not supported")
        else:
            raise BadRequest(f"spec.volumes[{index}] ({name}): only emptyDir and hostPath volumes are supported")
        binds[name] = str(path)
    return binds, directories


def _hashed(config: dict) -> dict:
    digest = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]
    return config | {"labels": config["labels"] | {LABEL_HASH: digest}}


def _container_name(container: str, pod: str, namespace: str, uid: str) -> str:
    return f"rk_{container}_{pod}_{namespace}_{uid}"


def _check_uid(uid: Any) -> None:
    if not isinstance(uid, str) or not _UID.match(uid):
        raise BadRequest(f"pod uid {uid!r} is not a valid uid")
