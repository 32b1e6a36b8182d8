"""The exec websocket client: RFC 6455 framing and handshake, and exec's exit status."""

import fcntl
import json
import os
import pty
import socket
import struct
import sys
import termios
import threading

import pytest

from raftkube.client import pod_commands
from raftkube.client.pod_commands import exit_code_of
from raftkube.client.websocket import (
    BINARY,
    CLOSE,
    CONTINUATION,
    PING,
    PONG,
    TEXT,
    FrameReader,
    HandshakeRefused,
    WebSocket,
    WebSocketError,
    accept_for,
    encode_frame,
    open_on,
)
from raftkube.errors import UserError


def server_frame(payload: bytes, opcode: int = BINARY, final: bool = True) -> bytes:
    """A frame as a server sends it: unmasked."""
    head = bytes([(0x80 if final else 0) | opcode])
    if len(payload) < 126:
        return head + bytes([len(payload)]) + payload
    if len(payload) < 2**16:
        return head + bytes([126]) + struct.pack("!H", len(payload)) + payload
    return head + bytes([127]) + struct.pack("!Q", len(payload)) + payload


def test_the_accept_value_of_rfc_6455s_example():
    assert accept_for("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 200_000])
def test_client_frames_are_masked_and_read_back(size):
    payload = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
    frame = encode_frame(payload, mask=b"\x01\x02\x03\x04")
    assert frame[0] == 0x80 | BINARY and frame[1] & 0x80  # final, binary, masked
    if size >= 4:
        assert frame[-size:][:4] != payload[:4]  # what travels is masked
    reader = FrameReader()
    for at in range(0, len(frame), 7000):  # arrives in pieces
        reader.feed(frame[at:at + 7000])
    assert reader.messages() == [(BINARY, payload)]


def test_fragments_join_and_control_frames_come_between():
    reader = FrameReader()
    reader.feed(server_frame(b"\x01hel", BINARY, final=False) + server_frame(b"ping!", PING)
                + server_frame(b"lo", CONTINUATION) + server_frame(b"txt", TEXT))
    assert reader.messages() == [(PING, b"ping!"), (BINARY, b"\x01hello"), (TEXT, b"txt")]
    reader.feed(server_frame(struct.pack("!H", 1000), CLOSE)[:3])
    assert reader.messages() == []
    reader.feed(server_frame(struct.pack("!H", 1000), CLOSE)[3:])
    assert reader.messages() == [(CLOSE, struct.pack("!H", 1000))]


def test_a_continuation_without_a_start_is_refused():
    reader = FrameReader()
    reader.feed(server_frame(b"x", CONTINUATION))
    with pytest.raises(WebSocketError):
        reader.messages()


def serve_once(answer) -> tuple[socket.socket, list[bytes]]:
    """A socket pair whose other end reads the handshake and replies `answer(request)`."""
    client, server = socket.socketpair()
    seen = []

    def run():
        request = b""
        while b"\r\n\r\n" not in request:
            request += server.recv(4096)
        seen.append(request)
        server.sendall(answer(request))
        try:  # a client that refused the handshake has closed its end: nothing more to say
            for payload in (b"\x01out", b"\x03{}"):
                server.sendall(server_frame(payload))
            server.sendall(server_frame(b"are you there", PING))
            seen.append(server.recv(4096))  # the pong
        except OSError:
            pass
        server.close()

    threading.Thread(target=run, daemon=True).start()
    return client, seen


def test_the_handshake_and_a_session():
    def answer(request: bytes) -> bytes:
        key = next(line.split(b": ")[1] for line in request.split(b"\r\n") if line.startswith(b"Sec-WebSocket-Key"))
        return (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Protocol: v5.channel.k8s.io\r\nSec-WebSocket-Accept: "
                + accept_for(key.decode()).encode() + b"\r\n\r\n")

    sock, seen = serve_once(answer)
    ws = open_on(sock, "/api/v1/namespaces/default/pods/web/exec?command=ls", "m1:6443",
                 {"Authorization": "Bearer t"}, ["v5.channel.k8s.io", "v4.channel.k8s.io"])
    assert ws.protocol == "v5.channel.k8s.io"
    request = seen[0].decode()
    assert request.startswith("GET /api/v1/namespaces/default/pods/web/exec?command=ls HTTP/1.1\r\n")
    assert "Authorization: Bearer t\r\n" in request and "Sec-WebSocket-Version: 13\r\n" in request
    messages = []
    while len(messages) < 2:
        messages += ws.receive()
    assert messages == [(BINARY, b"\x01out"), (BINARY, b"\x03{}")]
    while not ws.receive() and not ws.closed:
        pass
    reader = FrameReader()
    reader.feed(seen[1])
    assert reader.messages() == [(PONG, b"are you there")]


def test_a_refused_upgrade_carries_the_status_body():
    body = b'{"kind":"Status","code":404,"reason":"NotFound","message":"pods \\"x\\" not found"}'
    sock, _ = serve_once(lambda request: b"HTTP/1.1 404 Not Found\r\nContent-Length: "
                         + str(len(body)).encode() + b"\r\n\r\n" + body)
    with pytest.raises(HandshakeRefused) as refused:
        open_on(sock, "/x", "h:1", {}, ["v5.channel.k8s.io"])
    assert refused.value.status == 404 and refused.value.body == body


def test_a_wrong_accept_is_refused():
    sock, _ = serve_once(lambda request: b"HTTP/1.1 101 OK\r\nSec-WebSocket-Accept: nope\r\n\r\n")
    with pytest.raises(WebSocketError):
        open_on(sock, "/x", "h:1", {}, ["v5.channel.k8s.io"])


def test_exit_codes_from_the_status_channel():
    assert exit_code_of(b'{"metadata": {}, "status": "Success"}') == 0
    assert exit_code_of(b'{"status": "Failure", "reason": "NonZeroExitCode", '
                        b'"details": {"causes": [{"reason": "ExitCode", "message": "3"}]}}') == 3
    with pytest.raises(UserError, match="container not found"):
        exit_code_of(b'{"status": "Failure", "reason": "InternalError", "message": "container not found"}')
    with pytest.raises(UserError, match="unreadable"):
        exit_code_of(b"{")


def test_exec_sends_a_resize_before_the_keys_typed_after_it(monkeypatch):
    """A resize and the keys typed after it can wake the session loop together, its
    SIGWINCH noted only after the keys were read (here never: the pty is not this
    process's terminal): the command must still get the new size before the keys."""
    def set_size(fd: int, rows: int, columns: int) -> None:
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))

    master, slave = pty.openpty()
    set_size(slave, 24, 80)
    ours, theirs = socket.socketpair()
    frames: list[bytes] = []

    def server() -> None:
        reader = FrameReader()
        try:
            while data := theirs.recv(65536):
                reader.feed(data)
                for _, payload in reader.messages():
                    frames.append(payload)
                    if len(frames) == 1:  # the session's first size: now resize, then type
                        set_size(master, 33, 111)
                        os.write(master, b"x")
                    elif payload[:1] == bytes([pod_commands.STDIN]):
                        theirs.sendall(encode_frame(bytes([pod_commands.ERROR]) + b'{"status": "Success"}'))
        finally:
            theirs.close()  # the session ends, never waits forever

    thread = threading.Thread(target=server, daemon=True)
    thread.start()
    with os.fdopen(slave, "rb", buffering=0) as stdin:
        monkeypatch.setattr(sys, "stdin", stdin)
        try:
            assert pod_commands._session(WebSocket(ours, pod_commands.PROTOCOLS[0]), True, True) == 0
        finally:
            ours.close()
            thread.join(5)
            os.close(master)
    sizes = [json.loads(f[1:]) for f in frames if f[0] == pod_commands.RESIZE]
    assert sizes == [{"Width": 80, "Height": 24}, {"Width": 111, "Height": 33}]
    assert frames.index(bytes([pod_commands.STDIN]) + b"x") > frames.index(
        bytes([pod_commands.RESIZE]) + json.dumps({"Width": 111, "Height": 33}).encode())
