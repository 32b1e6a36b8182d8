"""A pod's status from its spec and its host's report, and when to restart its containers.

Pure functions over plain data (no I/O, no clock: `now` comes in), so the leader's
per-node kubelet worker can call them on every report and write the pod only when
`pod_status` returns something different from what is stored. Everything here is
deterministic in its inputs: the same pod, report entry, host IP and time give an
equal dict, and `now` matters only where a condition changes (its lastTransitionTime)
or a pod is first seen on its host (its startTime when the pause container has none).

The rules are Kubernetes' (kubelet's `getPhase` and status manager): a pod is Pending
while any container waits to be created, Running while one runs or a failed one is
going to be restarted, and Succeeded/Failed once every container has stopped for
good; a terminal phase never changes again.

`observed` is one pod entry of the helper's `report()["pods"]` (see
`raftkube.remote.helper.runtime`): `{uid, name, namespace, ensured, pause,
containers: [{name, id, image_id, state, exit_code, oom_killed, error, restart_count,
started_at, finished_at, ready, started, last_termination}]}` with Unix times.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from raftkube.remote.helper.backoff import next_restart

TERMINAL_PHASES = ("Succeeded", "Failed")
# Our conditions, in the order kubectl shows them; any other condition is kept after them.
CONDITIONS = ("Initialized", "Ready", "ContainersReady", "PodScheduled")
RUNNING_STATES = ("running", "restarting", "paused")
EXITED_STATES = ("exited", "dead", "removing")


def timestamp(unix: float) -> str:
    """Kubernetes' RFC 3339 form, whole seconds in UTC: `2026-11-30T16:05:00Z`."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(unix))


def restart_plan(pod: dict, observed: dict | None, now: float) -> list[tuple[str, float]]:
    """(container name, Unix time to restart it) for each exited container to restart.

    Follows `spec.restartPolicy` and Kubernetes' crash back-off
    (`helper.backoff.next_restart`); the caller restarts those whose time has come
    (`at <= now`) with the helper's `restart_container`. A pod that is being deleted
    or has reached a terminal phase restarts nothing.
    """
    if observed is None or not _may_restart(pod):
        return []
    policy = _spec(pod).get("restartPolicy", "Always")
    plan = []
    for container in _app_containers(pod, observed):
        if container is None or container.get("state") not in EXITED_STATES:
            continue
        delay = next_restart(
            policy,
            container.get("exit_code") or 0,
            container.get("restart_count") or 0,
            _finished(container, now),
            now,
            container.get("started_at"),
        )
        if delay is not None:
            plan.append((container["name"], now + delay))
    return plan


def pod_status(pod: dict, observed: dict | None, host_ip: str, now: float) -> dict:
    """The pod's whole new `status`; fields this module does not own are carried over."""
    spec, old = _spec(pod), pod.get("status") or {}
    old_containers = {c.get("name"): c for c in old.get("containerStatuses") or [] if isinstance(c, dict)}
    restarts = _may_restart(pod)
    statuses = [
        _container_status(container, seen, old_containers.get(container["name"]), spec, restarts)
        for container, seen in zip(spec.get("containers") or [], _app_containers(pod, observed))
    ]
    status = dict(old)
    status["phase"] = _phase(old.get("phase"), statuses, spec.get("restartPolicy", "Always"), observed)
    status["hostIP"] = host_ip
    if "startTime" not in old and observed is not None:
        pause_started = (observed.get("pause") or {}).get("started_at")
        status["startTime"] = timestamp(pause_started if pause_started else now)
    status["containerStatuses"] = statuses
    status["conditions"] = _conditions(old.get("conditions") or [], status["phase"], statuses, spec, now)
    status.setdefault("qosClass", qos_class(spec))
    return status


def qos_class(spec: dict) -> str:
    """Kubernetes' QoS class: Guaranteed when every container's requests equal its cpu and
    memory limits, BestEffort when no container asks for anything, else Burstable."""
    resources = [c.get("resources") or {} for c in spec.get("containers") or []]
    if not any(r.get("requests") or r.get("limits") for r in resources):
        return "BestEffort"
    guaranteed = all(
        all(name in (r.get("limits") or {}) for name in ("cpu", "memory"))
        and {**(r.get("limits") or {}), **(r.get("requests") or {})} == (r.get("limits") or {})
        for r in resources
    )
    return "Guaranteed" if guaranteed else "Burstable"


def _spec(pod: dict) -> dict:
    return pod.get("spec") or {}


def _may_restart(pod: dict) -> bool:
    deleting = bool((pod.get("metadata") or {}).get("deletionTimestamp"))
    return not deleting and (pod.get("status") or {}).get("phase") not in TERMINAL_PHASES


def _app_containers(pod: dict, observed: dict | None) -> list[dict | None]:
    """The observed entry of each spec container, in spec order (None: not created yet)."""
    seen = {c.get("name"): c for c in (observed or {}).get("containers") or []}
    return [seen.get(c.get("name")) for c in _spec(pod).get("containers") or []]


def _finished(container: dict, now: float) -> float:
    return container.get("finished_at") or container.get("started_at") or now


