"""The wire format between the leader and a host helper: one JSON object per line.

Both sides import this module, and the helper runs on hosts from a zipapp with only
python3 there, so it imports nothing but the standard library.

A request is `{"id": int, "op": str, "args": {...}, "term": int, "timeout": float}`;
the answer is `{"id": int, "ok": true, "result": ...}` or
`{"id": int, "ok": false, "error": "one line", "kind": "stale_term" | ...}`.
`timeout` lets the helper drop a request that waited in its queue past the point where
the leader stopped caring. The helper's first line is a hello (`id` 0) with its pid, its
Python version and the highest term the host has seen, so the leader knows it started.
An empty line is a keepalive from the leader: it gets no answer. A `keepalive` request
is answered at once by the helper's reader thread (no term check, no queue), so the
leader can tell a helper that hangs from one that is busy.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

HELLO_ID = 0
KEEPALIVE = "keepalive"

# Error kinds: what the leader may want to tell apart without parsing messages.
STALE_TERM = "stale_term"
BAD_REQUEST = "bad_request"
NOT_FOUND = "not_found"
EXPIRED = "expired"
FAILED = "failed"
INTERNAL = "internal"


class ProtocolError(ValueError):
    """A line that is not a well-formed message."""


@dataclass
class Request:
    id: int
    op: str
    args: dict = field(default_factory=dict)
    term: int = 0
    timeout: float | None = None


@dataclass
class Response:
    id: int
    ok: bool
    result: Any = None
    error: str | None = None
    kind: str | None = None


def encode_request(request: Request) -> bytes:
    message = {"id": request.id, "op": request.op, "args": request.args, "term": request.term}
    if request.timeout is not None:
        message["timeout"] = request.timeout
    return _line(message)


def encode_response(response: Response) -> bytes:
    message: dict[str, Any] = {"id": response.id, "ok": response.ok}
    if response.ok:
        message["result"] = response.result
    else:
        message["error"] = response.error
        message["kind"] = response.kind
    return _line(message)


def decode_request(line: bytes) -> Request:
    """Parse one request line; ProtocolError says what is wrong with it."""
    message = _object(line)
    rid, op, args, term = message.get("id"), message.get("op"), message.get("args", {}), message.get("term")
    if not _is_int(rid) or rid <= HELLO_ID:
        raise ProtocolError("request id must be a positive integer")
    if not isinstance(op, str) or not op:
        raise ProtocolError("request op must be a non-empty string")
    if not isinstance(args, dict):
        raise ProtocolError("request args must be an object")
    if not _is_int(term) or term < 0:
        raise ProtocolError("request term must be a non-negative integer")
    timeout = message.get("timeout")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0):
        raise ProtocolError("request timeout must be a positive number")
    return Request(rid, op, args, term, timeout)


def decode_response(line: bytes) -> Response:
    """Parse one response line; ProtocolError says what is wrong with it."""
    message = _object(line)
    rid, ok = message.get("id"), message.get("ok")
    if not _is_int(rid) or rid < HELLO_ID:
        raise ProtocolError("response id must be a non-negative integer")
    if not isinstance(ok, bool):
        raise ProtocolError("response ok must be a boolean")
    if ok:
        return Response(rid, True, result=message.get("result"))
    return Response(rid, False, error=str(message.get("error") or "unknown error"), kind=message.get("kind") or FAILED)


def request_id(line: bytes) -> int | None:
    """The id of a line that failed to decode, when one can be read, so the error reaches its caller."""
    try:
        rid = json.loads(line).get("id")
    except (ValueError, AttributeError):
        return None
    return rid if _is_int(rid) and rid > HELLO_ID else None


def _line(message: dict) -> bytes:
    # ensure_ascii keeps every line pure ASCII: no newline or encoding surprise inside a frame.
    return json.dumps(message, separators=(",", ":"), ensure_ascii=True).encode("ascii") + b"\n"


def _object(line: bytes) -> dict:
    try:
        message = json.loads(line)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"not JSON: {exc}") from None
    if not isinstance(message, dict):
        raise ProtocolError("message must be a JSON object")
    return message


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
