"""Loopback ports for masters that tests and benchmarks start."""

from __future__ import annotations

import random
import socket
from pathlib import Path

_handed_out: set[int] = set()


def free_port() -> int:
    """A loopback port nothing listens on (TCP nor UDP: it may serve DNS), for a master to
    bind a moment later. Never one handed out before in this process (the kernel's port 0
    may give the same one twice), and outside the kernel's range for outgoing connections
    (a master's connect() to a peer may take a port from that range before the master
    meant to listen on it binds it)."""
    low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    first, last = (10000, low - 1) if low > 11000 else (high + 1, 65535)
    while True:
        port = random.randint(first, last)
        if port in _handed_out:
            continue
        try:
            for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
                with socket.socket(socket.AF_INET, kind) as sock:
                    sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        _handed_out.add(port)
        return port
