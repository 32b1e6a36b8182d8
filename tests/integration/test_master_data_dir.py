"""A master's data directory damaged or out of step with the inventory (issue 11, points
2 and 3): the master refuses to start and says what to do; `--resync` recovers."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

from pysyncobj.node import TCPNode
from pysyncobj.serializer import Serializer

from raftkube.state.commands import ClusterState
from tests.integration.conftest import TOKEN, pod

PODS = "/api/v1/namespaces/default/pods"


def _run_master(masters, name: str, *extra: str, timeout: float = 20) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "raftkube", "master", "-i", str(masters.inventory), "--name", name,
         "--data-dir", str(masters.root / "data" / name), *extra],
        capture_output=True, text=True, timeout=timeout)


def _health(masters, name: str) -> int:
    request = urllib.request.Request(masters.url(name) + "/healthz")
    request.add_header("Authorization", f"Bearer {TOKEN}")
    try:
        with masters.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def _write_dump(path, members: list[str]) -> None:
    """A snapshot as pysyncobj writes it (its own Serializer), holding `members`."""
    entry = (b"\x01", 3, 1)
    data = ([{}, {"state": ClusterState()}], entry, (b"\x01", 2, 1), {TCPNode(m) for m in members})
    path.parent.mkdir(parents=True, exist_ok=True)
    Serializer(str(path), 2**16, False, None, None, None).serialize(data, 2)
    assert path.exists()


def test_a_damaged_dump_stops_the_master_and_resync_recovers(masters):
    leader = masters.leader()
    assert masters.request(leader, "POST", PODS, pod("before"))[0] == 201
    victim = masters.followers()[0]
    masters.kill(victim)
    dump = masters.root / "data" / victim / "raft.dump"
    _write_dump(dump, [masters.raft_address(n) for n in ("m1", "m2", "m3")])
    with open(dump, "r+b") as f:
        f.truncate(os.path.getsize(dump) // 2)
    refused = _run_master(masters, victim)
    assert refused.returncode == 1, refused.stderr[-2000:]
    line = refused.stderr.strip().splitlines()[-1]
    assert line.startswith(f"error: {dump} is damaged") and "--resync" in line and "--name " + victim in line
    # --resync moves the files aside and catches up from the leader.
    masters.start(victim)  # without --resync: still refused
    assert masters.procs[victim].wait(30) == 1
    del masters.procs[victim]
    log = open(masters.root / f"{victim}.log", "ab")
    masters.procs[victim] = subprocess.Popen(
        [sys.executable, "-m", "raftkube", "master", "-i", str(masters.inventory), "--name", victim,
         "--data-dir", str(masters.root / "data" / victim), "--resync"], stdout=log, stderr=subprocess.STDOUT)
    log.close()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        code, answer = masters.request(victim, "GET", PODS + "/before?resourceVersion=0", timeout=3) \
            if masters.status(victim) else (0, {})
        if code == 200:
            break
        time.sleep(0.3)
    assert code == 200 and answer["metadata"]["name"] == "before"
    assert any(p.name.startswith("raft.dump.damaged-") for p in dump.parent.iterdir())
    assert _health(masters, victim) == 200


def test_a_master_whose_address_moved_is_told_what_to_run(masters):
    masters.kill("m1")
    old = masters.raft_address("m1")
    others = [masters.raft_address(n) for n in ("m2", "m3")]
    _write_dump(masters.root / "data" / "m1" / "raft.dump", [old, *others])
    # The inventory now puts m1 on another Raft port.
    api, _ = masters.ports["m1"]
    masters.ports["m1"] = (api, masters.ports["m1"][1] + 1 if masters.ports["m1"][1] < 65000 else 40000)
    moved = masters.write_inventory(masters.root / "moved.ini", ["m1", "m2", "m3"])
    refused = subprocess.run(
        [sys.executable, "-m", "raftkube", "master", "-i", str(moved), "--name", "m1",
         "--data-dir", str(masters.root / "data" / "m1")], capture_output=True, text=True, timeout=30)
    assert refused.returncode == 1, refused.stderr[-2000:]
    line = refused.stderr.strip().splitlines()[-1]
    assert f"this master's address {masters.raft_address('m1')} is not a member" in line
    assert f"`raftkube cluster remove-master {old}`" in line and "`raftkube cluster add-master m1`" in line
    assert "--resync" in line


def test_a_damaged_term_file_is_not_term_zero(masters):
    victim = masters.followers()[0]
    masters.kill(victim)
    meta = masters.root / "data" / victim / "raft.journal.meta"
    assert meta.exists()
    meta.write_bytes(gzip.compress(b"not a pickle"))
    refused = _run_master(masters, victim)
    assert refused.returncode == 1 and f"{meta} is damaged" in refused.stderr
