"""HTTP client of the masters' API: finds a master that answers, retries, speaks Status.

Any master takes any request (followers forward writes to the leader), so the client
simply tries the masters in turn: a connection error, a timeout or a 502/503/504 (no
quorum, e.g. during an election) moves on to the next with a short back-off. Every
write carries one request id across all its retries, so a write that committed
although its answer was lost is not applied twice. Failures become `ApiError` (a
`UserError`) with the Status message, so the CLI prints one line.

Built on the standard library's `http.client` rather than an async framework: a
command makes a few sequential calls, and importing aiohttp alone took longer than a
whole `raftkube get`. One `ApiClient` keeps one keep-alive connection per master and
is meant for one thread; threads that talk in parallel each make their own.
"""

from __future__ import annotations

import http.client
import json
import logging
import time
import uuid
from collections.abc import Iterator
from urllib.parse import urlencode, urlsplit

from raftkube.errors import UserError

logger = logging.getLogger(__name__)

RETRY_STATUSES = {502, 503, 504}
# How long every master may refuse connections (restarting) before the client gives up.
REFUSED_GRACE = 3.0
# What a master that died, restarted or closed an idle keep-alive connection looks like.
CONNECTION_ERRORS = (OSError, http.client.HTTPException)


class ApiError(UserError):
    """The API answered with a failure Status (its code and reason are kept)."""

    def __init__(self, message: str, code: int = 0, reason: str = ""):
        super().__init__(message)
        self.code = code
        self.reason = reason


class MastersUnreachable(UserError):
    """No master answered within the deadline."""


class UntrustedMaster(UserError):
    """A master's certificate does not verify against the cluster CA (never retried)."""


def tls_context(ca_file: str | None):
    """An `ssl.SSLContext` trusting only the cluster CA in `ca_file` (`Inventory.ca_cert_path`)."""
    import ssl  # only https clients pay for it

    if ca_file is None:
        return ssl.create_default_context()
    try:
        return ssl.create_default_context(cafile=str(ca_file))
    except FileNotFoundError:
        raise UserError(f"cluster CA {ca_file} not found: run `raftkube setup`") from None
    except (OSError, ssl.SSLError) as exc:
        raise UserError(f"cannot read the cluster CA {ca_file}: {exc}") from None


def _refuse_untrusted(endpoint: str, exc: BaseException) -> None:
    """A certificate the CA did not sign is the wrong CA or a man in the middle: another
    master (same CA) or another try would not help, so say so at once."""
    import ssl

    if isinstance(exc, ssl.SSLCertVerificationError):
        raise UntrustedMaster(f"{endpoint}: the master's certificate does not verify against the cluster CA "
                              f"({exc.verify_message}); is the inventory's .ca.crt this cluster's?") from None


