"""The cluster's bearer token: authenticates API requests (never the Raft secret, see `secrets`)."""

from pathlib import Path

from raftkube.state.secrets import read_secret


def read_token(path: str | Path) -> str:
    """The token in `path` (one line, written 0600 by `raftkube setup` or the lab); a
    missing, unreadable or empty file is a `SecretError` naming it."""
    return read_secret(path, "token")
