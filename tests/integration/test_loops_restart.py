"""A controller that fails: the term's loops stop, say why, and start again, backing off
when it fails at every start (a one-replica Raft store, the real runner)."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from raftkube.loops import registry, runner
from raftkube.loops.controller import Controller
from raftkube.loops.runner import Loops
from raftkube.state.store import Store, raft_conf
from tests.ports import free_port


class Broken(Controller):
    """Fails as soon as it runs, every time: a bug in a controller."""

    name = "broken"
    starts = 0

    async def background(self) -> None:
        type(self).starts += 1
        raise RuntimeError("broken controller")


class BrokenSetup(Broken):
    name = "broken-setup"

    def setup(self) -> None:
        type(self).starts += 1
        raise RuntimeError("broken setup")


@pytest.fixture
def store(tmp_path):
    store = Store(f"127.0.0.1:{free_port()}", [], raft_conf("secret", tmp_path))
    deadline = time.monotonic() + 10
    while not (store.is_leader and store.isReady()):
        assert time.monotonic() < deadline, "a single replica never led"
        time.sleep(0.05)
    yield store
    store.destroy()


def run_loops(store, seconds: float) -> None:
    async def scenario():
        task = asyncio.create_task(Loops(store, "m1").run())
        await asyncio.sleep(seconds)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert task.cancelled(), "the loops' supervisor ended by itself"
    asyncio.run(scenario())


@pytest.mark.parametrize("broken", [Broken, BrokenSetup])
def test_a_failing_controller_is_logged_and_restarted_with_back_off(store, broken, monkeypatch, caplog):
    monkeypatch.setattr(registry, "CONTROLLERS", [broken])
    broken.starts = 0
    caplog.set_level(logging.WARNING, logger=runner.__name__)
    run_loops(store, 4.0)
    # At once, then after 0.5, 1 and 2 s: four or five starts in 4 s, not hundreds.
    assert 3 <= broken.starts <= 6, broken.starts
    failures = [r for r in caplog.records if r.name == runner.__name__ and r.levelno == logging.ERROR]
    assert failures and failures[0].exc_info and "broken" in str(failures[0].exc_info[1])
    assert any("starting them again in" in r.getMessage() for r in caplog.records)
