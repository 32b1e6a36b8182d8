"""`pods/NAME/log` and `pods/NAME/exec`: a pod's output and processes, reached through the leader.

Only the leading master holds connections to the hosts (`loops.runner.NodeAccess`), so a
follower forwards these requests to the leader's API over https (trusting the cluster
CA, with the client's own token). On the leader they become polled helper sessions
(`remote/helper/streams.py`): logs as raw bytes (chunked while following), exec as
Kubernetes' websocket channel protocol (`v5.channel.k8s.io`, also v4): binary frames
whose first byte is the channel, 0 stdin, 1 stdout, 2 stderr, 3 the final Status, 4 a
terminal resize, and in v5 `[255, 0]` closes stdin.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import ssl
import time

import aiohttp
from aiohttp import web

from raftkube.errors import UserError
from raftkube.state.api import ApiError

logger = logging.getLogger(__name__)

PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
FOLLOW_POLL = 0.5
EXEC_READ_WAIT = 0.5
HOP_HEADERS = {"host", "connection", "upgrade", "content-length", "transfer-encoding", "keep-alive",
               "sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions",
               "sec-websocket-protocol"}


class PodIO:
    """The log and exec handlers of one master's API (`ApiServer.pod_io`).

    `find_pod(request, namespace, name)` reads the pod (the API's NotFound if missing),
    `node_access.call(node, op, args, timeout)` runs a helper op on the leader (raising
    `NotLeader`, with the leader's `leader_api`, elsewhere), `ca_file` verifies the
    leader when forwarding.
    """

    def __init__(self, find_pod, node_access, ca_file: str | None):
        self._find_pod = find_pod
        self._nodes = node_access
        self._tls = ssl.create_default_context(cafile=ca_file) if ca_file else None

    # -- logs ---------------------------------------------------------------------------

    async def log(self, request: web.Request, namespace: str, name: str) -> web.StreamResponse:
        if request.method != "GET":
            raise ApiError("MethodNotAllowed", f"{request.method} is not allowed on pods/log")
        pod = await self._find_pod(request, namespace, name)
        node, uid, container = self._target(pod, request.query.get("container"))
        query = request.query
        args = {"uid": uid, "container": container, "timestamps": _flag(query.get("timestamps")),
                "previous": _flag(query.get("previous"))}
        if query.get("tailLines"):
            args["tail"] = _whole(query["tailLines"], "tailLines")
        if query.get("sinceSeconds"):
            args["since"] = time.time() - _whole(query["sinceSeconds"], "sinceSeconds")
        first = await self._call(request, node, "logs_read", args)
        if first is None:
            return await self._forward(request)
        follow = _flag(query.get("follow"))
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        if follow:
            response.enable_chunked_encoding()
        await response.prepare(request)
        answer = first
        try:
            while True:
                data = base64.b64decode(answer["data"])
                if data:
                    await response.write(data)
                if not follow or (not answer["running"] and not data):
                    break
                if request.transport is None or request.transport.is_closing():
                    break
                if not data:
                    await asyncio.sleep(FOLLOW_POLL)
                cursor = answer.get("cursor")
                more = {"uid": uid, "container": container, "timestamps": args["timestamps"]}
                if cursor:
                    more["after"] = cursor
                answer = await self._nodes.call(node, "logs_read", more, timeout=30.0)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        except UserError as exc:
            logger.info("logs -f of %s/%s ended: %s", namespace, name, exc)
        await response.write_eof()
        return response

    # -- exec ---------------------------------------------------------------------------

    async def exec(self, request: web.Request, namespace: str, name: str) -> web.StreamResponse:
        if request.method not in ("GET", "POST"):
            raise ApiError("MethodNotAllowed", f"{request.method} is not allowed on pods/exec")
        pod = await self._find_pod(request, namespace, name)
        node, uid, container = self._target(pod, request.query.get("container"))
        argv = request.query.getall("command", [])
        if not argv:
            raise ApiError("BadRequest", "you must specify at least one command for the container")
        tty, stdin = _flag(request.query.get("tty")), _flag(request.query.get("stdin"))
        if request.headers.get("Upgrade", "").lower() != "websocket":
            raise ApiError("BadRequest", "exec needs a websocket upgrade (v5.channel.k8s.io)")
        started = await self._call(request, node, "exec_start",
                                   {"uid": uid, "container": container, "argv": argv, "tty": tty, "stdin": stdin})
        if started is None:
            return await self._forward_websocket(request)
        session = started["session"]
        ws = web.WebSocketResponse(protocols=PROTOCOLS, heartbeat=None, max_msg_size=8 * 2**20)
        await ws.prepare(request)
        v5 = ws.ws_protocol == PROTOCOLS[0]
        reader = asyncio.create_task(self._exec_input(ws, node, session, v5))
        try:
            exit_code = await self._exec_output(ws, node, session)
            status = {"metadata": {}, "status": "Success"} if exit_code == 0 else {
                "metadata": {}, "status": "Failure",
                "message": f"command terminated with non-zero exit code: error executing command "
                           f"[{' '.join(argv)}], exit code {exit_code}",
                "reason": "NonZeroExitCode",
                "details": {"causes": [{"reason": "ExitCode", "message": str(exit_code)}]}}
            await ws.send_bytes(bytes([ERROR]) + json.dumps(status).encode())
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        except UserError as exc:
            failure = {"metadata": {}, "status": "Failure", "message": str(exc), "reason": "InternalError"}
            if not ws.closed:
                await ws.send_bytes(bytes([ERROR]) + json.dumps(failure).encode())
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
            try:
                await self._nodes.call(node, "exec_close", {"session": session}, timeout=10.0)
            except UserError:
                pass
            await ws.close()
        return ws

    async def _exec_output(self, ws: web.WebSocketResponse, node: str, session: str) -> int:
        while True:
            answer = await self._nodes.call(node, "exec_read", {"session": session, "wait": EXEC_READ_WAIT},
                                            timeout=30.0)
            for channel, key in ((STDOUT, "stdout"), (STDERR, "stderr")):
                data = base64.b64decode(answer[key])
                if data:
                    await ws.send_bytes(bytes([channel]) + data)
            if answer["ended"]:
                return answer["exit_code"] if answer["exit_code"] is not None else 1
            if ws.closed:
                raise ConnectionResetError("the client went away")

    async def _exec_input(self, ws: web.WebSocketResponse, node: str, session: str, v5: bool) -> None:
        async for message in ws:
            if message.type == aiohttp.WSMsgType.BINARY:
                frame = message.data
            elif message.type == aiohttp.WSMsgType.TEXT:  # some clients send channels as text
                frame = message.data.encode("latin-1", errors="replace")
            else:
                continue
            if not frame:
                continue
            channel, payload = frame[0], frame[1:]
            try:
                if channel == STDIN and payload:
                    await self._nodes.call(node, "exec_write",
                                           {"session": session, "data": base64.b64encode(payload).decode()})
                elif channel == RESIZE and payload:
                    size = json.loads(payload)
                    await self._nodes.call(node, "exec_resize", {"session": session, "width": size.get("Width", 80),
                                                                 "height": size.get("Height", 24)})
                elif channel == CLOSE and v5 and payload[:1] == bytes([STDIN]):
                    await self._nodes.call(node, "exec_write", {"session": session, "close": True})
            except (UserError, ValueError) as exc:
                logger.info("exec session %s input: %s", session, exc)

    # -- plumbing -----------------------------------------------------------------------

    def _target(self, pod: dict, container: str | None) -> tuple[str, str, str]:
        containers = [c["name"] for c in pod["spec"].get("containers", [])]
        chosen = container or pod["metadata"].get("annotations", {}).get(
            "kubectl.kubernetes.io/default-container") or (containers[0] if containers else "")
        if chosen not in containers:
            raise ApiError("BadRequest", f"container {chosen} is not valid for pod {pod['metadata']['name']}")
        node = pod["spec"].get("nodeName")
        if not node:
            raise ApiError("BadRequest", f"pod {pod['metadata']['name']} is not scheduled to a node yet")
        return node, pod["metadata"]["uid"], chosen

    async def _call(self, request: web.Request, node: str, op: str, args: dict):
        """The op's answer on the leader; None on another master (the caller forwards)."""
        try:
            return await self._nodes.call(node, op, args, timeout=30.0)
        except UserError as exc:
            if hasattr(exc, "leader_api"):  # loops.controller.NotLeader: this master does not lead
                if not exc.leader_api or request.headers.get("X-Raftkube-Forwarded"):
                    raise ApiError("ServiceUnavailable", f"{exc}; no leader to forward to", retry_after=1) from None
                request["leader_api"] = exc.leader_api
                return None
            raise ApiError("BadRequest", f"{op} on node {node}: {exc}") from None

    def _leader_url(self, request: web.Request, scheme: str) -> str:
        return f"{scheme}://{request['leader_api']}{request.path_qs}"

    def _forward_headers(self, request: web.Request) -> dict:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_HEADERS}
        headers["X-Raftkube-Forwarded"] = "1"
        return headers

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        """Relay a plain request (logs) to the leader and its answer back as it comes."""
        async with aiohttp.ClientSession() as session:
            async with session.request(request.method, self._leader_url(request, "https"),
                                       headers=self._forward_headers(request), ssl=self._tls,
                                       timeout=aiohttp.ClientTimeout(total=None, sock_connect=5)) as upstream:
                response = web.StreamResponse(status=upstream.status, headers={
                    "Content-Type": upstream.headers.get("Content-Type", "text/plain")})
                await response.prepare(request)
                async for chunk in upstream.content.iter_any():
                    await response.write(chunk)
                await response.write_eof()
                return response

    async def _forward_websocket(self, request: web.Request) -> web.WebSocketResponse:
        """Relay an exec websocket to the leader, frame by frame, both ways."""
        wanted = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(self._leader_url(request, "wss"), protocols=wanted or PROTOCOLS,
                                          headers=self._forward_headers(request), ssl=self._tls,
                                          max_msg_size=8 * 2**20) as upstream:
                ws = web.WebSocketResponse(protocols=[upstream.protocol] if upstream.protocol else PROTOCOLS,
                                           max_msg_size=8 * 2**20)
                await ws.prepare(request)

                async def relay(source, sink):
                    async for message in source:
                        if message.type == aiohttp.WSMsgType.BINARY:
                            await sink.send_bytes(message.data)
                        elif message.type == aiohttp.WSMsgType.TEXT:
                            await sink.send_str(message.data)
                    await sink.close()

                await asyncio.gather(relay(upstream, ws), relay(ws, upstream), return_exceptions=True)
                return ws


def _flag(value: str | None) -> bool:
    return value in ("1", "t", "T", "true", "TRUE", "True")


def _whole(text: str, name: str) -> int:
    if not text.isdigit():
        raise ApiError("BadRequest", f"{name} {text!r} is not a whole number >= 0")
    return int(text)
