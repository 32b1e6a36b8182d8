"""The Raft secret: what masters, and only masters, use to talk Raft to each other.

pysyncobj decrypts a peer's first frame with this secret and then unpickles it, so
whoever holds it can run code on every master (and the masters hold SSH keys to every
host). It is therefore its own random file (`<inventory>.raft-secret`, 0600), made by
`raftkube setup` and shipped only to the masters; the API token, which every client
holds, is never the Raft secret, and the API never serves it nor accepts it.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from raftkube.errors import UserError


class SecretError(UserError):
    """A secret file is missing, unreadable, empty or the same as the API token."""


def read_secret(path: str | Path, what: str = "Raft secret") -> str:
    path = Path(path)
    try:
        value = path.read_text().strip()
    except FileNotFoundError:
        raise SecretError(f"{what} file {path} not found: run `raftkube setup` first") from None
    except OSError as exc:
        raise SecretError(f"cannot read {what} file {path}: {exc.strerror}") from None
    if not value:
        raise SecretError(f"{what} file {path} is empty")
    return value


def ensure_secret(path: str | Path, what: str = "Raft secret") -> tuple[str, bool]:
    """The secret in `path`, created (random, 0600) when missing; and whether it was created."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return read_secret(path, what), False
    except OSError as exc:
        raise SecretError(f"cannot create {what} file {path}: {exc.strerror}") from None
    value = secrets.token_hex(32)
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")
    return value, True


def check_apart(raft_secret: str, token: str) -> None:
    """The Raft secret must never be the API token (a client could then run code on masters)."""
    if raft_secret == token:
        raise SecretError("the Raft secret is the same as the API token: every API client could "
                          "then run code on the masters; delete the Raft secret file and run `raftkube setup`")
