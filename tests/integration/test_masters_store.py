"""The pysyncobj store for real (loopback Raft, files on disk): snapshots, journal, timeouts."""

import asyncio
import subprocess
import sys
import threading
import time

from aiohttp import web

from conftest import pod

from raftkube.state.api import ApiServer
from raftkube.state.committer import Committer, NoQuorum
from raftkube.state.store import Store, raft_conf
from tests.ports import free_port

NAMESPACE = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}}


def commit(store: Store, commands: list[dict], timeout: float = 10.0) -> list[dict]:
    done = threading.Event()
    answer = {}

    def callback(results, failure):
        answer.update(results=results, failure=failure)
        done.set()

    store.submit(commands, callback)
    assert done.wait(timeout), "no commit"
    assert answer["failure"] == 0
    return answer["results"]


def single_node(data_dir, port, **overrides) -> Store:
    store = Store(f"127.0.0.1:{port}", [], raft_conf("secret", data_dir, **overrides))
    deadline = time.monotonic() + 10
    while not (store.is_leader and store.isReady()):
        assert time.monotonic() < deadline, "single node never led"
        time.sleep(0.05)
    return store


def create(name: str, n: int) -> dict:
    obj = NAMESPACE if name == "default" else pod(name)
    return {"op": "create", "rid": f"r-{name}", "object": obj, "uid": f"u{n}", "now": "2026-01-01T00:00:00Z"}


def test_snapshot_and_journal_survive_a_restart(tmp_path):
    port = free_port()
    store = single_node(tmp_path, port)
    try:
        assert commit(store, [create("default", 0)])[0]["ok"]
        results = commit(store, [create(f"p{i}", i) for i in range(1, 50)])
        assert all(r["ok"] for r in results)
        store.forceLogCompaction()
        deadline = time.monotonic() + 10
        while not (tmp_path / "raft.dump").exists():
            assert time.monotonic() < deadline, "no snapshot written"
            time.sleep(0.05)
        time.sleep(0.5)  # let pysyncobj notice the finished dump and trim the journal
        commit(store, [create("after-snapshot", 99)])  # lives only in the journal
        revision = store.read(lambda state: state.revision)
    finally:
        store.destroy()
        time.sleep(0.3)

    again = single_node(tmp_path, port)
    try:
        deadline = time.monotonic() + 10
        while again.read(lambda state: state.revision) < revision:
            assert time.monotonic() < deadline, "state not restored"
            time.sleep(0.05)
        names = again.read(lambda state: [p["metadata"]["name"] for p in state.list("Pod")])
        assert len(names) == 50 and "after-snapshot" in names
        # The request memory came back too: a retried create is not applied twice.
        assert commit(again, [create("p1", 1)])[0]["ok"]
    finally:
        again.destroy()


