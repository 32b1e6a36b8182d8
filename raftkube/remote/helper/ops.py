"""The operations a helper offers, by name, as plain functions of keyword arguments.

The docker SDK is imported on first use, so a helper that only answers pings (or runs
on a master, which has no Docker) answers its hello at once and does not need a Docker
engine; the helper imports it in the background meanwhile (`preload`).
"""

from __future__ import annotations

import os
import platform
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def make_ops(state_dir: Path, docker_host: str, superseded: Callable[[], bool] = lambda: False) -> dict[str, Callable[..., Any]]:
    """Every op of a helper whose host state lives in `state_dir`, engine at `docker_host`;
    `superseded()` tells when a newer leader's helper has taken over the host."""
    runtime_lock = threading.Lock()
    runtime = None
    node_network = None

    def network():
        nonlocal node_network
        with runtime_lock:
            if node_network is None:
                from raftkube.remote.helper.network import NodeNetwork

                node_network = NodeNetwork(state_dir)
            return node_network

    def pods():
        nonlocal runtime
        net = network()
        with runtime_lock:
            if runtime is None:
                from raftkube.remote.helper.runtime import PodRuntime

                runtime = PodRuntime(docker_host, state_dir / "pods", superseded, network=net)
            return runtime

    def ping(delay: float = 0.0) -> dict:
        """Liveness, and (with `delay`) a stand-in for a slow op when testing timeouts."""
        if delay:
            time.sleep(delay)
        return {"pid": os.getpid(), "time": time.time()}

    def host_facts() -> dict:
        facts = {
            "hostname": socket.gethostname(),
            "cpus": os.cpu_count(),
            "memory_bytes": _memory_bytes(),
            "python_version": platform.python_version(),
        }
        return facts | {"docker_version": pods().docker_version()}

    streams_lock = threading.Lock()
    streams = None

    def stream_ops():
        nonlocal streams
        with streams_lock:
            if streams is None:
                from raftkube.remote.helper.streams import Streams

                streams = Streams(pods())
            return streams

    return {
        **{name: _stream_op(stream_ops, name) for name in STREAM_OPS},
        "ping": ping,
        "host_facts": host_facts,
        "ensure_pod": lambda pod: pods().ensure_pod(pod),
        "stop_pod": lambda uid, grace_seconds: pods().stop_pod(uid, grace_seconds),
        "remove_pod": lambda uid: pods().remove_pod(uid),
        "report": lambda events_since=0: pods().report(events_since),
        "list_pods": lambda: pods().list_pods(),
        "logs": lambda uid, container, tail=100: pods().logs(uid, container, tail),
        "exec": lambda uid, container, argv: pods().exec(uid, container, argv),
        "restart_container": lambda uid, container, restart_count=None: pods().restart_container(
            uid, container, restart_count),
        "ensure_node_network": lambda pod_cidr, routes, cluster_cidr, service_cidr, dns_ip=None: network().ensure_node(
            pod_cidr, routes, cluster_cidr, service_cidr, **({"dns_ip": dns_ip} if dns_ip else {})),
        "sync_services": lambda ruleset: network().sync_services(ruleset),
    }


def preload() -> None:
    """Import what the pod and network ops need (the docker SDK, pyroute2) before the first
    request asks: compiling them out of the zipapp takes about a second, which a new
    leader's first report would otherwise wait for. Imports only: nothing on the host is
    touched, so a standby master's helper may run it too."""
    from raftkube.remote.helper import network, runtime, streams  # noqa: F401


# Streaming logs and interactive exec (helper/streams.py), polled by the leader.
STREAM_OPS = ("logs_read", "exec_start", "exec_write", "exec_read", "exec_resize", "exec_close")


def _stream_op(streams: Callable[[], Any], name: str) -> Callable[..., Any]:
    return lambda **args: getattr(streams(), name)(**args)


def _memory_bytes() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    return 0
