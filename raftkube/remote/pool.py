"""Connections to many hosts: one HostConnection each, fan-out on a bounded thread pool.

Fabric's ThreadingGroup starts a thread per host with no limit; a leader driving a few
hundred hosts needs a bound, and one host's failure must not hide the others' results.
"""

import logging
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from raftkube.errors import UserError
from raftkube.remote.connection import HostConnection
from raftkube.remote.inventory import Host
from raftkube.remote.zipapp import helper_zipapp

log = logging.getLogger(__name__)


class UnknownHost(UserError):
    """A host name that is not in the pool."""


@dataclass(frozen=True)
class Outcome:
    """One host's answer to a fan-out call: its result, or the error it raised."""

    host: str
    result: Any = None
    error: UserError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class HostPool:
    """The leader's connections, opened on first use and kept; close() ends every helper."""

    def __init__(self, hosts: Iterable[Host], known_hosts: str | Path, max_workers: int = 16, **connection_options):
        zipapp = helper_zipapp()  # built once here, not raced for by the first fan-out
        self._connections = {host.name: HostConnection(host, known_hosts, zipapp, **connection_options) for host in hosts}
        self._executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="hosts")

    @property
    def names(self) -> list[str]:
        return list(self._connections)

    def connection(self, name: str) -> HostConnection:
        try:
            return self._connections[name]
        except KeyError:
            raise UnknownHost(f"no host named {name!r} among {', '.join(self._connections) or 'no hosts'}") from None

    def call(self, name: str, op: str, args: dict | None = None, term: int = 0, timeout: float = 30.0) -> Any:
        return self.connection(name).call(op, args, term, timeout)

    def call_all(
        self, op: str, args: dict | None = None, term: int = 0, timeout: float = 30.0, hosts: Iterable[str] | None = None
    ) -> dict[str, Outcome]:
        """Run `op` on every host (or those named) in parallel, at most max_workers at once."""
        names = list(self._connections if hosts is None else hosts)
        connections = [self.connection(name) for name in names]
        futures = [self._executor.submit(_outcome, name, conn, op, args, term, timeout) for name, conn in zip(names, connections)]
        return {outcome.host: outcome for outcome in (future.result() for future in futures)}

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        for conn in self._connections.values():
            conn.close()

    def __enter__(self) -> "HostPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _outcome(name: str, conn: HostConnection, op: str, args: dict | None, term: int, timeout: float) -> Outcome:
    try:
        return Outcome(name, result=conn.call(op, args, term, timeout))
    except UserError as exc:
        log.debug("%s: %s failed: %s", name, op, exc)
        return Outcome(name, error=exc)
