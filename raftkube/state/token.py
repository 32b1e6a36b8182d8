"""The cluster's bearer token: authenticates API requests (never the Raft secret, see `secrets`)."""

from pathlib import Path

from raftkube.errors import UserError


class TokenError(UserError):
    """The token file is missing, unreadable or empty."""


def read_token(path: str | Path) -> str:
    """The token in `path` (one line, written 0600 by `raftkube setup` or the lab)."""
    path = Path(path)
    try:
        token = path.read_text().strip()
    except FileNotFoundError:
        raise TokenError(f"token file {path} not found: run `raftkube setup` first") from None
    except OSError as exc:
        raise TokenError(f"cannot read token file {path}: {exc.strerror}") from None
    if not token:
        raise TokenError(f"token file {path} is empty")
    return token
