"""`raftkube logs` and `exec`: a pod's output and a command inside it, through the API.

The masters reach the pod's node over the leader's host connections (`pods/NAME/log`,
`pods/NAME/exec`), so the client needs only the API, never SSH. Exec speaks
Kubernetes' websocket channel protocol (`v5.channel.k8s.io`): one binary frame per
chunk, its first byte the channel (0 stdin, 1 stdout, 2 stderr, 3 the final Status,
4 a terminal resize; in v5 `255 0` closes stdin).
"""

from __future__ import annotations

import json
import os
import select
import signal
import sys
from collections.abc import Callable

import click

from raftkube.client.api import CONNECTION_ERRORS, ApiError
from raftkube.client.commands import inventory_option, namespace_option, object_path
from raftkube.client.discovery import find_masters
from raftkube.errors import UserError
from raftkube.state.kinds import DEFAULT_NAMESPACE, kind_info

POD = kind_info("Pod")
PROTOCOLS = ["v5.channel.k8s.io", "v4.channel.k8s.io"]
STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255


def _pod_name(name: str) -> str:
    """`web` or `pod/web` (`po/web`, `pods/web`)."""
    kind, slash, rest = name.partition("/")
    if not slash:
        return name
    if kind_info(kind).kind != "Pod" or not rest:
        raise UserError(f"{name}: logs and exec work on pods (POD or pod/POD)")
    return rest


@click.command()
@click.argument("pod")
@click.option("-c", "--container", default=None, help="Which container (default: the first).")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new output until the pod ends or ^C.")
@click.option("--tail", type=int, default=-1, help="Only the last N lines (-1: all).")
@click.option("-p", "--previous", is_flag=True, help="The previous instance of the container (after a restart).")
@click.option("--timestamps", is_flag=True, help="Prefix each line with its RFC 3339 time.")
@namespace_option
@inventory_option
def logs(pod: str, container: str | None, follow: bool, tail: int, previous: bool, timestamps: bool,
         namespace: str | None, inventory: str | None) -> None:
    """Print a container's output."""
    name = _pod_name(pod)
    params = {"container": container, "follow": "true" if follow else None,
              "tailLines": str(tail) if tail >= 0 else None, "previous": "true" if previous else None,
              "timestamps": "true" if timestamps else None}
    params = {key: value for key, value in params.items() if value is not None}
    path = object_path(POD, namespace or DEFAULT_NAMESPACE, name) + "/log"
    out = sys.stdout.buffer
    with find_masters(inventory).client() as client:
        with client.open_stream("GET", path, params, read_timeout=None if follow else 60.0) as response:
            try:
                while True:
                    chunk = response.read1(65536)
                    if not chunk:
                        break
                    out.write(chunk)
                    out.flush()
            except KeyboardInterrupt:
                sys.exit(130)
            except CONNECTION_ERRORS as exc:  # the master went away mid-stream
                raise UserError(f"the log stream of pod {name} broke: {exc.__class__.__name__} {exc}") from None


@click.command(context_settings={"ignore_unknown_options": True})
@click.argument("pod")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@click.option("-c", "--container", default=None, help="Which container (default: the first).")
@click.option("-i", "--stdin", "pass_stdin", is_flag=True, help="Pass stdin to the command.")
@click.option("-t", "--tty", is_flag=True, help="Give the command a terminal.")
@namespace_option
@click.option("--inventory", envvar="RAFTKUBE_INVENTORY",  # -i is kubectl's --stdin here
              help="Inventory of the cluster (default: $RAFTKUBE_INVENTORY, the lab).")
def exec_(pod: str, command: tuple[str, ...], container: str | None, pass_stdin: bool, tty: bool,
          namespace: str | None, inventory: str | None) -> None:
    """Run COMMAND in a pod's container: raftkube exec POD [-c C] [-i] [-t] -- CMD...

    Exits with the command's exit code.
    """
    name = _pod_name(pod)
    argv = list(command)
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        raise UserError("exec: give the command after --, e.g. raftkube exec web -- ls /")
    params = [("command", arg) for arg in argv]
    params += [("container", container)] if container else []
    params += [("stdin", "true")] if pass_stdin else []
    params += [("stdout", "true"), ("stderr", "false" if tty else "true")]
    params += [("tty", "true")] if tty else []
    path = object_path(POD, namespace or DEFAULT_NAMESPACE, name) + "/exec"
    with find_masters(inventory).client() as client:
        ws = client.open_websocket(path, params, PROTOCOLS)
    try:
        code = _session(ws, pass_stdin, tty)
    finally:
        ws.close()
    sys.exit(code)


