"""The Raft-replicated store: one pysyncobj `SyncObj` holding the `ClusterState`.

The state lives in a `SyncObjConsumer` rather than in the SyncObj's own attributes
because pysyncobj's tick thread may load a snapshot into the object before our
`__init__` returns; a consumer's `_serialize/_deserialize` are explicit and under our
lock. The one replicated method, `execute`, applies a batch of commands: the API groups
concurrent writes (and read barriers) into one Raft entry.

Everything here that blocks takes a timeout or a callback; callbacks run on pysyncobj's
tick thread and must not block or raise.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from pysyncobj import FAIL_REASON, SyncObj, SyncObjConf, SyncObjConsumer, replicated

from raftkube.state import raft_patches
from raftkube.state.commands import ClusterState

logger = logging.getLogger(__name__)

# Our own failure for a command refused before it entered the log (pysyncobj's are 0-10).
DISK_LOW = 100
FAILURE_NAMES = {value: name for name, value in vars(FAIL_REASON).items() if name.isupper()}
FAILURE_NAMES[DISK_LOW] = "DISK_LOW"


def raft_conf(password: str, data_dir: Path | None, **overrides) -> SyncObjConf:
    """pysyncobj settings for fast failover (a new leader in ~1-2 s) and persistence."""
    if not password:
        raise ValueError("the Raft password must be set: pysyncobj's wire format is pickle")
    settings = dict(
        password=password,
        raftMinTimeout=0.4,
        raftMaxTimeout=1.4,
        appendEntriesPeriod=0.05,
        # Send each entry at once (~2 ms per commit instead of up to a period): the
        # committer already groups concurrent commands into one entry. (Store closes
        # pysyncobj's re-send trap under load: see raft_patches, "Log replication".)
        appendEntriesUseBatch=False,
        autoTickPeriod=0.01,
        connectionRetryTime=0.5,
        connectionTimeout=1.5,
        # Give up on a taken Raft port after ~3 s (`waitBinded` raises) instead of forever.
        bindRetryTime=0.5,
        maxBindRetries=6,
        # A deposed leader that cannot reach a quorum steps down after this long; the
        # loops also fence themselves with the lease, so this is only a backstop.
        leaderFallbackTimeout=5.0,
        dynamicMembershipChange=True,
        commandsWaitLeader=True,
        logCompactionMinEntries=20000,
        logCompactionMinTime=300,
    )
    if data_dir is not None:
        data_dir.mkdir(parents=True, exist_ok=True)
        settings.update(journalFile=str(data_dir / "raft.journal"), fullDumpFile=str(data_dir / "raft.dump"))
    settings.update(overrides)
    return SyncObjConf(**settings)


class _StateConsumer(SyncObjConsumer):
    """Owns the replicated `ClusterState`; `execute` is the only way it changes."""

    def __init__(self, lock: threading.RLock, on_applied: Callable[[int], None]):
        # Attributes set before SyncObjConsumer.__init__ are not part of snapshots.
        self._lock = lock
        self._on_applied = on_applied
        super().__init__()
        self.state = ClusterState()

    @replicated
    def execute(self, commands) -> list[dict]:
        with self._lock:
            results = self.state.apply_batch(commands)
            revision = self.state.revision
        self._notify(revision)
        return results

    @replicated
    def stamp_clock(self, now) -> None:
        """The leader's wall clock, put in the log before the commands it appends."""
        with self._lock:
            before = self.state.revision
            self.state.stamp_clock(now)
            revision = self.state.revision
        if revision != before:  # expired objects were removed
            self._notify(revision)

    def _notify(self, revision: int) -> None:
        try:
            self._on_applied(revision)
        except Exception:  # a raise here would wedge pysyncobj's apply loop
            logger.exception("change listener failed")

    def _serialize(self):
        with self._lock:
            return {"state": self.state}

    def _deserialize(self, data):
        with self._lock:
            self.state = data["state"]
            revision = self.state.revision
        self._notify(revision)


