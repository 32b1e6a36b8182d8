"""Loopback ports for masters that tests and benchmarks start."""

from __future__ import annotations

import random
import socket
from pathlib import Path

_handed_out: set[int] = set()


def free_port() -> int:
    """A loopback port nothing listens on, for a master to bind a moment later. Never one
    handed out before in this process (the kernel's port 0 may give the same one twice),
    and below the kernel's range for outgoing connections (a master's connect() to a peer
    may take a port from that range before the master meant to listen on it binds it)."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    while True:
        port = random.randrange(10000, low)
        if port in _handed_out:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
