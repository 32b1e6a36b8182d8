"""The leader's lease: when the loops of this master may act.

Raft alone is not enough: pysyncobj lets a deposed leader believe it leads for a while.
So the leader commits a `lease` command for its term every RENEW_EVERY seconds and
counts itself the holder only until LEASE_TIMEOUT after it *sent* the last renewal that
committed. A leader cut off from the majority therefore stops acting within
LEASE_TIMEOUT, and a new leader waits out the remainder of the previous holder's lease
(timed from when this replica last applied that holder's renewal) before it starts.

Why that is safe: a renewal is applied here only after its holder sent it, so
`applied_at + LEASE_TIMEOUT` (new leader's clock) is no earlier than `sent_at +
LEASE_TIMEOUT` (old leader's clock), the end of the old holder's lease; monotonic clocks
of two machines run at the same rate to within parts per million. The new leader must
know the *last* renewal the old holder counted: it may not have applied it yet when it
is elected (the old leader can die between committing it and telling the followers), so
it reads the previous holder's renewals only after its own first renewal has committed,
which means every entry before it is applied here.

The numbers: a new leader waits about LEASE_TIMEOUT after the old one stopped, so a
failover costs the Raft election (0.4-1.4 s here, see `store.raft_conf`) overlapped with
LEASE_TIMEOUT. A leader loses the lease (and stops and later rebuilds every controller)
when none of the renewals it sent in the last LEASE_TIMEOUT has committed: renewals are
sent every RENEW_EVERY without waiting for the one before, so that happens only when a
commit takes longer than LEASE_TIMEOUT - RENEW_EVERY (0.8 s), or the loops' event loop
is held that long. Commits take milliseconds on a healthy cluster; a leader whose
commits take most of a second is better replaced than kept acting half-blind. A shorter
lease would make the loops churn on the first slow disk or busy CPU; a longer one is
paid by every failover.

Pure timing decisions over monotonic clocks; the runner does the committing.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

RENEW_EVERY = 0.2
LEASE_TIMEOUT = 1.0


@dataclass
class Lease:
    """What this master knows of its own lease in one Raft term."""

    term: int
    holder: str
    valid_until: float = float("-inf")  # monotonic
    may_start_at: float = float("-inf")  # monotonic: the previous holder's lease is over then

    def renewed(self, sent_at: float, result: dict | None, current_term: int) -> bool:
        """Record the outcome of a renewal sent at `sent_at`; True if it extends the lease.

        Only a renewal committed for this very term by this holder counts: a result for
        another term means another leader was elected meanwhile.
        """
        lease = (result or {}).get("object") if (result or {}).get("ok") else None
        if not lease or lease.get("term") != self.term or lease.get("holder") != self.holder:
            return False
        if current_term != self.term:
            return False
        self.valid_until = max(self.valid_until, sent_at + LEASE_TIMEOUT)
        return True

    def previous_holder_seen(self, applied_at: float) -> None:
        """Another holder's renewal was applied here at `applied_at`: it may act until
        at most LEASE_TIMEOUT later (it sent that renewal before we applied it)."""
        self.may_start_at = max(self.may_start_at, applied_at + LEASE_TIMEOUT)

    def holds(self, now: float, current_term: int, is_leader: bool) -> bool:
        """May the loops act now?"""
        return is_leader and current_term == self.term and now < self.valid_until

    def may_start(self, now: float) -> bool:
        return now >= self.may_start_at


@dataclass
class Sightings:
    """When this replica last applied a renewal of each recent lease, by (holder, term).

    Written on pysyncobj's tick thread as entries apply, read by the loops' event loop.
    """

    keep: int = 4
    _applied: dict = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def applied(self, holder: str, term: int, at: float) -> None:
        with self._lock:
            self._applied.pop((holder, term), None)
            self._applied[(holder, term)] = at
            while len(self._applied) > self.keep:
                del self._applied[next(iter(self._applied))]

    def others_last(self, holder: str, term: int) -> float:
        """The last time a renewal of any lease but `holder`'s in `term` was applied here."""
        with self._lock:
            return max((at for key, at in self._applied.items() if key != (holder, term)), default=float("-inf"))
