"""A helper that hangs or whose term file fails (issue 11, point 7), over pipes to a real
helper process: the leader's side notices in seconds, the helper keeps serving."""

import os
import signal
import time

import pytest

from raftkube.remote import protocol
from raftkube.remote.connection import ConnectionLost, HelperError
from tests.unit.test_helper_protocol import LocalHelper, zipapp  # noqa: F401 (fixture)


class StoppableHelper(LocalHelper):
    """A local helper whose leader side pings it; `abort` kills it, as closing a channel would."""

    def __init__(self, zipapp, state_dir, keepalive=0.2, deadline=1.0, write_timeout=1.0):
        super().__init__(zipapp, state_dir, keepalive=keepalive, keepalive_deadline=deadline,
                         write_timeout=write_timeout, abort=self._kill)

    def _kill(self) -> None:
        self.proc.kill()

    def close(self):
        self.client.close()
        self.proc.kill()
        self.proc.wait(5)


@pytest.fixture
def helper(zipapp, tmp_path):  # noqa: F811
    h = StoppableHelper(zipapp, tmp_path)
    yield h
    h.close()


def _wait_dead(client, limit):
    started = time.monotonic()
    while client.alive and time.monotonic() - started < limit:
        time.sleep(0.05)
    return time.monotonic() - started


def test_a_busy_helper_is_not_taken_for_a_hung_one(helper):
    # A slow op (longer than the keepalive deadline) does not hold up the keepalive answers.
    assert helper.client.call("ping", {"delay": 2.0}, term=1, timeout=5)["pid"] == helper.proc.pid
    assert helper.client.alive


def test_a_stopped_helper_is_noticed_within_the_keepalive_deadline(helper):
    helper.client.call("ping", term=1)
    os.kill(helper.proc.pid, signal.SIGSTOP)
    waited = _wait_dead(helper.client, limit=10)
    assert not helper.client.alive, "a stopped helper still counted as alive after 10 s"
    # The deadline is 1 s and keepalives go every 0.2 s: noticed well before 10 s.
    assert waited < 5
    with pytest.raises(ConnectionLost):
        helper.client.call("ping", term=1, timeout=1)


def test_a_write_that_blocks_marks_the_connection_dead(zipapp, tmp_path):  # noqa: F811
    # No keepalives here: only the write timeout can notice.
    h = StoppableHelper(zipapp, tmp_path, keepalive=None, write_timeout=1.0)
    try:
        os.kill(h.proc.pid, signal.SIGSTOP)
        big = {"blob": "x" * (4 << 20)}  # far more than a pipe buffer
        started = time.monotonic()
        with pytest.raises(ConnectionLost, match="did not finish within 1s"):
            h.client.call("ping", big, term=1, timeout=30)
        assert time.monotonic() - started < 10 and not h.client.alive
    finally:
        h.close()


def test_an_unreadable_term_file_is_an_error_not_term_zero(helper, tmp_path):
    helper.client.call("ping", term=5)
    (tmp_path / "term").write_text("garbage\n")
    with pytest.raises(HelperError, match="not a term") as refused:
        helper.client.call("ping", term=1)
    assert refused.value.kind == protocol.FAILED
    (tmp_path / "term").write_text("5\n")
    assert helper.client.call("ping", term=5)["pid"] == helper.proc.pid


def test_a_failed_term_write_is_an_error_answer_and_the_helper_keeps_serving(helper, tmp_path):
    helper.client.call("ping", term=5)
    # The helper writes the new term to .term.<pid>.tmp first: make that impossible.
    (tmp_path / f".term.{helper.proc.pid}.tmp").mkdir()
    with pytest.raises(HelperError, match="cannot check the term"):
        helper.client.call("ping", term=7)
    assert helper.client.call("ping", term=5)["pid"] == helper.proc.pid
    assert (tmp_path / "term").read_text().strip() == "5"
