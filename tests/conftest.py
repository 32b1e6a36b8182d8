"""Shared fixtures: labs for the tests that need real hosts."""

import os
import uuid

import pytest

OWNER_FILE = "test-owner"  # in a test lab's directory: the pid of the pytest that made it


def pytest_collection_modifyitems(config, items):
    if os.geteuid() == 0:
        return
    skip = pytest.mark.skip(reason="lab tests need root (network namespaces, sshd, dockerd)")
    for item in items:
        if "lab" in item.keywords:
            item.add_marker(skip)


def _remove_orphaned_test_labs() -> None:
    """Labs left by a test run that was killed: their kernel objects outlive it."""
    from raftkube.lab import Lab
    from raftkube.lab.lab import LAB_ROOT

    for owner in LAB_ROOT.glob(f"*/{OWNER_FILE}"):
        pid = int(owner.read_text() or 0)
        if pid and not os.path.exists(f"/proc/{pid}"):
            Lab(owner.parent.name).down(quiet=True)


@pytest.fixture(scope="module")
def make_lab():
    """Build labs on demand (unique names, so parallel runs never collide), removed when the
    module's tests are done: a lab left up runs its masters' loops and every node's helper
    and dockerd, and a whole suite's worth of them at once starves the machine."""
    from raftkube.lab import Lab

    _remove_orphaned_test_labs()
    made = []

    def make(nodes: int = 1, masters: int = 0, setup: bool = True, prefix: str = "t") -> Lab:
        lab = Lab(f"{prefix}{uuid.uuid4().hex[:6]}")
        made.append(lab)
        try:
            lab.up(nodes=nodes, masters=masters, setup=setup, echo=lambda line: None)
        finally:
            if lab.dir.exists():
                (lab.dir / OWNER_FILE).write_text(str(os.getpid()))
        return lab

    yield make
    for lab in made:
        lab.down(quiet=True)
