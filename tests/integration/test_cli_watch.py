"""`raftkube get -w` against three real masters: every change once, across a leader failover."""

import json
import os
import subprocess
import sys
import time

from conftest import pod

PODS = "/api/v1/namespaces/default/pods"


def documents(text: str) -> list[dict]:
    """The JSON documents `-o json` printed one after another."""
    decoder, found, at = json.JSONDecoder(), [], 0
    while True:
        while at < len(text) and text[at].isspace():
            at += 1
        if at >= len(text):
            return found
        document, at = decoder.raw_decode(text, at)
        found.append(document)


def wait_for(predicate, timeout=30.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_every_change_once_across_a_leader_failover(masters, tmp_path):
    masters.request("m1", "POST", PODS, pod("p1", labels={"app": "w"}))
    leader = masters.leader()
    # The watcher's first master is the leader, so the failover breaks its stream.
    inventory = masters.write_inventory(tmp_path / "leader-first.ini",
                                        [leader, *[n for n in masters.procs if n != leader]])
    out = tmp_path / "watch.out"
    with open(out, "w") as sink:
        watcher = subprocess.Popen([sys.executable, "-m", "raftkube", "get", "pods", "-w", "-l", "app=w",
                                    "-o", "json", "--output-watch-events", "-i", str(inventory)],
                                   stdout=sink, stderr=subprocess.PIPE, text=True,
                                   env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        wait_for(lambda: len(documents(out.read_text())) == 1, what="the listing")
        survivor = next(n for n in masters.procs if n != leader)
        for name in ["p2", "p3"]:
            assert masters.request(survivor, "POST", PODS, pod(name, labels={"app": "w"}))[0] == 201
        masters.request(survivor, "POST", PODS, pod("unlabelled"))
        masters.kill(leader)
        masters.leader()
        for name in ["p4", "p5"]:
            assert masters.request(survivor, "POST", PODS, pod(name, labels={"app": "w"}))[0] == 201
        for name in ["p5", "p4", "p3", "p2"]:
            assert masters.request(survivor, "DELETE", f"{PODS}/{name}")[0] == 200

        def seen_all() -> bool:
            events = documents(out.read_text())
            return any(e["type"] == "DELETED" and e["object"]["metadata"]["name"] == "p2" for e in events)

        wait_for(seen_all, what="the last deletion")
        time.sleep(1.0)  # anything repeated after it would show now
    finally:
        watcher.terminate()
        watcher.wait(10)
    events = documents(out.read_text())
    seen = [(e["type"], e["object"]["metadata"]["name"]) for e in events if e["type"] != "MODIFIED"]
    assert seen == [("ADDED", "p1"), ("ADDED", "p2"), ("ADDED", "p3"), ("ADDED", "p4"), ("ADDED", "p5"),
                    ("DELETED", "p5"), ("DELETED", "p4"), ("DELETED", "p3"), ("DELETED", "p2")]
    versions = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
    assert versions == sorted(set(versions)), "a change was printed twice or out of order"
    assert "Traceback" not in watcher.stderr.read()
