"""The fencing token check: a host obeys only the newest leader it has heard from.

Raft can leave a deposed leader that still believes it leads; every request carries
the sender's Raft term and the host keeps the highest term seen, on disk so a helper
restart (a new connection) cannot forget it. A lower term is refused.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger(__name__)


class StaleTerm(Exception):
    """The request comes from a leader older than one this host has already obeyed."""

    def __init__(self, term: int, highest: int):
        super().__init__(f"stale term {term} < {highest}")
        self.term, self.highest = term, highest


class TermError(Exception):
    """The term file cannot be read or written: no request can be checked, none is obeyed."""


class TermStore:
    """The highest term this host has seen, kept in one file written atomically."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self.admitted = 0  # the highest term this process has accepted a request with

    def admit(self, term: int) -> None:
        """Accept `term` (recording it when it is new and higher) or raise StaleTerm;
        TermError when the file cannot be read or the new term cannot be recorded."""
        try:
            self._admit(term)
        except OSError as exc:
            raise TermError(f"cannot check the term: {self.path}: {exc.strerror or exc}") from None

    def _admit(self, term: int) -> None:
        with self._lock, self._host_lock():
            # Re-read each time: two helpers (two connections, or an old leader's helper
            # still draining) may share the file, so the read-compare-write is under flock.
            highest = self._read()
            if term < highest:
                raise StaleTerm(term, highest)
            if term > highest:
                self._write(term)
                log.info("term %d recorded (was %d)", term, highest)
            self.admitted = max(self.admitted, term)

    def superseded(self) -> bool:
        """Whether a newer leader has spoken to this host (through another helper process)
        since this one last accepted a request: what this helper does on its own, its
        probes, must then stop, or a deposed leader's helper would go on killing containers."""
        with self._lock:
            try:
                return self._read() > self.admitted
            except (TermError, OSError):  # no telling who leads now: act on nothing alone
                return True

    @contextmanager
    def _host_lock(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(f".{self.path.name}.lock"), "a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            yield

    def highest(self) -> int:
        with self._lock:
            try:
                return self._read()
            except OSError as exc:
                raise TermError(f"cannot read the term: {self.path}: {exc.strerror or exc}") from None

    def _read(self) -> int:
        """The recorded term; 0 only when no term was ever recorded. Anything else that
        cannot be read is an error: reading it as 0 would obey a deposed leader."""
        try:
            text = self.path.read_text().strip()
        except FileNotFoundError:
            return 0
        if not text.isdigit():
            raise TermError(f"the term file {self.path} holds {text[:20]!r}, not a term")
        return int(text)

    def _write(self, term: int) -> None:
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        with open(tmp, "w") as f:
            f.write(f"{term}\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