class ApiClient:
    """Talks to the masters at `endpoints` ("http://host:port" or "https://host:port"),
    authenticated by `token`; `ssl_context` verifies https masters (the cluster CA).

    Usable as a context manager (closes its connections at the end).
    """

    def __init__(self, endpoints: list[str], token: str, ssl_context=None,
                 request_timeout: float = 8.0, deadline: float = 20.0):
        if not endpoints:
            raise UserError("the inventory lists no masters")
        self.endpoints = list(endpoints)
        self._token = token
        self._ssl_context = ssl_context
        self._request_timeout = request_timeout
        self._deadline = deadline
        self._preferred = 0
        self._connections: dict[str, http.client.HTTPConnection] = {}

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        for connection in self._connections.values():
            connection.close()
        self._connections.clear()

    # -- plain calls ----------------------------------------------------------------

    def request(self, method: str, path: str, body: dict | None = None, params: dict | None = None,
                content_type: str = "application/json", request_id: str | None = None) -> dict:
        """One API call, retried against other masters; returns the decoded JSON body."""
        headers = {"X-Request-Id": request_id or uuid.uuid4().hex}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = content_type
        target = _with_query(path, params)
        started = time.monotonic()
        give_up = started + self._deadline
        backoff, last_problem = 0.1, "no attempt"
        attempt = refused = 0
        while True:
            index = (self._preferred + attempt) % len(self.endpoints)
            endpoint = self.endpoints[index]
            timeout = min(self._request_timeout, max(give_up - time.monotonic(), 0.5))
            try:
                status, reason, answer = self._exchange(endpoint, method, target, data, headers, timeout)
                if status not in RETRY_STATUSES:
                    self._preferred = index
                    if status >= 400:
                        raise _status_error(status, answer)
                    return answer
                last_problem = f"{endpoint}: {answer.get('message') or reason}"
                refused = 0
            except ConnectionRefusedError as exc:
                last_problem = f"{endpoint}: {_describe(exc)}"
                refused += 1
            except CONNECTION_ERRORS as exc:
                _refuse_untrusted(endpoint, exc)
                last_problem = f"{endpoint}: {_describe(exc)}"
                refused = 0
            logger.info("retrying %s %s: %s", method, path, last_problem)
            attempt += 1
            # Every master refusing connections for a while is not an election: nothing listens.
            if refused >= 2 * len(self.endpoints) and time.monotonic() - started >= REFUSED_GRACE:
                raise MastersUnreachable(f"no master is listening ({', '.join(self.endpoints)}): "
                                         f"connection refused for {time.monotonic() - started:.0f}s")
            if time.monotonic() + backoff >= give_up:
                raise MastersUnreachable(f"no master could serve {method} {path} within "
                                         f"{self._deadline:.0f}s (last: {last_problem})")
            if attempt % len(self.endpoints) == 0:
                time.sleep(backoff)
                backoff = min(backoff * 2, 1.0)

    def get(self, path: str, params: dict | None = None) -> dict:
        return self.request("GET", path, params=params)

    def create(self, path: str, obj: dict) -> dict:
        return self.request("POST", path, obj)

    def replace(self, path: str, obj: dict) -> dict:
        return self.request("PUT", path, obj)

    def patch(self, path: str, patch: dict, content_type: str = "application/merge-patch+json") -> dict:
        return self.request("PATCH", path, patch, content_type=content_type)

    def delete(self, path: str, body: dict | None = None, params: dict | None = None) -> dict:
        return self.request("DELETE", path, body, params=params)

    def status_of(self, endpoint: str, timeout: float = 3.0) -> dict | None:
        """One master's own Raft view (`/raftkube/v1/cluster`), or None if it does not answer.

        Uses a connection of its own, so threads may ask several masters at once.
        """
        connection = self._connect(endpoint, timeout)
        try:
            connection.request("GET", "/raftkube/v1/cluster", headers=self._headers())
            response = connection.getresponse()
            answer = _decode(response.read())
        except CONNECTION_ERRORS as exc:
            _refuse_untrusted(endpoint, exc)
            return None
        finally:
            connection.close()
        if response.status >= 400:
            raise _status_error(response.status, answer)
        return answer

    # -- streams --------------------------------------------------------------------

    def watch(self, path: str, params: dict | None = None, connect_timeout: float = 3.0,
              read_timeout: float | None = None) -> Iterator[dict]:
        """Yield `{"type", "object"}` events from one master until the stream ends.

        Tries each master once to open the stream; once open, a broken connection simply
        ends the iteration (the caller resumes from the last resourceVersion it saw).
        `read_timeout` ends it too when a master stays silent that long.
        """
        params = {**(params or {}), "watch": "1"}
        with self.open_stream("GET", path, params, connect_timeout, read_timeout) as response:
            try:
                for line in response:
                    if line.strip():
                        yield json.loads(line)
            except (*CONNECTION_ERRORS, ValueError) as exc:
                logger.debug("watch on %s ended: %s", path, _describe(exc))

    def _each_endpoint(self):
        """(index, endpoint) of every master once, the one that last answered first."""
        for attempt in range(len(self.endpoints)):
            index = (self._preferred + attempt) % len(self.endpoints)
            yield index, self.endpoints[index]

    def open_stream(self, method: str, path: str, params: dict | None = None,
                    connect_timeout: float = 3.0, read_timeout: float | None = None) -> _Stream:
        """A long answer (a watch, `logs -f`) from the first master that accepts it.

        Returns a context manager around the open `http.client.HTTPResponse`; a Status
        failure raises `ApiError`, no master answering `MastersUnreachable`.
        """
        target = _with_query(path, params)
        problems = []
        for index, endpoint in self._each_endpoint():
            connection = self._connect(endpoint, connect_timeout)
            try:
                connection.request(method, target, headers=self._headers())
                response = connection.getresponse()
            except CONNECTION_ERRORS as exc:
                connection.close()
                _refuse_untrusted(endpoint, exc)
                problems.append(f"{endpoint}: {_describe(exc)}")
                continue
            if response.status in RETRY_STATUSES:
                problems.append(f"{endpoint}: {_decode(response.read()).get('message') or response.reason}")
                connection.close()
                continue
            if response.status >= 400:
                answer = _decode(response.read())
                connection.close()
                raise _status_error(response.status, answer)
            self._preferred = index
            if connection.sock is not None:
                connection.sock.settimeout(read_timeout)
            return _Stream(connection, response)
        raise MastersUnreachable(f"no master answered {method} {path} ({'; '.join(problems)})")

    def open_websocket(self, path: str, params, protocols: list[str], connect_timeout: float = 5.0):
        """A `client.websocket.WebSocket` to the first master that accepts the upgrade
        (`params` may be a list of pairs, for repeated keys such as exec's `command`)."""
        from raftkube.client import websocket

        target = _with_query(path, params)
        problems = []
        for index, endpoint in self._each_endpoint():
            connection = self._connect(endpoint, connect_timeout)
            sock = None
            try:
                connection.connect()
                sock, connection.sock = connection.sock, None
                opened = websocket.open_on(sock, target, f"{connection.host}:{connection.port}",
                                           self._headers(), protocols)
            except websocket.HandshakeRefused as refused:
                sock.close()
                answer = _decode(refused.body)
                if refused.status in RETRY_STATUSES:
                    problems.append(f"{endpoint}: {answer.get('message') or refused}")
                    continue
                raise _status_error(refused.status, answer) from None
            except (*CONNECTION_ERRORS, websocket.WebSocketError) as exc:
                _refuse_untrusted(endpoint, exc)
                connection.close()
                if sock is not None:
                    sock.close()
                problems.append(f"{endpoint}: {_describe(exc)}")
                continue
            self._preferred = index
            sock.settimeout(None)
            return opened
        raise MastersUnreachable(f"no master answered {path} ({'; '.join(problems)})")

    # -- connections ----------------------------------------------------------------

    def _headers(self) -> dict:
        return {"Authorization": f"Bearer {self._token}"}

    def _connect(self, endpoint: str, timeout: float) -> http.client.HTTPConnection:
        url = urlsplit(endpoint)
        if url.scheme == "https":
            context = self._ssl_context
            if context is None:
                import ssl  # only https clients pay for it
                context = ssl.create_default_context()
            return http.client.HTTPSConnection(url.hostname, url.port, timeout=timeout, context=context)
        if url.scheme != "http":
            raise UserError(f"master endpoint {endpoint!r}: only http:// and https:// are understood")
        return http.client.HTTPConnection(url.hostname, url.port, timeout=timeout)

    def _exchange(self, endpoint: str, method: str, target: str, data: bytes | None,
                  headers: dict, timeout: float) -> tuple[int, str, dict]:
        """One request on the endpoint's keep-alive connection: (status, reason, body).

        A kept connection the master closed meanwhile fails at once; that is retried on
        a fresh connection to the same master before the caller moves on.
        """
        for fresh in (False, True):
            connection = self._connections.get(endpoint)
            reused = connection is not None and not fresh
            if not reused:
                if connection is not None:
                    connection.close()
                connection = self._connections[endpoint] = self._connect(endpoint, timeout)
            connection.timeout = timeout
            if connection.sock is not None:
                connection.sock.settimeout(timeout)
            try:
                connection.request(method, target, body=data, headers={**self._headers(), **headers})
                response = connection.getresponse()
                body = response.read()
            except (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected) as exc:
                self._drop(endpoint)
                if reused:
                    continue
                raise exc
            except CONNECTION_ERRORS:
                self._drop(endpoint)
                raise
            if response.will_close:
                self._drop(endpoint)
            return response.status, response.reason, _decode(body)
        raise AssertionError("unreachable")

    def _drop(self, endpoint: str) -> None:
        connection = self._connections.pop(endpoint, None)
        if connection is not None:
            connection.close()


class _Stream:
    """An open streaming answer; closing it closes its connection."""

    def __init__(self, connection: http.client.HTTPConnection, response: http.client.HTTPResponse):
        self.connection = connection
        self.response = response

    def __enter__(self) -> http.client.HTTPResponse:
        return self.response

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.connection.close()


def _with_query(path: str, params: dict | None) -> str:
    if not params:
        return path
    return path + ("&" if "?" in path else "?") + urlencode(params)


def _describe(exc: BaseException) -> str:
    return f"{exc.__class__.__name__} {exc}".strip()


def _decode(raw: bytes) -> dict:
    text = raw.decode("utf-8", errors="replace")
    try:
        answer = json.loads(text) if text else {}
    except ValueError:
        answer = {"message": text.strip()[:200]}
    return answer if isinstance(answer, dict) else {"message": str(answer)[:200]}


def _status_error(code: int, answer: dict) -> ApiError:
    message = answer.get("message") or f"HTTP {code}"
    return ApiError(message, code=code, reason=answer.get("reason", ""))
