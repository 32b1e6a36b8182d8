"""The helper process itself, built as a zipapp and driven over pipes like SSH drives it."""

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from raftkube.errors import UserError
from raftkube.remote import protocol
from raftkube.remote.connection import ConnectionLost, HelperClient, HelperError, RequestTimeout, StaleTermError
from raftkube.remote.helper.fencing import StaleTerm, TermStore
from raftkube.remote.zipapp import helper_zipapp

# The system python, as on a host: the zipapp must not need anything installed there.
HOST_PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable


@pytest.fixture(scope="module")
def zipapp(tmp_path_factory):
    return helper_zipapp(tmp_path_factory.mktemp("cache"))


class LocalHelper:
    """A helper process on this machine with pipes for stdin/stdout, like an exec channel."""

    def __init__(self, zipapp, state_dir, *extra_args, keepalive=None, **client_options):
        self.proc = subprocess.Popen(
            [HOST_PYTHON, str(zipapp.path), "--state-dir", str(state_dir), "--docker-host", "unix:///nonexistent.sock", *extra_args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd="/",
        )
        self.client = HelperClient(self.proc.stdout, self._write, "local", keepalive=keepalive, **client_options)
        self.hello = self.client.start()

    def _write(self, data: bytes) -> None:
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def close(self):
        self.client.close()
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(5)
        self.proc.stdout.close()


@pytest.fixture
def helper(zipapp, tmp_path):
    h = LocalHelper(zipapp, tmp_path)
    yield h
    h.close()


def test_zipapp_is_deterministic_and_cached(zipapp, tmp_path):
    again = helper_zipapp(tmp_path)
    assert again.digest == zipapp.digest
    assert again.path.read_bytes() == zipapp.path.read_bytes()


def test_hello_and_ping(helper):
    assert helper.hello["pid"] == helper.proc.pid
    assert helper.client.call("ping", term=1)["pid"] == helper.proc.pid


def test_stale_term_is_refused_and_the_highest_term_is_on_disk(helper, tmp_path):
    helper.client.call("ping", term=5)
    with pytest.raises(StaleTermError, match="stale term 3 < 5"):
        helper.client.call("ping", term=3)
    assert (tmp_path / "term").read_text().strip() == "5"
    helper.client.call("ping", term=5)
    helper.client.call("ping", term=6)
    assert (tmp_path / "term").read_text().strip() == "6"


def test_a_new_helper_remembers_the_term(zipapp, tmp_path):
    first = LocalHelper(zipapp, tmp_path)
    first.client.call("ping", term=9)
    first.close()
    second = LocalHelper(zipapp, tmp_path)
    assert second.hello["term"] == 9
    try:
        with pytest.raises(StaleTermError, match="stale term 8 < 9"):
            second.client.call("ping", term=8)
    finally:
        second.close()


def test_unknown_op_and_bad_arguments_are_clear_errors(helper):
    with pytest.raises(HelperError, match="unknown op 'reboot'") as exc:
        helper.client.call("reboot", term=1)
    assert exc.value.kind == protocol.BAD_REQUEST
    with pytest.raises(HelperError, match="unexpected keyword argument 'colour'"):
        helper.client.call("ping", {"colour": "red"}, term=1)


def test_no_docker_engine_is_a_clear_error_and_ping_still_works(helper):
    with pytest.raises(HelperError, match="list_pods: cannot talk to Docker at unix:///nonexistent.sock") as exc:
        helper.client.call("list_pods", term=1)
    assert exc.value.kind == protocol.FAILED
    assert helper.client.call("ping", term=1)["pid"] == helper.proc.pid


def test_timeout_raises_and_the_late_answer_is_dropped(helper):
    started = time.monotonic()
    with pytest.raises(RequestTimeout, match="ping timed out after 0.2s"):
        helper.client.call("ping", {"delay": 1.5}, term=1, timeout=0.2)
    assert time.monotonic() - started < 1.2  # gave up well before the answer; slack for a loaded machine
    time.sleep(1.5)  # the late answer arrives meanwhile and must not confuse the next call
    assert helper.client.call("ping", term=1)["pid"] == helper.proc.pid


def test_concurrent_requests_are_multiplexed_by_id(helper):
    results = {}

    def call(i):
        results[i] = helper.client.call("ping", {"delay": 1.0 if i % 2 else 0.0}, term=1)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(8)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Eight requests, four of them slow: one at a time would take 4 s, together about 1 s.
    assert time.monotonic() - started < 3.0
    assert len(results) == 8


def test_helper_exits_on_stdin_eof_and_pending_calls_fail(helper):
    helper.proc.stdin.close()
    assert helper.proc.wait(5) == 0
    deadline = time.monotonic() + 5
    while helper.client.alive and time.monotonic() < deadline:
        time.sleep(0.01)
    with pytest.raises(ConnectionLost):
        helper.client.call("ping", term=1)


def test_helper_exits_on_stdin_eof_even_while_an_op_runs(helper):
    threading.Thread(target=lambda: _swallow(helper.client.call, "ping", {"delay": 30}, term=1), daemon=True).start()
    time.sleep(0.2)
    helper.proc.stdin.close()
    assert helper.proc.wait(5) == 0


def test_helper_exits_when_the_leader_goes_silent(zipapp, tmp_path):
    # stdin stays open, as when the leader's machine died without closing its connection.
    h = LocalHelper(zipapp, tmp_path, "--idle-exit", "1")
    try:
        assert h.proc.wait(20) == 0
    finally:
        h.close()


def test_keepalives_keep_an_idle_helper_running(zipapp, tmp_path):
    h = LocalHelper(zipapp, tmp_path, "--idle-exit", "2", keepalive=0.2)
    try:
        time.sleep(5)
        assert h.proc.poll() is None
        assert h.client.call("ping", term=1)["pid"] == h.proc.pid
    finally:
        h.close()


def _swallow(fn, *args, **kwargs):
    """Run a call whose failure is expected (the helper goes away under it)."""
    try:
        fn(*args, **kwargs)
    except UserError:
        pass


def test_helper_dies_with_its_parent_even_if_stdin_stays_open(zipapp, tmp_path):
    # The test holds stdin's write end open, so only PR_SET_PDEATHSIG can end the helper.
    read_end, write_end = os.pipe()
    hello_read, hello_write = os.pipe()
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess, sys, time\n"
            f"p = subprocess.Popen([{HOST_PYTHON!r}, {str(zipapp.path)!r}, '--state-dir', {str(tmp_path)!r}],"
            f" stdin={read_end}, stdout={hello_write}, stderr=subprocess.DEVNULL)\n"
            "print(p.pid, flush=True)\n"
            "time.sleep(60)\n",
        ],
        pass_fds=[read_end, hello_write],
        stdout=subprocess.PIPE,
    )
    os.close(read_end)
    os.close(hello_write)
    helper_pid = None
    try:
        helper_pid = int(parent.stdout.readline())
        # The hello is sent after prctl: from then on the parent's death must end the helper.
        # (Killing the parent earlier would leave it running, adopted, with stdin still open.)
        with os.fdopen(hello_read, "rb") as hello:
            hello_read = None
            assert protocol.decode_response(hello.readline()).id == protocol.HELLO_ID
        assert _running(helper_pid)
        parent.send_signal(signal.SIGKILL)
        parent.wait(5)
        deadline = time.monotonic() + 5
        while _running(helper_pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _running(helper_pid)
    finally:
        os.close(write_end)
        if hello_read is not None:
            os.close(hello_read)
        parent.stdout.close()
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        if helper_pid is not None and _running(helper_pid):
            os.kill(helper_pid, signal.SIGKILL)


def _running(pid: int) -> bool:
    """True while `pid` exists and is not a zombie (an exited child not yet reaped by init)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_term_store_refuses_lower_terms_across_instances(tmp_path):
    a, b = TermStore(tmp_path / "term"), TermStore(tmp_path / "term")
    a.admit(4)
    with pytest.raises(StaleTerm, match="stale term 3 < 4"):
        b.admit(3)
    b.admit(4)
    assert a.highest() == 4 and not list(tmp_path.glob("*.tmp"))


def test_a_helper_knows_when_a_newer_leader_took_the_host_over(tmp_path):
    old, new = TermStore(tmp_path / "term"), TermStore(tmp_path / "term")
    assert not old.superseded()
    old.admit(4)
    new.admit(4)
    assert not old.superseded() and not new.superseded()  # the same leader, two connections
    new.admit(5)
    assert old.superseded() and not new.superseded()
    old.admit(6)  # the old leader won a later election
    assert not old.superseded() and new.superseded()
