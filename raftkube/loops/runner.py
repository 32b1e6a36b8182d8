"""Running the loops on the leader only: leadership, the lease, start and stop.

`Loops.run()` lives as long as the master process. Whenever this master is the Raft
leader it commits a lease for its term; once one commits (and the previous holder's
lease is surely over) it builds a fresh `LoopContext` and new controllers over the
process's cache of the replicated state, and starts them. It renews the lease every
`lease.RENEW_EVERY` s and stops every controller at once when the lease cannot be
renewed in time or the term changes. Nothing survives a term but the cache (a view of this replica's applied
state, whoever leads) and the host connections (their calls carry the new term): a new
leader rebuilds everything else from the state and from what the hosts report.

Every master, leading or not, keeps a connection and a running helper to each node from
the moment it starts (an SSH connect and a helper start cost about a second per node,
which a failover would otherwise pay before its first pod). A standby connection only
keeps the helper alive: the helper acts on a host only for calls carrying a Raft term,
and those come only from `LoopContext.host_call`, fenced by this master's lease.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from raftkube.errors import UserError
from raftkube.loops import lease as lease_timing
from raftkube.loops import registry
from raftkube.loops.cache import Cache
from raftkube.loops.controller import Fenced, LoopContext, LoopSettings, NotLeader
from raftkube.loops.events import EventRecorder
from raftkube.remote.inventory import Inventory
from raftkube.state.committer import DEADLINE_MARGIN, Committer

logger = logging.getLogger(__name__)

WATCHDOG_PERIOD = 0.05
RECONNECT_MAX = 3.0
# How often a master looks for node connections to reopen (each waits out its back-off).
STANDBY_PERIOD = 1.0
# A controller that fails ends every loop of its term (crash-only: the next start
# rebuilds them all from the replicated state). The first restart is at once, the next
# ones back off up to RESTART_MAX, so one that fails at every start cannot spin; loops
# that ran RESTART_RESET without a failure start again at once.
RESTART_FIRST = 0.5
RESTART_MAX = 30.0
RESTART_RESET = 60.0


class Loops:
    """The control loops of one master process (they act only while it leads)."""

    def __init__(self, store, holder: str, inventory: Inventory | None = None):
        self._store = store
        self._holder = holder
        self._inventory = inventory
        self._settings = LoopSettings.from_vars(inventory.host(holder).vars if inventory else {})
        self._node_hosts = {host.name: host for host in inventory.nodes} if inventory else {}
        self._pool = None
        self._executor: ThreadPoolExecutor | None = None
        self.context: LoopContext | None = None
        self._lease: lease_timing.Lease | None = None
        self._cache: Cache | None = None
        self._last_lease = None
        self._sightings = lease_timing.Sightings()
        self.node_access = NodeAccess(self)

    # -- the lease as seen by this replica ----------------------------------------------

    def _on_applied(self, revision: int) -> None:  # tick thread: never block
        current = self._store.read(lambda state: state.lease)
        if current is not self._last_lease:
            self._last_lease = current
            if current is not None:
                self._sightings.applied(current.get("holder"), current.get("term"), time.monotonic())

    def holds_lease(self) -> bool:
        lease = self._lease
        return lease is not None and lease.holds(time.monotonic(), self._store.term, self._store.is_leader)

    # -- the supervisor -----------------------------------------------------------------

    async def run(self) -> None:
        """Until cancelled: lead when elected, stand by otherwise."""
        self._store.add_listener(self._on_applied)
        self._cache = Cache(self._store, asyncio.get_running_loop())
        self._cache.start()
        # A renewal is worth something only within LEASE_TIMEOUT of being sent: its
        # deadline (DEADLINE_MARGIN before the committer's) makes a later one refused,
        # and the next renewal is already on its way, so there is no second attempt.
        committer = Committer(self._store, attempt_timeout=lease_timing.LEASE_TIMEOUT,
                              deadline=lease_timing.LEASE_TIMEOUT + DEADLINE_MARGIN)
        standby: list[asyncio.Task] = []
        try:
            if self._node_hosts:
                self._pool, self._executor = await asyncio.get_running_loop().run_in_executor(None, self._open_hosts)
                standby = [asyncio.create_task(self._keep_connected(name), name=f"standby-{name}")
                           for name in self._pool.names]
            failures, failed_term = 0, None
            while True:
                if not self._store.is_leader:
                    await asyncio.sleep(WATCHDOG_PERIOD)
                    continue
                started, term = time.monotonic(), self._store.term
                if not await self._lead(committer):
                    continue
                fresh = term != failed_term or time.monotonic() - started >= RESTART_RESET
                failures, failed_term = 1 if fresh else failures + 1, term
                if failures > 1:
                    delay = min(RESTART_FIRST * 2 ** min(failures - 2, 10), RESTART_MAX)
                    logger.warning("%s: the loops failed %d times in a row; starting them again in %.1fs",
                                   self._holder, failures, delay)
                    await asyncio.sleep(delay)
        finally:
            for task in standby:
                task.cancel()
            await asyncio.gather(*standby, return_exceptions=True)
            self._store.remove_listener(self._on_applied)
            self._cache.close()
            await self._close_hosts()

    async def _renew(self, committer: Committer, lease: lease_timing.Lease) -> bool:
        sent = time.monotonic()
        try:
            result = await committer.run({"op": "lease", "rid": f"lease/{lease.holder}/{lease.term}/{sent}",
                                          "holder": lease.holder, "term": lease.term, "now": time.time()})
        except UserError as exc:  # no quorum in time, the leader's disk low: not renewed
            logger.debug("lease renewal failed: %s", exc)
            return False
        return lease.renewed(sent, result, self._store.term)

    async def _lead(self, committer: Committer) -> bool:
        """Run the loops while this master holds the lease; whether they ended otherwise
        (a controller failed or stopped while the lease was still held)."""
        term = self._store.term
        lease = lease_timing.Lease(term, self._holder)
        self._lease = lease
        if not await self._renew(committer, lease):
            await asyncio.sleep(lease_timing.RENEW_EVERY)
            return False
        # Our renewal committed, so every entry before it is applied here: the previous
        # holder's last renewal too, even one it committed just before it died.
        lease.previous_holder_seen(self._sightings.others_last(self._holder, term))
        renewer = asyncio.create_task(self._keep_renewing(committer, lease))
        tasks: list[asyncio.Task] = []
        controllers = None
        try:
            while not lease.may_start(time.monotonic()):
                if not self.holds_lease():
                    return False
                await asyncio.sleep(WATCHDOG_PERIOD)
            logger.warning("%s leads in term %d: starting the loops", self._holder, term)
            try:
                controllers = await self._start(term)
            except Exception:
                logger.exception("%s: the loops of term %d failed to start", self._holder, term)
                return True
            tasks = [asyncio.create_task(self._run_controller(c), name=f"loop-{c.name}") for c in controllers]
            while self.holds_lease() and not any(task.done() for task in tasks):
                await asyncio.sleep(WATCHDOG_PERIOD)
            return self.holds_lease()  # so a controller ended on its own
        finally:
            if controllers is not None:
                logger.warning("%s: stopping the loops of term %d (lease %s)", self._holder, term,
                               "held" if self.holds_lease() else "lost")
            self._lease = None
            renewer.cancel()
            for task in tasks:
                task.cancel()
            await asyncio.gather(renewer, *tasks, return_exceptions=True)
            self._cache.clear_handlers()  # the term's controllers', also of a start that failed
            self.context = None

    async def _keep_renewing(self, committer: Committer, lease: lease_timing.Lease) -> None:
        """A renewal every RENEW_EVERY, each on its own: a slow commit does not hold up the
        next one, so the lease is lost only when commits take LEASE_TIMEOUT - RENEW_EVERY."""
        renewals: set[asyncio.Task] = set()
        try:
            while True:
                renewal = asyncio.create_task(self._renew(committer, lease))
                renewals.add(renewal)
                renewal.add_done_callback(renewals.discard)
                await asyncio.sleep(lease_timing.RENEW_EVERY)
        finally:
            for renewal in list(renewals):
                renewal.cancel()
            await asyncio.gather(*renewals, return_exceptions=True)

    async def _run_controller(self, controller) -> None:
        try:
            await controller.run()
        except Fenced:
            logger.warning("%s fenced", controller.name)
        except UserError as exc:  # an expected failure (a conflict, no quorum): one line
            logger.warning("%s ended: %s; every loop of the term stops and starts again", controller.name, exc)
            raise
        except Exception:
            logger.exception("%s failed: every loop of the term stops and starts again from the replicated state",
                             controller.name)
            raise

    async def _start(self, term: int) -> list:
        cache = self._cache
        cache.pump()  # everything applied so far, before the controllers look
        ctx = LoopContext(holder=self._holder, term=term, cache=cache, committer=Committer(self._store),
                          fenced=lambda: not self.holds_lease(), settings=self._settings,
                          hosts=self._pool, node_hosts=dict(self._node_hosts), executor=self._executor,
                          masters_heard=self._masters_heard if self._inventory else None)
        ctx.events = EventRecorder(ctx)
        controllers = [ctx.events] + [factory(ctx) for factory in registry.CONTROLLERS]
        for controller in controllers:
            controller.setup()
        self.context = ctx
        return controllers

    def _masters_heard(self, silence: float) -> dict[str, bool]:
        """Each master's address -> whether this replica heard from it over Raft within
        `silence` seconds (itself always)."""
        heard = self._store.heard_within(silence)
        verdicts: dict[str, bool] = {}
        for master in self._inventory.masters:
            verdicts[master.address] = (verdicts.get(master.address, False)
                                        or f"{master.address}:{master.raft_port}" in heard)
        return verdicts

    def _open_hosts(self):
        from raftkube.remote.pool import HostPool

        hosts = list(self._node_hosts.values())
        # A node back from an outage is heard again within seconds, not after 30 s of back-off.
        pool = HostPool(hosts, self._inventory.known_hosts_path, max_workers=4, connect_timeout=5.0,
                        backoff_max=RECONNECT_MAX)
        # Each node's worker blocks a thread on its own host only: one per node plus spares.
        executor = ThreadPoolExecutor(max_workers=2 * len(hosts) + 4, thread_name_prefix="loops-hosts")
        return pool, executor

    async def _keep_connected(self, name: str) -> None:
        """Keep the connection to one node open, leading or not (see the module's docstring)."""
        connection = self._pool.connection(name)
        loop = asyncio.get_running_loop()
        while True:
            if not connection.connected:
                try:
                    await loop.run_in_executor(self._executor, connection.connect)
                except UserError as exc:  # logged by the connection; tried again after its back-off
                    logger.debug("standby connection to %s: %s", name, exc)
            await asyncio.sleep(STANDBY_PERIOD)

    async def _close_hosts(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    # -- for the API --------------------------------------------------------------------

    def leader_api(self) -> str | None:
        """`HOST:PORT` (IPv6 bracketed) of the master that leads now, from the inventory, if known."""
        leader = self._store.raft_status().get("leader")
        if not leader or self._inventory is None:
            return None
        for master in self._inventory.masters:
            if f"{master.address}:{master.raft_port}" == leader:
                return master.api_netloc
        return None


class UnknownNode(UserError):
    """A node name with no [nodes] host behind it."""


class NodeAccess:
    """Helper ops on a named node through the leader's host pool, for the API server
    (`pods/log`, `pods/exec`). Raises `NotLeader` on any other master."""

    def __init__(self, loops: Loops):
        self._loops = loops

    async def call(self, node: str, op: str, args: dict | None = None, timeout: float = 30.0) -> Any:
        ctx = self._loops.context
        if ctx is None or ctx.fenced():
            raise NotLeader("this master does not lead the cluster now; ask the leader",
                            self._loops.leader_api())
        if node not in ctx.node_hosts:
            raise UnknownNode(f"node {node!r} is not a [nodes] host of the inventory")
        return await ctx.host_call(node, op, args, timeout)
