"""When to restart an exited container: restartPolicy plus Kubernetes' crash back-off.

A pure decision so the leader's reconcile loop can call it with what `list_pods`
reported; the helper only does the restart it is told to do.

Kubernetes restarts a container's first crash at once, then waits 10 s before the
next restart, doubling per crash up to 5 min, and forgets the back-off once a container
has run for 10 min (its next crash is a first crash again). Kubernetes keeps that
back-off apart from the restart count; here the count is all we have, so after a
container that ran 10 min crashes, it is restarted at once but the crash after that
waits as the count says (never shorter than Kubernetes' wait, never longer than 5 min).
"""

from __future__ import annotations

INITIAL_DELAY = 10.0
MAX_DELAY = 300.0
RESET_AFTER = 600.0

POLICIES = ("Always", "OnFailure", "Never")


def restart_delay(restart_count: int) -> float:
    """The back-off before restart number `restart_count + 1`: none before the first."""
    if restart_count <= 0:
        return 0.0
    return min(INITIAL_DELAY * 2 ** min(restart_count - 1, 16), MAX_DELAY)


def next_restart(
    policy: str,
    exit_code: int,
    restart_count: int,
    finished_at: float,
    now: float,
    started_at: float | None = None,
) -> float | None:
    """Seconds from `now` until the container should be restarted, or None for never.

    Times are Unix timestamps. 0.0 means restart now.
    """
    if policy not in POLICIES:
        raise ValueError(f"unknown restartPolicy {policy!r}: expected one of {', '.join(POLICIES)}")
    if policy == "Never" or (policy == "OnFailure" and exit_code == 0):
        return None
    ran_long = started_at is not None and finished_at - started_at >= RESET_AFTER
    delay = 0.0 if ran_long else restart_delay(restart_count)
    return max(0.0, finished_at + delay - now)
