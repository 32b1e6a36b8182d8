"""A master cut off from the others (the others frozen with SIGSTOP: their sockets stay
open and silent, as in a network partition): no late writes, no endless watches
(issue 11, points 8 and 9)."""

from __future__ import annotations

import json
import signal
import socket
import time
import urllib.error
import urllib.request

import pytest

from tests.integration.conftest import TOKEN, pod

PODS = "/api/v1/namespaces/default/pods"


def _freeze(masters, names, sig):
    for name in names:
        masters.procs[name].send_signal(sig)


@pytest.mark.parametrize("role", ["follower", "leader"])
def test_a_delete_refused_during_a_partition_never_applies_after_it_heals(masters, role):
    leader = masters.leader()
    assert masters.request(leader, "POST", PODS, pod("keep"))[0] == 201
    cut = leader if role == "leader" else masters.followers()[0]
    others = [name for name in masters.procs if name != cut]
    _freeze(masters, others, signal.SIGSTOP)
    try:
        code, answer = masters.request(cut, "DELETE", PODS + "/keep", timeout=30)
        assert code == 503, answer
    finally:
        _freeze(masters, others, signal.SIGCONT)
    leader = masters.leader()
    # Whatever the cut master still held has had time to reach the new leader.
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline:
        code, answer = masters.request(leader, "GET", PODS + "/keep")
        assert code == 200, f"the DELETE answered 503 was applied after the partition healed: {answer}"
        time.sleep(0.5)
    assert masters.request(cut, "GET", PODS + "/keep")[0] == 200


def _watch(masters, name, query=""):
    request = urllib.request.Request(f"{masters.url(name)}{PODS}?watch=1{query}")
    request.add_header("Authorization", f"Bearer {TOKEN}")
    return masters.urlopen(request, timeout=12)


def test_a_watch_sends_a_heartbeat_at_least_every_10_s(masters):
    name = masters.followers()[0]
    with _watch(masters, name, "&resourceVersion=1&allowWatchBookmarks=true") as stream:
        event = json.loads(stream.readline())  # within the 12 s read timeout
        assert event["type"] == "BOOKMARK" and event["object"]["kind"] == "Pod"
        assert int(event["object"]["metadata"]["resourceVersion"]) >= 1
    with _watch(masters, name, "&resourceVersion=1") as stream:
        assert stream.readline() == b"\n"  # what kubectl and client libraries skip


def test_a_watch_on_a_partitioned_master_ends(masters):
    name = masters.followers()[0]
    others = [other for other in masters.procs if other != name]
    with _watch(masters, name) as stream:
        assert stream.fp.raw._sock.gettimeout() == 12
        _freeze(masters, others, signal.SIGSTOP)
        try:
            ended = None
            give_up = time.monotonic() + 15
            while time.monotonic() < give_up:
                try:
                    line = stream.readline()
                except socket.timeout:
                    break
                if not line:
                    ended = time.monotonic()
                    break
            assert ended is not None, "the watch on a master without a quorum went on for 15 s"
        finally:
            _freeze(masters, others, signal.SIGCONT)


def test_a_partitioned_master_says_it_is_not_ready(masters):
    name = masters.followers()[0]
    others = [other for other in masters.procs if other != name]
    ready_by = time.monotonic() + 15  # a master just started may still be catching up
    while (health := _health(masters, name)) != (200, "ok") and time.monotonic() < ready_by:
        time.sleep(0.3)
    assert health == (200, "ok")
    _freeze(masters, others, signal.SIGSTOP)
    try:
        give_up = time.monotonic() + 15
        while (health := _health(masters, name))[0] in (0, 200) and time.monotonic() < give_up:
            time.sleep(0.5)
        assert health[0] == 503 and "no contact with a majority" in health[1], health
    finally:
        _freeze(masters, others, signal.SIGCONT)


def _health(masters, name: str) -> tuple[int, str]:
    request = urllib.request.Request(masters.url(name) + "/healthz")
    request.add_header("Authorization", f"Bearer {TOKEN}")
    try:
        with masters.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode().strip()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode().strip()
    except (urllib.error.URLError, TimeoutError) as error:  # a loaded machine: ask again
        return 0, str(error)
