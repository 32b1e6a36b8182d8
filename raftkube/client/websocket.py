"""A minimal RFC 6455 websocket client over one blocking socket, for `exec`.

Only what Kubernetes' channel protocol (`v5.channel.k8s.io`) needs: the upgrade
handshake, binary frames out (masked, as a client must), binary/text/close/ping frames
in (fragments joined). Stdlib only, so `raftkube exec` stays as quick to start as
`get`; the frame encoding and decoding are pure and unit-tested.
"""

from __future__ import annotations

import base64
import hashlib
import os
import struct

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
MAX_MESSAGE = 64 * 2**20


class WebSocketError(Exception):
    """The peer broke the protocol (the caller turns it into a user-facing error)."""


def handshake_key() -> str:
    return base64.b64encode(os.urandom(16)).decode()


def accept_for(key: str) -> str:
    """The `Sec-WebSocket-Accept` a server must answer to `key`."""
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


def upgrade_request(target: str, host: str, key: str, protocols: list[str], headers: dict) -> bytes:
    lines = [f"GET {target} HTTP/1.1", f"Host: {host}", "Upgrade: websocket", "Connection: Upgrade",
             f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13",
             f"Sec-WebSocket-Protocol: {', '.join(protocols)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def encode_frame(payload: bytes, opcode: int = BINARY, mask: bytes | None = None) -> bytes:
    """One final frame, masked (a client's frames must be)."""
    mask = mask if mask is not None else os.urandom(4)
    head = bytes([0x80 | opcode])
    length = len(payload)
    if length < 126:
        head += bytes([0x80 | length])
    elif length < 2**16:
        head += bytes([0x80 | 126]) + struct.pack("!H", length)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", length)
    return head + mask + _masked(payload, mask)


def _masked(payload: bytes, mask: bytes) -> bytes:
    if not payload:
        return b""
    repeated = (mask * (len(payload) // 4 + 1))[: len(payload)]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(len(payload), "big")


class FrameReader:
    """Turns received bytes into whole messages: `feed(data)`, then `messages()`."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._fragments: list[bytes] = []
        self._fragment_opcode = 0

    def feed(self, data: bytes) -> None:
        self._buffer += data

    def messages(self) -> list[tuple[int, bytes]]:
        """Complete (opcode, payload) messages so far; control frames as they come."""
        found = []
        while True:
            frame = self._next_frame()
            if frame is None:
                return found
            final, opcode, payload = frame
            if opcode >= CLOSE:
                found.append((opcode, payload))
                continue
            if opcode != CONTINUATION:
                self._fragment_opcode = opcode
                self._fragments = []
            elif not self._fragment_opcode:
                raise WebSocketError("continuation frame without a first fragment")
            self._fragments.append(payload)
            if sum(len(f) for f in self._fragments) > MAX_MESSAGE:
                raise WebSocketError("message too large")
            if final:
                found.append((self._fragment_opcode, b"".join(self._fragments)))
                self._fragments, self._fragment_opcode = [], 0

    def _next_frame(self) -> tuple[bool, int, bytes] | None:
        buffer = self._buffer
        if len(buffer) < 2:
            return None
        final, opcode = bool(buffer[0] & 0x80), buffer[0] & 0x0F
        masked, length = bool(buffer[1] & 0x80), buffer[1] & 0x7F
        at = 2
        if length == 126:
            if len(buffer) < 4:
                return None
            length, at = struct.unpack("!H", buffer[2:4])[0], 4
        elif length == 127:
            if len(buffer) < 10:
                return None
            length, at = struct.unpack("!Q", buffer[2:10])[0], 10
        if length > MAX_MESSAGE:
            raise WebSocketError("frame too large")
        mask = b""
        if masked:
            if len(buffer) < at + 4:
                return None
            mask, at = bytes(buffer[at:at + 4]), at + 4
        if len(buffer) < at + length:
            return None
        payload = bytes(buffer[at:at + length])
        del buffer[:at + length]
        return final, opcode, _masked(payload, mask) if masked else payload


class HandshakeRefused(Exception):
    """The server answered the upgrade with an HTTP status instead of 101."""

    def __init__(self, status: int, body: bytes):
        super().__init__(f"HTTP {status}")
        self.status = status
        self.body = body


class WebSocket:
    """An open websocket on a connected socket (TLS or not)."""

    def __init__(self, sock, protocol: str, leftover: bytes = b""):
        self.sock = sock
        self.protocol = protocol
        self.closed = False
        self._reader = FrameReader()
        self._reader.feed(leftover)

    def send(self, payload: bytes, opcode: int = BINARY) -> None:
        self.sock.sendall(encode_frame(payload, opcode))

    def fileno(self) -> int:
        return self.sock.fileno()

    def pending(self) -> bool:
        """Bytes already read (TLS-decrypted or buffered) that select() cannot see."""
        pending = getattr(self.sock, "pending", None)
        return bool(pending and pending()) or len(self._reader._buffer) > 0

    def receive(self) -> list[tuple[int, bytes]]:
        """Messages from one read (blocking); pings are answered. [] and `closed` at the end."""
        found = self._reader.messages()
        if found:
            return self._answer(found)
        data = self.sock.recv(65536)
        if not data:
            self.closed = True
            return []
        self._reader.feed(data)
        return self._answer(self._reader.messages())

    def _answer(self, messages: list[tuple[int, bytes]]) -> list[tuple[int, bytes]]:
        for opcode, payload in messages:
            if opcode == PING:
                self.send(payload, PONG)
            elif opcode == CLOSE:
                self.closed = True
        return [(op, payload) for op, payload in messages if op in (TEXT, BINARY, CLOSE)]

    def close(self) -> None:
        if not self.closed:
            try:
                self.send(struct.pack("!H", 1000), CLOSE)
            except OSError:
                pass
        self.closed = True
        self.sock.close()


def open_on(sock, target: str, host: str, headers: dict, protocols: list[str]) -> WebSocket:
    """Upgrade a connected socket; `HandshakeRefused` carries a non-101 answer."""
    key = handshake_key()
    sock.sendall(upgrade_request(target, host, key, protocols, headers))
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = sock.recv(65536)
        if not chunk:
            raise WebSocketError("the server closed the connection during the handshake")
        received += chunk
        if len(received) > 65536:
            raise WebSocketError("handshake answer too long")
    head, _, rest = received.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    fields = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        fields[name.strip().lower()] = value.strip()
    if status != 101:
        length = int(fields.get("content-length") or 0)
        while len(rest) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
        raise HandshakeRefused(status, rest[:length] if length else rest)
    if fields.get("sec-websocket-accept") != accept_for(key):
        raise WebSocketError("the server's Sec-WebSocket-Accept does not match the key")
    return WebSocket(sock, fields.get("sec-websocket-protocol", ""), rest)
