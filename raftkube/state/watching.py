"""Which watch events a selective watch sends, as Kubernetes does.

With a label or field selector an object entering the selection is `ADDED` (even if the
store saw a modification), one leaving it is `DELETED` (with its new state), and
changes outside it are not sent. Pure: the API feeds it the store's changes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable


class SelectionTracker:
    """Remembers which objects (by uid) were selected, to turn changes into watch events.

    `in_scope(obj)`: the kind, namespace and name the watch is on; `selected(obj)`: its
    label and field selectors. `known` maps the uids whose selection is known at the
    start to whether they were selected; for others a change counts as it is.
    """

    def __init__(self, in_scope: Callable[[dict], bool], selected: Callable[[dict], bool],
                 known: dict[str, bool] | None = None):
        self._in_scope = in_scope
        self._selected = selected
        self._known: dict[str, bool] = dict(known or {})

    def events(self, changes: Iterable[tuple[str, dict]]) -> list[tuple[str, dict]]:
        out = []
        for event_type, obj in changes:
            if not self._in_scope(obj):
                continue
            uid = obj["metadata"].get("uid", "")
            now = event_type != "DELETED" and self._selected(obj)
            was = self._known.get(uid)
            if was is None:  # not seen since the watch began: take the event as it is
                was = event_type != "ADDED" and self._selected(obj)
            if event_type == "DELETED":
                self._known.pop(uid, None)
            else:
                self._known[uid] = now
            if now and not was:
                out.append(("ADDED", obj))
            elif now:
                out.append(("MODIFIED", obj))
            elif was:
                out.append(("DELETED", obj))
        return out


def is_watch(value: str | None) -> bool:
    """`watch=true|1|t|True` (Go's strconv.ParseBool), as Kubernetes reads it."""
    return value in ("1", "t", "T", "true", "TRUE", "True")
