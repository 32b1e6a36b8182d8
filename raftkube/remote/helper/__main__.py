"""Entry point of the helper: `python3 HELPER [--state-dir DIR] [--docker-host URL]`, HELPER
being the zipapp or, as the leader runs it, the directory it was unpacked into.

It serves requests on stdin/stdout until stdin ends, then exits at once, abandoning any
operation still running: nothing of raftkube may keep running on a host whose leader
connection is gone. sshd closing the channel normally shows up as stdin EOF; in case it
does not (sshd killed, session torn down), the helper also dies with its parent. A leader
that vanished without closing (crashed machine, partition) is noticed by sshd only when
TCP gives up, hours later; with `--idle-exit` the helper leaves once the leader's
keepalives stop.
"""

from __future__ import annotations

import argparse
import ctypes
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path

from raftkube.remote.helper.fencing import TermStore
from raftkube.remote.helper.ops import make_ops, preload
from raftkube.remote.helper.server import Server

PR_SET_PDEATHSIG = 1

log = logging.getLogger(__name__)


def die_with_parent() -> None:
    """Ask the kernel for SIGKILL when our parent (sshd's session process) exits."""
    parent = os.getppid()
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    # The parent may have died before prctl took effect: then nobody would tell us.
    if os.getppid() != parent:
        os._exit(0)


def exit_when_idle(server: Server, limit: float) -> None:
    """Exit once nothing, not even a keepalive line, has come from the leader for `limit` s."""

    def watch() -> None:
        while True:
            idle = time.monotonic() - server.last_heard
            if idle > limit:
                log.warning("nothing from the leader for %.0fs: exiting", idle)
                os._exit(0)
            time.sleep(min(1.0, limit / 4))

    threading.Thread(target=watch, name="idle-exit", daemon=True).start()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="raftkube-helper")
    parser.add_argument("--state-dir", type=Path, default=Path("/var/lib/raftkube"))
    parser.add_argument("--docker-host", default="unix:///var/run/docker.sock")
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument("--idle-exit", type=float, default=0.0, metavar="SECONDS", help="exit after this long without a line (0: never)")
    args = parser.parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr, level=args.log_level.upper(), format=f"helper[{os.getpid()}] %(levelname)s %(name)s: %(message)s"
    )
    die_with_parent()
    terms = TermStore(args.state_dir / "term")
    server = Server(make_ops(args.state_dir, args.docker_host, terms.superseded), terms, _protocol_stdout())
    if args.idle_exit > 0:
        exit_when_idle(server, args.idle_exit)
    threading.Thread(target=_preload, name="preload", daemon=True).start()
    server.serve(sys.stdin.buffer)
    os._exit(0)


def _preload() -> None:
    try:
        preload()
    except Exception as exc:  # e.g. no docker SDK dependency on this host: the op will say so when asked
        log.info("preloading the ops' modules failed: %s", exc)


def _protocol_stdout():
    """Keep stdout for protocol lines only: a stray print (ours, a library's, C code's)
    would corrupt a frame, so fd 1 becomes stderr and the protocol gets a private fd."""
    out = os.fdopen(os.dup(1), "wb")
    sys.stdout.flush()
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return out


if __name__ == "__main__":
    main()
