"""The helper's request loop: read JSON lines, fence by term, run ops in threads, answer.

Requests run on a small thread pool so a slow one (a log tail, an image pull) does not
hold up a ping; answers go out whenever they are ready, matched by id on the leader's
side. The reader thread checks the term of each request in arrival order, so a newer
leader's request is never overtaken by an older one's admission.
"""

from __future__ import annotations

import inspect
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, BinaryIO

from raftkube.remote import protocol
from raftkube.remote.helper.errors import OpError
from raftkube.remote.helper.fencing import StaleTerm, TermError, TermStore

log = logging.getLogger(__name__)

Op = Callable[..., Any]


class Server:
    """Serves one connection: requests from `inp`, answers to `out`, until `inp` ends."""

    # Generous: a stop_pod holds a worker for up to the pod's grace period (30 s by
    # default), and a few deletions at once must not leave the leader's reports queued.
    def __init__(self, ops: Mapping[str, Op], terms: TermStore, out: BinaryIO, workers: int = 32):
        self.ops, self.terms, self.out = ops, terms, out
        self._write_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="op")
        self.last_heard = time.monotonic()  # any line counts, the leader's empty keepalives too

    def serve(self, inp: BinaryIO) -> None:
        try:
            term = self.terms.highest()
        except TermError as exc:  # said to the leader; every request will say it again
            log.error("%s", exc)
            term = None
        hello = {"pid": os.getpid(), "python": sys.version.split()[0], "term": term}
        self._send(protocol.Response(protocol.HELLO_ID, True, hello))
        for line in iter(inp.readline, b""):
            self.last_heard = time.monotonic()
            if line.strip():
                self._accept(line, time.monotonic())
        log.debug("stdin closed")

    def _accept(self, line: bytes, received: float) -> None:
        try:
            request = protocol.decode_request(line)
        except protocol.ProtocolError as exc:
            rid = protocol.request_id(line)
            log.warning("bad request line: %s", exc)
            if rid is not None:
                self._send(protocol.Response(rid, False, error=f"bad request: {exc}", kind=protocol.BAD_REQUEST))
            return
        if request.op == protocol.KEEPALIVE:
            self._send(protocol.Response(request.id, True, None))
            return
        try:
            self.terms.admit(request.term)
        except StaleTerm as exc:
            self._send(protocol.Response(request.id, False, error=str(exc), kind=protocol.STALE_TERM))
            return
        except TermError as exc:  # the request is refused, the helper keeps serving
            log.error("%s", exc)
            self._send(protocol.Response(request.id, False, error=str(exc), kind=protocol.FAILED))
            return
        self._pool.submit(self._run, request, received)

    def _run(self, request: protocol.Request, received: float) -> None:
        if request.timeout is not None and time.monotonic() - received > request.timeout:
            # The leader has given up on it already; doing it late would surprise it.
            self._send(protocol.Response(request.id, False, error="expired in the helper's queue", kind=protocol.EXPIRED))
            return
        self._send(self._call(request))

    def _call(self, request: protocol.Request) -> protocol.Response:
        op = self.ops.get(request.op)
        if op is None:
            return protocol.Response(request.id, False, error=f"unknown op {request.op!r}", kind=protocol.BAD_REQUEST)
        try:
            inspect.signature(op).bind(**request.args)
        except TypeError as exc:
            return protocol.Response(request.id, False, error=f"{request.op}: {exc}", kind=protocol.BAD_REQUEST)
        try:
            return protocol.Response(request.id, True, op(**request.args))
        except OpError as exc:
            return protocol.Response(request.id, False, error=str(exc), kind=exc.kind)
        except Exception as exc:
            log.exception("op %s failed", request.op)
            return protocol.Response(request.id, False, error=f"{request.op}: {type(exc).__name__}: {exc}", kind=protocol.INTERNAL)

    def _send(self, response: protocol.Response) -> None:
        try:
            data = protocol.encode_response(response)
        except (TypeError, ValueError) as exc:
            data = protocol.encode_response(
                protocol.Response(response.id, False, error=f"unencodable result: {exc}", kind=protocol.INTERNAL)
            )
        with self._write_lock:
            self.out.write(data)
            self.out.flush()
