"""Docker's times (RFC 3339 with nanoseconds, `0001-01-01...` for never) as Unix timestamps."""

from __future__ import annotations

import datetime


def unix_time(value: str | None) -> float | None:
    if not value or value.startswith("0001-"):
        return None
    main, _, rest = value.partition(".")
    fraction = rest.rstrip("Z")[:6] if rest else "0"
    # Whole seconds come without a fraction, so "Z" ends `main`: Python < 3.11 rejects it there.
    stamp = datetime.datetime.fromisoformat(main.rstrip("Z")).replace(tzinfo=datetime.timezone.utc)
    return stamp.timestamp() + float(f"0.{fraction or '0'}")
