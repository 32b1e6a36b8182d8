"""The Raft port of a master against peers that are not masters (issue 11, point 1).

Real master processes on loopback; the "attacker" is a plain socket speaking pysyncobj's
framing: a 4-byte length, then a Fernet token over a zlib-compressed pickle.
"""

from __future__ import annotations

import os
import pickle
import socket
import struct
import time
import zlib
from pathlib import Path

import pytest
from pysyncobj.encryptor import getEncryptor

from tests.integration.conftest import MasterCluster


@pytest.fixture
def cluster(module_masters):
    return module_masters


def _raft_socket(cluster: MasterCluster, name: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", cluster.ports[name][1]), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


class _Touch:
    """Unpickling this creates a file: proof that a frame reached pickle.loads."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (Path.touch, (Path(self.path),))


def _closed_by_peer(sock: socket.socket, within: float) -> bool:
    sock.settimeout(within)
    try:
        return sock.recv(1 << 16) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def test_the_api_token_does_not_open_the_raft_channel(cluster, tmp_path):
    marker = tmp_path / "pwned"
    payload = zlib.compress(pickle.dumps(_Touch(str(marker)), protocol=2), 3)
    frame = getEncryptor(cluster.token).encrypt_at_time(payload, int(time.monotonic()))
    for name in cluster.procs:
        with _raft_socket(cluster, name) as sock:
            sock.sendall(struct.pack("i", len(frame)) + frame)
            closed = _closed_by_peer(sock, within=5)
            assert not marker.exists(), f"{name} unpickled a frame encrypted with the API token"
            assert closed, f"{name} kept a peer that spoke with the API token"
    assert cluster.request(cluster.leader(), "GET", "/api/v1/namespaces")[0] == 200


def test_a_huge_frame_header_is_dropped_without_stalling_raft(cluster):
    leader = cluster.leader()
    term = cluster.status(leader)["term"]
    victim = cluster.followers()[0]
    chunk = os.urandom(1 << 20)
    sent = 0
    with _raft_socket(cluster, victim) as sock:
        sock.settimeout(20)
        try:
            sock.sendall(struct.pack("i", 2**31 - 1))
            while sent < 96 * 2**20:
                sock.sendall(chunk)
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            pass
    assert sent < 96 * 2**20, "the master read a 96 MiB frame that declared 2 GiB"
    # Heartbeats went on meanwhile: no election was needed.
    assert cluster.status(cluster.leader())["term"] == term


def test_a_peer_that_never_identifies_itself_is_dropped(cluster):
    with _raft_socket(cluster, cluster.followers()[0]) as sock:
        assert _closed_by_peer(sock, within=10), "a silent Raft peer was kept for 10 s"
