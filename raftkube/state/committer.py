"""Commit commands through Raft from asyncio: batching, retries, deadlines, read barriers.

pysyncobj is synchronous and calls back on its tick thread; the HTTP API runs on an
asyncio loop. This is the bridge. Commands submitted during one loop iteration share
one Raft entry, which is what makes the API's write rate close to pysyncobj's raw rate.
A read barrier is an empty batch: once it is applied locally, every write committed
before it is visible here, on a follower as on the leader.

A command may commit even though its caller saw a failure (leader change, timeout), so
retries reuse the command's request id and the state machine applies it only once. And
a command may wait in pysyncobj while there is no leader, so each carries a deadline
(wall clock) that the state machine checks against the leader's clock when it applies
it: a command the caller gave up on (503) is refused then, never applied late.
"""

from __future__ import annotations

import asyncio
import logging
import time

from pysyncobj import FAIL_REASON

from raftkube.errors import UserError
from raftkube.state.store import FAILURE_NAMES, Store

logger = logging.getLogger(__name__)

# A command's deadline is this much before the caller gives up, so that one appended to
# the log just in time is also committed before the caller hears 503 (and masters'
# clocks may differ by a little: keep them in sync with NTP).
DEADLINE_MARGIN = 1.0
# One Raft entry holds at most this much (JSON size) of commands, well under the
# transport's frame cap (raft_patches.MAX_FRAME).
MAX_BATCH_BYTES = 4 * 2**20


class NoQuorum(UserError):
    """The masters could not commit in time: no leader, or no majority reachable."""


class LeaderDiskLow(UserError):
    """The leader refused the write: its data disk is below raftkube_min_free."""


class Committer:
    """Batches concurrent commands into single replicated calls on one event loop."""

    def __init__(self, store: Store, attempt_timeout: float = 1.5, deadline: float = 6.0):
        self._store = store
        self._attempt_timeout = attempt_timeout
        self._deadline = deadline
        self._pending: list[tuple[dict | None, asyncio.Future]] = []
        self._flush_scheduled = False

    async def run(self, command: dict, size: int = 0) -> dict:
        """Commit one command (it must carry a request id) and return its result.

        `size` (the JSON size of the object it carries, when known) keeps Raft entries small.
        """
        command = {**command, "deadline": time.time() + self._deadline - DEADLINE_MARGIN}
        if size:
            command["size"] = size  # the state machine's byte bounds use it as measured
        return await self._commit(command, size)

    async def barrier(self) -> None:
        """Return once every write committed before this call is applied locally."""
        await self._commit(None)

    async def _commit(self, command: dict | None, size: int = 0) -> dict | None:
        give_up = time.monotonic() + self._deadline
        backoff = 0.05
        while True:
            loop = asyncio.get_running_loop()
            future = loop.create_future()
            self._pending.append((command, future, size))
            if not self._flush_scheduled:
                self._flush_scheduled = True
                loop.call_soon(self._flush)
            remaining = give_up - time.monotonic()
            try:
                return await asyncio.wait_for(future, min(self._attempt_timeout, max(remaining, 0.01)))
            except asyncio.TimeoutError:
                reason = "timed out"
            except _Retry as retry:
                if retry.reason == "disk low":
                    raise LeaderDiskLow("the leading master's data disk is below its raftkube_min_free: "
                                        "writes are refused until space is freed there") from None
                reason = retry.reason
            if time.monotonic() + backoff >= give_up:
                raise NoQuorum(f"the masters did not commit within {self._deadline:.0f}s "
                               f"({reason}); no leader or no majority reachable")
            logger.debug("retrying commit: %s", reason)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 0.4)

    def _flush(self) -> None:
        self._flush_scheduled = False
        pending, self._pending = self._pending, []
        batch, total = [], 0
        for command, future, size in pending:
            if future.done():
                continue
            if batch and total + size > MAX_BATCH_BYTES:
                self._submit(batch)
                batch, total = [], 0
            batch.append((command, future))
            total += size
        if batch:
            self._submit(batch)

    def _submit(self, batch: list) -> None:
        loop = asyncio.get_running_loop()
        commands = [command for command, _ in batch if command is not None]

        def on_result(results, failure) -> None:
            # Runs on pysyncobj's tick thread: hand over to the loop, never raise here.
            try:
                loop.call_soon_threadsafe(self._resolve, batch, results, failure)
            except RuntimeError:
                pass  # the loop is closed: the master is shutting down

        self._store.submit(commands, on_result)

    @staticmethod
    def _resolve(batch, results, failure) -> None:
        # Every pysyncobj failure (no leader, leader changed, discarded, queue full) is
        # worth retrying until the deadline: the request ids make a retry harmless.
        if failure != FAIL_REASON.SUCCESS or not isinstance(results, list):
            name = FAILURE_NAMES.get(failure, str(failure))
            for _, future in batch:
                if not future.done():
                    future.set_exception(_Retry(name.lower().replace("_", " ")))
            return
        answers = iter(results)
        for command, future in batch:
            answer = next(answers, None) if command is not None else None
            if not future.done():
                future.set_result(answer)


class _Retry(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason
