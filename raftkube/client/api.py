"""HTTP client of the masters' API: finds a master that answers, retries, speaks Status.

Any master takes any request (followers forward writes to the leader), so the client
simply tries the masters in turn: a connection error, a timeout or a 503 (no quorum,
e.g. during an election) moves on to the next with a short back-off. Every write carries
one request id across all its retries, so a write that committed although its answer
was lost is not applied twice. Failures become `ApiError` (a `UserError`) with the
Status message, so the CLI prints one line.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator

import aiohttp

from raftkube.errors import UserError

logger = logging.getLogger(__name__)

RETRY_STATUSES = {502, 503, 504}


class ApiError(UserError):
    """The API answered with a failure Status (its code and reason are kept)."""

    def __init__(self, message: str, code: int = 0, reason: str = ""):
        super().__init__(message)
        self.code = code
        self.reason = reason


class MastersUnreachable(UserError):
    """No master answered within the deadline."""


class ApiClient:
    """Talks to the masters at `endpoints` ("http://host:port"), authenticated by `token`.

    Use as an async context manager (it owns one aiohttp session).
    """

    def __init__(self, endpoints: list[str], token: str, request_timeout: float = 8.0, deadline: float = 20.0):
        if not endpoints:
            raise UserError("the inventory lists no masters")
        self.endpoints = list(endpoints)
        self._token = token
        self._request_timeout = request_timeout
        self._deadline = deadline
        self._preferred = 0
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> ApiClient:
        self._session = aiohttp.ClientSession(headers={"Authorization": f"Bearer {self._token}"})
        return self

    async def __aexit__(self, *exc) -> None:
        await self._session.close()

    async def request(self, method: str, path: str, body: dict | None = None,
                      params: dict | None = None, content_type: str = "application/json") -> dict:
        """One API call, retried against other masters; returns the decoded JSON body."""
        headers = {"X-Request-Id": uuid.uuid4().hex}
        data = None
        if body is not None:
            data = json.dumps(body)
            headers["Content-Type"] = content_type
        give_up = time.monotonic() + self._deadline
        backoff, last_problem = 0.1, "no attempt"
        attempt = 0
        while True:
            endpoint = self.endpoints[(self._preferred + attempt) % len(self.endpoints)]
            try:
                timeout = aiohttp.ClientTimeout(total=min(self._request_timeout, max(give_up - time.monotonic(), 0.5)))
                async with self._session.request(method, endpoint + path, data=data, params=params,
                                                 headers=headers, timeout=timeout) as response:
                    answer = await _decode(response)
                    if response.status not in RETRY_STATUSES:
                        self._preferred = (self._preferred + attempt) % len(self.endpoints)
                        if response.status >= 400:
                            raise _status_error(response.status, answer)
                        return answer
                    last_problem = f"{endpoint}: {answer.get('message') or response.reason}"
            except (aiohttp.ClientConnectionError, asyncio.TimeoutError, aiohttp.ClientPayloadError) as exc:
                last_problem = f"{endpoint}: {exc.__class__.__name__} {exc}".strip()
            logger.debug("retrying %s %s: %s", method, path, last_problem)
            attempt += 1
            if time.monotonic() + backoff >= give_up:
                raise MastersUnreachable(f"no master could serve {method} {path} within "
                                         f"{self._deadline:.0f}s (last: {last_problem})")
            if attempt % len(self.endpoints) == 0:
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 1.0)

    async def get(self, path: str, params: dict | None = None) -> dict:
        return await self.request("GET", path, params=params)

    async def create(self, path: str, obj: dict) -> dict:
        return await self.request("POST", path, obj)

    async def replace(self, path: str, obj: dict) -> dict:
        return await self.request("PUT", path, obj)

    async def patch(self, path: str, patch: dict) -> dict:
        return await self.request("PATCH", path, patch, content_type="application/merge-patch+json")

    async def delete(self, path: str) -> dict:
        return await self.request("DELETE", path)

    async def status_of(self, endpoint: str, timeout: float = 3.0) -> dict | None:
        """One master's own Raft view (`/raftkube/v1/cluster`), or None if it does not answer."""
        try:
            async with self._session.get(endpoint + "/raftkube/v1/cluster",
                                         timeout=aiohttp.ClientTimeout(total=timeout)) as response:
                answer = await _decode(response)
                if response.status >= 400:
                    raise _status_error(response.status, answer)
                return answer
        except (aiohttp.ClientConnectionError, asyncio.TimeoutError, aiohttp.ClientPayloadError):
            return None

    async def watch(self, path: str, params: dict | None = None) -> AsyncIterator[dict]:
        """Yield `{"type", "object"}` events from one master until the stream ends."""
        params = {**(params or {}), "watch": "1"}
        for attempt in range(len(self.endpoints)):
            endpoint = self.endpoints[(self._preferred + attempt) % len(self.endpoints)]
            try:
                response = await self._session.get(endpoint + path, params=params,
                                                   timeout=aiohttp.ClientTimeout(total=None, sock_connect=3))
            except aiohttp.ClientConnectionError:
                continue
            async with response:
                if response.status >= 400:
                    raise _status_error(response.status, await _decode(response))
                async for line in response.content:
                    if line.strip():
                        yield json.loads(line)
                return
        raise MastersUnreachable(f"no master answered a watch on {path}")


async def _decode(response: aiohttp.ClientResponse) -> dict:
    text = await response.text()
    try:
        answer = json.loads(text) if text else {}
    except ValueError:
        answer = {"message": text.strip()[:200]}
    return answer if isinstance(answer, dict) else {"message": str(answer)[:200]}


def _status_error(code: int, answer: dict) -> ApiError:
    message = answer.get("message") or f"HTTP {code}"
    return ApiError(message, code=code, reason=answer.get("reason", ""))