class Store(SyncObj):
    """One master's replica of the cluster state.

    `submit` is asynchronous (its callback runs on the tick thread); `read` runs a
    function over the local state under the lock, for callers that already did a read
    barrier or accept a possibly stale answer.
    """

    def __init__(self, self_address: str, peers: list[str], conf: SyncObjConf,
                 on_applied: Callable[[int], None] | None = None,
                 disk_low: Callable[[], bool] | None = None):
        self._lock = threading.RLock()
        self._listeners: list[Callable[[int], None]] = []
        if on_applied is not None:
            self._listeners.append(on_applied)
        self._disk_low = disk_low
        self._consumer = _StateConsumer(self._lock, self._notify)
        conf.onStateChanged = self._on_state_changed
        super().__init__(self_address, [p for p in peers if p != self_address], conf,
                         consumers=[self._consumer], transportClass=raft_patches.GuardedTransport)
        consumer_id = id(self._consumer)
        self._execute_id = self._methodToID[(consumer_id, self._getFuncName((consumer_id, "execute")))]
        stamp_id = self._methodToID[(consumer_id, self._getFuncName((consumer_id, "stamp_clock")))]
        # No command is queued yet: the tick thread picks the wrapper up on its next pass.
        self._SyncObj__commandsQueue = raft_patches.StampingQueue(
            self._SyncObj__commandsQueue, self._isLeader, lambda: self.raftCurrentTerm,
            lambda now: raft_patches.regular_command(stamp_id, (now,)))

    def _on_state_changed(self, old: int, new: int) -> None:
        """On stepping down, forget this leader's entries that no majority acknowledged.

        Otherwise a deposed leader re-elected after a partition heals commits them, long
        after their callers were told 503 (and after their deadline: the clock stamp before
        them is as old as they are). No replica has applied them (none saw a commit index
        that high) and any a majority does hold are still on it, so dropping them here is
        what losing an unsynced journal tail already is. Runs on the tick thread.
        """
        if old != 2 or new == 2:  # pysyncobj's _RAFT_STATE.LEADER
            return
        try:
            tail = self._SyncObj__getEntries(self.raftCommitIndex + 1)
            if tail and not any(entry[0][:1] == raft_patches.MEMBERSHIP_COMMAND for entry in tail):
                logger.warning("stepped down: dropping %d uncommitted log entries from index %d",
                               len(tail), self.raftCommitIndex + 1)
                self._SyncObj__deleteEntriesFrom(self.raftCommitIndex + 1)
        except Exception:  # never break pysyncobj's state change
            logger.exception("could not drop the uncommitted log tail")

    def _SyncObj__onMessageReceived(self, node, message):
        """pysyncobj's handler of every peer message, with its append-entries traps closed
        (raft_patches, "Log replication"). Runs on the tick thread."""
        kind = message.get("type") if isinstance(message, dict) else None
        if kind == "append_entries" and not self._isLeader():
            message = raft_patches.skip_held_entries(message, self._SyncObj__raftLog)
        elif kind == "next_node_idx" and message.get("success") and not message.get("reset"):
            next_index = self._SyncObj__raftNextIndex
            before = next_index.get(node)
            super()._SyncObj__onMessageReceived(node, message)
            raft_patches.keep_next_index(next_index, node, before)
            return
        super()._SyncObj__onMessageReceived(node, message)

    def _applyCommand(self, command, callback, commandType=None):
        """pysyncobj's entry point for every command, local or forwarded by a follower.

        While this master's disk is low, writes are refused here, before they reach
        the journal; read barriers (empty batches) and clock stamps still pass.
        """
        if self._disk_low is not None and self._disk_low() and self._is_write(command, commandType):
            self._SyncObj__callErrCallback(DISK_LOW, callback)
            return
        super()._applyCommand(command, callback, commandType)

    def _is_write(self, command: bytes, command_type) -> bool:
        if command_type is not None:
            command = bytes([command_type]) + command
        try:
            decoded = raft_patches.decode_regular(command)
        except Exception:
            return True
        return decoded is not None and decoded[0] == self._execute_id and decoded[1] not in (([],), [[]])

    def in_contact_with_quorum(self, within: float = 3.0) -> bool:
        """Whether this master heard from a Raft majority in the last `within` seconds.

        pysyncobj's own `hasQuorum` counts open connections, which a silent partition
        leaves open; a follower may keep naming a leader it no longer hears. So: a leader
        counts followers that answered recently, a follower asks when the leader last
        pushed its election deadline back (reading pysyncobj 0.3.17's private fields).
        """
        if self._isLeader():
            return len(self.heard_within(within)) > (len(self.otherNodes) + 1) / 2
        if self._getLeader() is None:
            return False
        last_heard = self._SyncObj__raftElectionDeadline - self.conf.raftMaxTimeout
        return raft_patches.monotonic() - last_heard < within

    def _notify(self, revision: int) -> None:
        for listener in list(self._listeners):
            listener(revision)

    @property
    def applying_behind(self) -> int:
        """How many committed entries this replica has not applied yet."""
        return max(0, self.raftCommitIndex - self.raftLastApplied)

    def add_listener(self, listener: Callable[[int], None]) -> None:
        """Call `listener(revision)` on the tick thread after each applied entry."""
        self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[int], None]) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def submit(self, commands: list[dict], callback: Callable[[list[dict] | None, int], None]) -> None:
        """Replicate a batch; `callback(results, fail_reason)` runs on the tick thread."""
        self._consumer.execute(commands, callback=callback)

    def read(self, reader: Callable[[ClusterState], object]):
        with self._lock:
            return reader(self._consumer.state)

    @property
    def term(self) -> int:
        return self.raftCurrentTerm

    @property
    def is_leader(self) -> bool:
        return self._isLeader()

    def heard_within(self, within: float) -> set[str]:
        """As leader: the Raft addresses of the members heard from in the last `within`
        seconds (each follower answers the leader's heartbeats), this replica included.
        Elsewhere only this replica's own address."""
        heard = {self.selfNode.address}
        if self._isLeader():
            since = raft_patches.monotonic() - within
            responses = dict(self._SyncObj__lastResponseTime)
            heard |= {node.address for node in self.otherNodes if responses.get(node, 0) > since}
        return heard

    def raft_status(self) -> dict:
        """This replica's view: its state, leader, term, indexes and every member's match."""
        for _ in range(10):
            try:
                # getStatus and otherNodes iterate pysyncobj's own dicts and sets, which the
                # tick thread may be changing (a member joining or leaving).
                raw = self.getStatus()
                others = sorted(node.address for node in self.otherNodes)
                break
            except RuntimeError:
                continue
        else:
            raw = self.getStatus()
            others = sorted(node.address for node in self.otherNodes)
        members = [self.selfNode.address] + others
        state = {0: "follower", 1: "candidate", 2: "leader"}.get(raw["state"], str(raw["state"]))
        return {
            "self": self.selfNode.address,
            "state": state,
            "leader": raw["leader"].address if raw["leader"] is not None else None,
            "term": raw["raft_term"],
            "commitIndex": raw["commit_idx"],
            "lastApplied": raw["last_applied"],
            "hasQuorum": raw["has_quorum"],
            "ready": self.isReady(),
            "members": [
                {
                    "address": address,
                    "connected": address == self.selfNode.address
                    or raw.get(f"partner_node_status_server_{address}") == 2,
                    "matchIndex": raw["commit_idx"] if address == self.selfNode.address
                    else raw.get(f"match_idx_server_{address}"),
                }
                for address in members
            ],
        }
