"""A command under a pseudo-terminal, for the `exec -it` tests of raftkube and kubectl."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import struct
import termios
import time


class Terminal:
    """Runs argv on a pty; `read_until` collects what it prints, `wait` gives its exit code.
    Leaving the block on an error kills the command; the pty is always closed."""

    def __init__(self, argv: list[str], env: dict[str, str]):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.execvpe(argv[0], argv, env)
        self.output = b""

    def read_until(self, marker: bytes, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while marker not in self.output and time.monotonic() < deadline:
            if select.select([self.fd], [], [], 0.2)[0]:
                try:
                    self.output += os.read(self.fd, 4096)
                except OSError:
                    return

    def type(self, text: bytes) -> None:
        os.write(self.fd, text)

    def resize(self, rows: int, columns: int) -> None:
        """What a terminal window does: the kernel sends the command SIGWINCH."""
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))

    def wait(self) -> int:
        _, status = os.waitpid(self.pid, 0)
        self.pid = None
        return os.waitstatus_to_exitcode(status)

    def __enter__(self) -> "Terminal":
        return self

    def __exit__(self, kind, value, traceback) -> None:
        try:
            if kind is not None and self.pid is not None:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
        finally:
            os.close(self.fd)
