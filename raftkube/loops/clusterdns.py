"""Cluster DNS follows the masters that answer.

`setup` writes kube-system/kube-dns' Endpoints by hand: every master's DNS server. A
master that is down would still get its share of the pods' lookups, each waiting out
the resolver's timeout. The leader hears every master over Raft (each follower answers
its heartbeats), so this loop moves a master not heard from for SILENCE seconds to the
Endpoints' `notReadyAddresses` (kube-proxy's rules leave those out, as for a pod that
is not Ready) and back to `addresses` once it has been heard for HOLD seconds without
a silence (a master whose replies come and go is not moved back and forth every few
seconds). Addresses that are no master's are left where they are. A write is made only
when a master moves, and only on the Endpoints it read; a write that fails is tried
again at the next check.
"""

from __future__ import annotations

import asyncio
import logging
import time

from raftkube.loops.controller import Controller, Fenced

logger = logging.getLogger(__name__)

NAMESPACE, NAME = "kube-system", "kube-dns"
SILENCE = 3.0  # seconds without a word from a master before its DNS server is left out
HOLD = 10.0  # seconds a master left out must be heard throughout before it is taken back
PERIOD = 1.0


def dns_subsets(subsets: list[dict], heard: dict[str, bool]) -> list[dict]:
    """`subsets` with each master's address (by IP, `heard[ip]`) among `addresses` if
    heard, else among `notReadyAddresses`; the order of what stays put is kept."""
    result = []
    for subset in subsets:
        ready, not_ready = [], []
        for address in subset.get("addresses") or ():
            (not_ready if heard.get(address.get("ip")) is False else ready).append(address)
        for address in subset.get("notReadyAddresses") or ():
            (ready if heard.get(address.get("ip")) is True else not_ready).append(address)
        moved = {key: value for key, value in subset.items() if key not in ("addresses", "notReadyAddresses")}
        if ready:
            moved["addresses"] = ready
        if not_ready:
            moved["notReadyAddresses"] = not_ready
        result.append(moved)
    return result


class ClusterDns(Controller):
    """Keeps kube-dns' Endpoints on the masters the leader hears (see the module)."""

    name = "cluster-dns"

    def __init__(self, ctx):
        super().__init__(ctx)
        self._last_silent: dict[str, float] = {}  # master IP -> when (monotonic) last found silent

    async def sync(self, key) -> None:  # all its work is the periodic check
        return None

    async def background(self) -> None:
        if self.ctx.masters_heard is None:
            return
        while True:
            await asyncio.sleep(PERIOD)
            try:
                await self.follow_masters()
            except Fenced:
                raise
            except Exception as exc:  # no quorum, a full disk: the next check tries again
                logger.info("cluster DNS: kube-dns endpoints not written: %s", exc)

    def verdicts(self, now: float) -> dict[str, bool]:
        """Master IP -> whether its DNS server should be in `addresses` now."""
        verdicts = {}
        for ip, heard in self.ctx.masters_heard(SILENCE).items():
            if not heard:
                self._last_silent[ip] = now
            verdicts[ip] = heard and now - self._last_silent.get(ip, float("-inf")) >= HOLD
        return verdicts

    async def follow_masters(self) -> None:
        now = time.monotonic()
        if now - self.ctx.started < SILENCE:
            return  # a new leader has not had the time to hear every follower
        verdicts = self.verdicts(now)
        service = self.cache.get("Service", NAMESPACE, NAME)
        current = self.cache.get("Endpoints", NAMESPACE, NAME)
        if service is None or current is None or (service.get("spec") or {}).get("selector"):
            return  # no cluster DNS set up, or someone made it select pods
        subsets = current.get("subsets") or []
        wanted = dns_subsets(subsets, verdicts)
        if wanted == subsets:
            return
        result = await self.ctx.update({**current, "subsets": wanted})
        if result["ok"]:
            left_out = sorted(ip for ip, ready in verdicts.items() if not ready)
            logger.warning("cluster DNS now leaves out the masters not heard from lately: %s",
                           ", ".join(left_out) or "none")
        elif result["reason"] != "Conflict":  # a conflict: the cache moves on, the next check sees it
            logger.warning("kube-dns endpoints not written: %s", result["message"])