def _container_status(spec_c: dict, seen: dict | None, old: dict | None, spec: dict, restarts: bool) -> dict:
    name = spec_c["name"]
    old = old or {}
    status: dict = {"name": name, "image": spec_c.get("image", "")}
    if seen is None:
        status |= {"ready": False, "started": False, "restartCount": old.get("restartCount", 0)}
        status["state"] = {"waiting": {"reason": "ContainerCreating"}}
        status["lastState"] = old.get("lastState") or {}
        return status
    status["imageID"] = f"docker://{seen['image_id']}" if seen.get("image_id") else ""
    status["containerID"] = f"docker://{seen['id']}"
    restart_count = max(seen.get("restart_count") or 0, old.get("restartCount") or 0)
    last = _terminated(seen["last_termination"], seen["id"]) if seen.get("last_termination") else None
    if last is None and restart_count:
        last = old.get("lastState") or None
    state = seen.get("state")
    running = state in RUNNING_STATES
    if running:
        current = {"running": {"startedAt": timestamp(seen["started_at"])} if seen.get("started_at") else {}}
    elif state in EXITED_STATES:
        delay = _backoff(spec.get("restartPolicy", "Always"), seen) if restarts else None
        if not delay:  # stays down, or restarts at once (a first crash): no back-off to show
            current = _terminated(seen, seen["id"])
        else:
            # Kubernetes shows the run that ended as lastState while it waits to start the next.
            last = _terminated(seen, seen["id"])
            message = f"back-off {delay:.0f}s restarting failed container={name}"
            current = {"waiting": {"reason": "CrashLoopBackOff", "message": message}}
    else:  # created, or a state Docker may add later: not started yet
        current = {"waiting": {"reason": "ContainerCreating"}}
    # The spec says whether a probe decides: a helper not given the pod yet reports no
    # probe result, which must not read as "no probe".
    started = running and (seen.get("started") is True if spec_c.get("startupProbe") else True)
    ready = started and (seen.get("ready") is True if spec_c.get("readinessProbe") else True)
    status |= {"ready": ready, "started": started, "restartCount": restart_count}
    status["state"] = current
    status["lastState"] = last or {}
    return status


def _backoff(policy: str, seen: dict) -> float | None:
    """The back-off this exited container waits before its restart, None if it stays down."""
    finished = _finished(seen, 0.0)
    return next_restart(policy, seen.get("exit_code") or 0, seen.get("restart_count") or 0, finished, finished, seen.get("started_at"))


def _terminated(run: dict, container_id: str) -> dict:
    exit_code = run.get("exit_code") or 0
    if run.get("oom_killed"):
        reason = "OOMKilled"
    else:
        reason = run.get("reason") or ("Completed" if exit_code == 0 else "Error")
    terminated: dict = {"exitCode": exit_code, "reason": reason}
    if run.get("error"):
        terminated["message"] = run["error"]
    if run.get("started_at"):
        terminated["startedAt"] = timestamp(run["started_at"])
    if run.get("finished_at"):
        terminated["finishedAt"] = timestamp(run["finished_at"])
    terminated["containerID"] = f"docker://{run.get('id') or container_id}"
    return {"terminated": terminated}


def _phase(old_phase: str | None, statuses: list[dict], policy: str, observed: dict | None) -> str:
    """kubelet's getPhase: waiting-after-a-run counts as stopped, not as waiting."""
    if old_phase in TERMINAL_PHASES:
        return old_phase
    if observed is None or not statuses:
        return "Pending"
    waiting = running = stopped = succeeded = 0
    for status in statuses:
        state = status["state"]
        if "running" in state:
            running += 1
        elif "terminated" in state:
            stopped += 1
            succeeded += state["terminated"].get("exitCode") == 0
        elif "terminated" in status["lastState"]:
            stopped += 1
        else:
            waiting += 1
    if waiting:
        return "Pending"
    if running:
        return "Running"
    if policy == "Always":
        return "Running"  # crash-looping, restarting
    if stopped == succeeded:
        return "Succeeded"
    return "Failed" if policy == "Never" else "Running"


def _conditions(old: Iterable[dict], phase: str, statuses: list[dict], spec: dict, now: float) -> list[dict]:
    previous = {c.get("type"): c for c in old if isinstance(c, dict)}
    unready = [s["name"] for s in statuses if not s["ready"]]
    if phase in TERMINAL_PHASES:
        ready = ("False", "PodCompleted", "") if phase == "Succeeded" else ("False", "PodFailed", "")
    elif unready:
        ready = ("False", "ContainersNotReady", f"containers with unready status: [{' '.join(unready)}]")
    else:
        ready = ("True", "", "")
    wanted = {
        "Initialized": ("True", "", ""),
        "Ready": ready,
        "ContainersReady": ready,
        "PodScheduled": ("True", "", "") if spec.get("nodeName") else ("False", "Unschedulable", ""),
    }
    conditions = []
    for kind in CONDITIONS:
        status, reason, message = wanted[kind]
        before = previous.get(kind) or {}
        if kind == "PodScheduled" and before.get("status") == status:
            conditions.append(before)  # the scheduler's, with its own reason and time
            continue
        condition = {"type": kind, "status": status}
        if reason:
            condition["reason"] = reason
        if message:
            condition["message"] = message
        same = before.get("status") == status and before.get("lastTransitionTime")
        condition["lastTransitionTime"] = before["lastTransitionTime"] if same else timestamp(now)
        conditions.append(condition)
    conditions += [c for kind, c in previous.items() if kind not in CONDITIONS]
    return conditions