def _session(ws, pass_stdin: bool, tty: bool) -> int:
    """Relay stdin to the command and its output back until its Status; its exit code."""
    stdin_fd = sys.stdin.fileno() if pass_stdin else None
    restore = terminal = resized = stop_watching = size = None
    v5 = ws.protocol == PROTOCOLS[0]
    try:
        if tty and stdin_fd is not None and os.isatty(stdin_fd):
            import termios
            import tty as tty_mode

            terminal = stdin_fd
            restore = termios.tcgetattr(terminal)
            tty_mode.setraw(terminal)
            resized, stop_watching = _watch_resizes()
            size = _send_size(ws, terminal, None)
        while True:
            watched = [ws] + [fd for fd in (stdin_fd, resized) if fd is not None]
            readable = [ws] if ws.pending() else select.select(watched, [], [])[0]
            if resized is not None and resized in readable:
                os.read(resized, 512)
            if terminal is not None and (resized in readable or stdin_fd in readable):
                # Before any input, not only on SIGWINCH: a resize and the keys typed
                # after it can wake this loop together, the signal noted only after the
                # input was read, and the command must see the new size first.
                size = _send_size(ws, terminal, size)
            if stdin_fd is not None and stdin_fd in readable:
                chunk = os.read(stdin_fd, 65536)
                if chunk:
                    ws.send(bytes([STDIN]) + chunk)
                else:
                    stdin_fd = None  # EOF: tell the command (v5), or just stop sending (v4)
                    if v5:
                        ws.send(bytes([CLOSE, STDIN]))
            if ws in readable:
                for _, payload in ws.receive():
                    code = _deliver(payload)
                    if code is not None:
                        return code
                if ws.closed:
                    raise UserError("the exec stream ended without the command's exit status")
    except KeyboardInterrupt:
        return 130
    except OSError as exc:
        raise UserError(f"the exec stream broke: {exc}") from None
    finally:
        if restore is not None:
            import termios

            termios.tcsetattr(terminal, termios.TCSADRAIN, restore)
        if stop_watching is not None:
            stop_watching()


def _send_size(ws, terminal: int, sent: os.terminal_size | None) -> os.terminal_size:
    """Send the terminal's size unless it is `sent` (the last one sent); the size now."""
    try:
        size = os.get_terminal_size(terminal)
    except OSError:  # the terminal hung up: its input ends, the command's status still comes
        return sent
    if size != sent:
        ws.send(bytes([RESIZE]) + json.dumps({"Width": size.columns, "Height": size.lines}).encode())
    return size


def _watch_resizes() -> tuple[int, Callable[[], None]]:
    """(a descriptor that turns readable when the terminal is resized, a function that
    stops watching): SIGWINCH wakes the select() the session waits in."""
    wake, note = os.pipe()
    os.set_blocking(note, False)

    def noted(signum, frame):
        try:
            os.write(note, b"\0")
        except BlockingIOError:  # already readable: one resize message will send the latest size
            pass

    previous = signal.signal(signal.SIGWINCH, noted)

    def stop() -> None:
        signal.signal(signal.SIGWINCH, previous)
        os.close(wake)
        os.close(note)

    return wake, stop


def _deliver(payload: bytes) -> int | None:
    """Write one channel frame where it belongs; the exit code once the Status comes."""
    if not payload:
        return None
    channel, data = payload[0], payload[1:]
    if channel == STDOUT:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    elif channel == STDERR:
        sys.stderr.buffer.write(data)
        sys.stderr.buffer.flush()
    elif channel == ERROR:
        return exit_code_of(data)
    return None


def exit_code_of(status_json: bytes) -> int:
    """The command's exit code from the Status on channel 3 (kubectl's reading of it)."""
    try:
        status = json.loads(status_json)
    except ValueError:
        raise UserError(f"exec: unreadable status from the master: {status_json[:200]!r}") from None
    if status.get("status") == "Success":
        return 0
    if status.get("reason") == "NonZeroExitCode":
        for cause in (status.get("details") or {}).get("causes") or []:
            if cause.get("reason") == "ExitCode":
                try:
                    return int(cause.get("message"))
                except (TypeError, ValueError):
                    break
    raise ApiError(status.get("message") or "exec failed", status.get("code", 0), status.get("reason", ""))
