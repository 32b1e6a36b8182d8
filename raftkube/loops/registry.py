"""The controllers the leader runs. Add yours here: one line, a `Controller` subclass
(or any callable taking a `LoopContext` and returning one)."""

from __future__ import annotations

from raftkube.loops.clusterdns import ClusterDns
from raftkube.loops.endpoints import EndpointsController
from raftkube.loops.gc import GarbageCollector
from raftkube.loops.kubelet import Kubelets
from raftkube.loops.netsync import NetworkSync
from raftkube.loops.nodes import NodeLifecycle
from raftkube.loops.replication import ReplicationManager
from raftkube.loops.scheduler import Scheduler

CONTROLLERS: list = [
    Scheduler,
    ReplicationManager,
    GarbageCollector,
    NodeLifecycle,
    Kubelets,
    EndpointsController,
    ClusterDns,
    NetworkSync,
]


def register(factory) -> None:
    """Add a controller factory (for code that cannot edit the list above)."""
    if factory not in CONTROLLERS:
        CONTROLLERS.append(factory)
