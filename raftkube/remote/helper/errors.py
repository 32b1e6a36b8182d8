"""Failures an operation reports back to the leader as a one-line error with a kind."""

from __future__ import annotations

from raftkube.remote import protocol


class OpError(Exception):
    """An operation failed in a way the leader should hear about (not a helper bug)."""

    kind = protocol.FAILED


class BadRequest(OpError):
    kind = protocol.BAD_REQUEST


class NotFound(OpError):
    kind = protocol.NOT_FOUND