def test_commit_without_quorum_fails_in_time(tmp_path):
    """A member whose peers are all gone answers NoQuorum within the deadline, never hangs."""
    store = Store(f"127.0.0.1:{free_port()}", [f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"],
                  raft_conf("secret", tmp_path))
    try:
        async def attempt():
            committer = Committer(store, attempt_timeout=0.5, deadline=2.0)
            started = time.monotonic()
            try:
                await committer.run(create("x", 1))
            except NoQuorum:
                return time.monotonic() - started
            raise AssertionError("committed without a quorum")

        assert asyncio.run(attempt()) < 3.0
    finally:
        store.destroy()


def test_a_master_without_quorum_answers_503(masters):
    leader = masters.leader()
    survivor = next(name for name in masters.procs if name != leader)
    for name in list(masters.procs):
        if name != survivor:
            masters.kill(name)
    started = time.monotonic()
    code, status = masters.request(survivor, "POST", "/api/v1/namespaces/default/pods", pod("lonely"), timeout=15)
    assert code == 503 and status["reason"] == "ServiceUnavailable"
    assert status["details"]["retryAfterSeconds"] >= 1 and time.monotonic() - started < 10


def test_concurrent_commands_share_one_raft_entry(tmp_path):
    store = single_node(tmp_path, free_port())
    try:
        async def burst():
            committer = Committer(store)
            await committer.run(create("default", 0))
            before = store.raftCommitIndex
            results = await asyncio.gather(*(committer.run(create(f"b{i}", i)) for i in range(1, 101)),
                                           committer.barrier())
            return before, results

        before, results = asyncio.run(burst())
        assert all(r["ok"] for r in results[:-1]) and results[-1] is None
        assert store.raftCommitIndex - before <= 2  # 100 creates and a barrier: one or two entries
    finally:
        store.destroy()


def test_a_watch_ends_when_its_client_goes_away(tmp_path):
    store = single_node(tmp_path, free_port())

    async def scenario() -> tuple[int, int, int]:
        server = ApiServer(store, "secret", "m1")
        runner = web.AppRunner(server.app())
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        await asyncio.wait_for(server._bootstrap, 10)  # creates the built-in namespaces, then ends
        idle = len(asyncio.all_tasks())
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        # A selective watch that no change will match: it never writes, so only the
        # closed connection can end it.
        writer.write(b"GET /api/v1/namespaces/default/pods?watch=1&labelSelector=none%3Dmatch HTTP/1.1\r\n"
                     b"Host: m1\r\nAuthorization: Bearer secret\r\n\r\n")
        await reader.readuntil(b"\r\n\r\n")
        watching = len(asyncio.all_tasks())
        writer.close()
        await writer.wait_closed()
        deadline = time.monotonic() + 20
        wakes = 0
        while len(asyncio.all_tasks()) > idle and time.monotonic() < deadline:
            wakes += 1  # each change wakes the watch, which then sees the closed connection
            await server.committer.run(create(f"wake-{wakes}", wakes))
            await asyncio.sleep(0.1)
        after = len(asyncio.all_tasks())
        await runner.cleanup()
        return idle, watching, after

    try:
        idle, watching, after = asyncio.run(scenario())
    finally:
        store.destroy()
    assert watching > idle and after == idle


FOLLOWER = """
import signal, sys
from pathlib import Path
from raftkube.state.store import Store, raft_conf
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
Store(sys.argv[1], sys.argv[3:], raft_conf("secret", Path(sys.argv[2])))
signal.sigwait({signal.SIGTERM})
"""


def test_followers_under_a_burst_never_truncate_applied_entries(tmp_path, caplog):
    """Many commands in flight: pysyncobj's leader rewound a follower's next index on
    every ack and re-sent, and its follower cut entries it had applied to re-add them
    ("truncating already-applied log entries"). Two replicas are processes of their own
    (in one process the GIL serializes them and the race never shows)."""
    addresses = [f"127.0.0.1:{free_port()}" for _ in range(3)]
    others = [subprocess.Popen([sys.executable, "-c", FOLLOWER, address, str(tmp_path / f"s{n}"), *addresses],
                               stderr=subprocess.PIPE, text=True)
              for n, address in enumerate(addresses[1:], 1)]
    store = Store(addresses[0], addresses, raft_conf("secret", tmp_path / "s0"))
    caplog.set_level("CRITICAL", logger="pysyncobj")
    try:
        deadline = time.monotonic() + 15
        while not (store._getLeader() and store.isReady()):
            assert time.monotonic() < deadline, "no leader"
            time.sleep(0.05)
        commit(store, [create("default", 0)])
        slots = threading.Semaphore(200)
        done = threading.Event()
        left = [8000]

        def finished(results, failure):
            slots.release()
            left[0] -= 1
            if not left[0]:
                done.set()

        for n in range(8000):  # submitted here, forwarded to the leader wherever it is
            slots.acquire()
            store.submit([create(f"burst{n}", n + 1)], finished)
        assert done.wait(60), "burst never committed"
        time.sleep(1)  # the last acks and commit index reach everyone
    finally:
        for proc in others:
            proc.terminate()
        said = "".join(proc.communicate(timeout=15)[1] for proc in others)
        store.destroy()
    said += "".join(r.getMessage() for r in caplog.records)
    assert "truncating already-applied" not in said, said[-2000:]
