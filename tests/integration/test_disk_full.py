"""A master whose data disk fills up (issue 11, point 4): writes refused with 507 naming
the disk, reads served, no SIGBUS, and writes taken again once space is back.

The data dir is a small tmpfs mounted for the test (needs root)."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from tests.integration.conftest import MasterCluster, pod

PODS = "/api/v1/namespaces/default/pods"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounts a tmpfs")


@pytest.fixture
def cluster(tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m,mode=0700", "tmpfs", str(disk)], check=True)
    cluster = MasterCluster(tmp_path, ["m1", "m2", "m3"])
    text = cluster.inventory.read_text().replace("\nm1 ", "\nm1 raftkube_min_free=24Mi ", 1)
    cluster.inventory.write_text(text)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "m1").symlink_to(disk)
    try:
        for name in ["m1", "m2", "m3"]:
            cluster.start(name)
        cluster.leader()
        yield cluster, disk
    finally:
        for name in list(cluster.procs):
            cluster.kill(name)
        subprocess.run(["umount", "-l", str(disk)], check=False)


def _free(path) -> int:
    stat = os.statvfs(path)
    return stat.f_bavail * stat.f_frsize


def _fill(disk, leave: int):
    filler = disk / "filler"
    with open(filler, "ab") as f:
        chunk = b"\0" * (1 << 20)
        while _free(disk) > leave + len(chunk):
            f.write(chunk)
            f.flush()
        try:
            f.write(b"\0" * max(0, _free(disk) - leave))
            f.flush()
        except OSError:
            pass
    return filler


def _until(condition, timeout=15.0):
    deadline = time.monotonic() + timeout
    while not (result := condition()) and time.monotonic() < deadline:
        time.sleep(0.2)
    return result


def _post_until(masters, name, obj, wanted_code, timeout=15.0):
    """POST until the answer has `wanted_code` (or the time is up); the last answer."""
    deadline = time.monotonic() + timeout
    while True:
        code, answer = masters.request(name, "POST", PODS, obj)
        if code == wanted_code or time.monotonic() > deadline:
            return code, answer
        time.sleep(0.2)


def test_a_full_data_disk_refuses_writes_keeps_reads_and_recovers(cluster):
    masters, disk = cluster
    assert masters.request("m1", "POST", PODS, pod("before"))[0] == 201
    m1_leads = masters.leader() == "m1"
    filler = _fill(disk, leave=8 << 20)
    code, answer = _post_until(masters, "m1", pod("during"), 507)
    assert code == 507 and answer["reason"] == "InsufficientStorage", answer
    assert str(disk) in answer["message"] or "data disk" in answer["message"], answer
    assert masters.request("m1", "GET", PODS + "/before")[0] == 200
    other = "m2"
    code, answer = masters.request(other, "POST", PODS, pod("elsewhere"))
    # A full leader refuses what the others forward; a full follower only refuses its own.
    assert code == (507 if m1_leads else 201), answer
    # Nothing left at all: m1 must survive entries it cannot store (no SIGBUS).
    filler_full = _fill(disk, leave=0)
    for i in range(30):
        masters.request(other, "POST", PODS, pod(f"full{i}"))
    assert masters.procs["m1"].poll() is None, "the master died on a full disk"
    filler.unlink()
    if filler_full.exists():
        filler_full.unlink()
    code, answer = _post_until(masters, "m1", pod("after"), 201)
    assert code == 201, answer
    assert _until(lambda: masters.request("m1", "GET", PODS + "/after?resourceVersion=0")[0] == 200)
