"""Shared fixtures: labs for the tests that need real hosts."""

import os
import uuid

import pytest


def pytest_collection_modifyitems(config, items):
    if os.geteuid() == 0:
        return
    skip = pytest.mark.skip(reason="lab tests need root (network namespaces, sshd, dockerd)")
    for item in items:
        if "lab" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def make_lab():
    """Build labs on demand (unique names, so parallel runs never collide); all removed at the end."""
    from raftkube.lab import Lab

    made = []

    def make(nodes: int = 1, masters: int = 0, setup: bool = True, prefix: str = "t") -> Lab:
        lab = Lab(f"{prefix}{uuid.uuid4().hex[:6]}")
        made.append(lab)
        lab.up(nodes=nodes, masters=masters, setup=setup, echo=lambda line: None)
        return lab

    yield make
    for lab in made:
        lab.down(quiet=True)
