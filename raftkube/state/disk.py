"""Free space on a master's data disk: writes stop before the Raft journal fills it.

pysyncobj's journal is a memory-mapped file that dies with SIGBUS when the disk is full
(see raft_patches for the growth fix). A master therefore refuses writes while its
data disk has less than `raftkube_min_free` bytes free (HTTP 507 naming the disk, and as
leader it refuses commands forwarded by the others), keeps serving reads, and takes
writes again by itself once space is back.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from raftkube.errors import UserError
from raftkube.state.quantity import parse_memory

logger = logging.getLogger(__name__)

DEFAULT_MIN_FREE = 256 * 2**20
CHECK_EVERY = 0.5


class DiskLow(UserError):
    """This master's data disk is below its free-space threshold."""


def parse_min_free(value) -> int:
    """`raftkube_min_free`: bytes, or a quantity like 256Mi / 1Gi."""
    if value is None:
        return DEFAULT_MIN_FREE
    try:
        return int(value) if str(value).isdigit() else parse_memory(str(value))
    except UserError as exc:
        raise UserError(f"raftkube_min_free: {exc}") from None


class DiskGuard:
    """Answers "is the data disk low?" from statvfs, at most every CHECK_EVERY seconds."""

    def __init__(self, path: Path, min_free: int = DEFAULT_MIN_FREE):
        self.path = Path(path)
        self.min_free = min_free
        self._checked = 0.0
        self._free = None
        self._low = False

    @property
    def low(self) -> bool:
        now = time.monotonic()
        if now - self._checked >= CHECK_EVERY:
            self._checked = now
            try:
                stat = os.statvfs(self.path)
                self._free = stat.f_bavail * stat.f_frsize
            except OSError as exc:
                logger.warning("cannot check free space on %s: %s", self.path, exc.strerror)
                return self._low
            low = self._free < self.min_free
            if low != self._low:
                if low:
                    logger.error("%s: refusing writes until space is freed", self.describe())
                else:
                    logger.warning("data disk of %s has %d MiB free again: taking writes", self.path, self._free >> 20)
            self._low = low
        return self._low

    def describe(self) -> str:
        return (f"the data disk of {self.path} has {(self._free or 0) >> 20} MiB free, below "
                f"raftkube_min_free ({self.min_free >> 20} MiB)")

    def check(self) -> None:
        """Raise DiskLow when the disk is low (what the API calls before each write)."""
        if self.low:
            raise DiskLow(f"{self.describe()}: writes are refused until space is freed there; reads still work")
