"""Is this master worth listening to? Watch heartbeats and readiness.

A watch on a master cut off from the others would otherwise wait forever, its client
none the wiser: the master's replica stops changing, silently. So a watch sends
something at least every WATCH_HEARTBEAT seconds (a BOOKMARK when the client asked for
them with allowWatchBookmarks, else an empty line, which kubectl's decoder and the
official clients skip) and ends once this master has not heard from a Raft majority
for QUORUM_GRACE seconds, so the client reconnects to another master. Readiness
(`/healthz`) says no in the same case, and while applied entries trail the commit index.
"""

from __future__ import annotations

import asyncio

from raftkube.state.store import Store

WATCH_HEARTBEAT = 5.0
QUORUM_GRACE = 3.0
CHECK_EVERY = 1.0
APPLY_GRACE = 0.5


class WatchLiveness:
    def __init__(self, store: Store):
        self.store = store

    def in_contact(self) -> bool:
        return self.store.in_contact_with_quorum(QUORUM_GRACE)

    async def not_ready_reason(self) -> str | None:
        """Why this master should not get traffic, or None when it should."""
        if not self.store.isReady():
            return "not caught up with the leader since it started"
        if not self.in_contact():
            return f"no contact with a majority of the masters for {QUORUM_GRACE:g}s"
        behind = self.store.applying_behind
        if behind:
            # Under load a few committed entries always wait to be applied: only a lag
            # that does not clear is a master that cannot apply (a damaged state).
            target = self.store.raftCommitIndex
            await asyncio.sleep(APPLY_GRACE)
            if self.store.raftLastApplied < target:
                return (f"applied index {self.store.raftLastApplied} trails the commit index "
                        f"{self.store.raftCommitIndex}")
        return None


def bookmark(kind: str, api_version: str, revision: int) -> dict:
    """Kubernetes' BOOKMARK event: only the kind and a resourceVersion to resume from."""
    return {"type": "BOOKMARK",
            "object": {"kind": kind, "apiVersion": api_version, "metadata": {"resourceVersion": str(revision)}}}
