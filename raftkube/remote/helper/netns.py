"""setns(2) for one thread: how the helper works inside a pod's network namespace."""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable

CLONE_NEWNET = 0x40000000

# os.setns is Python >= 3.12; hosts' pythons may be older.
_LIBC_SETNS: Callable[..., int] | None = None if hasattr(os, "setns") else ctypes.CDLL(None, use_errno=True).setns


def setns_net(fd: int) -> None:
    """Move this thread (only) into the network namespace `fd`."""
    if _LIBC_SETNS is None:
        os.setns(fd, CLONE_NEWNET)
    elif _LIBC_SETNS(fd, CLONE_NEWNET) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"setns: {os.strerror(errno)}")
