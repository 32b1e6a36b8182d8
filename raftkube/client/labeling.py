"""`raftkube label` / `annotate`: parse `key=value` / `key-` arguments the kubectl way.

Pure, so the command only fetches the object, applies the change and writes it back
conditionally on the resourceVersion it read.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from raftkube.errors import UserError
from raftkube.state import names


class LabelError(UserError):
    """A `key=value` / `key-` argument that is malformed or conflicts with the object."""


@dataclass(frozen=True)
class LabelChanges:
    """What to set and what to remove in `metadata.labels` (or `annotations`)."""

    set: dict[str, str] = field(default_factory=dict)
    remove: tuple[str, ...] = ()


def parse_label_changes(arguments: list[str], annotations: bool = False) -> LabelChanges:
    """`["app=web", "tier-"]` -> set app=web, remove tier.

    Keys (and label values) are checked by Kubernetes' rules, so a typo fails here
    with the argument named rather than at the API.
    """
    what = "annotation" if annotations else "label"
    if not arguments:
        raise LabelError(f"at least one {what} update is required")
    to_set: dict[str, str] = {}
    to_remove: list[str] = []
    for argument in arguments:
        if "=" in argument:
            key, _, value = argument.partition("=")
            problems = names.qualified_name(key)
            if not annotations:
                problems += names.label_value(value)
            to_set[key] = value
        elif argument.endswith("-"):
            key = argument[:-1]
            problems = names.qualified_name(key)
            to_remove.append(key)
        else:
            raise LabelError(f'invalid {what} spec "{argument}": use key=value or key-')
        if problems:
            raise LabelError(f'invalid {what} "{argument}": {"; ".join(problems)}')
    both = sorted(set(to_set) & set(to_remove))
    if both:
        raise LabelError(f'can not both modify and remove the {what} "{both[0]}"')
    return LabelChanges(to_set, tuple(to_remove))


def apply_label_changes(
    current: dict[str, str] | None,
    changes: LabelChanges,
    overwrite: bool = False,
) -> dict[str, str]:
    """The new map; changing an existing value needs `overwrite`, as in kubectl."""
    result = dict(current or {})
    for key, value in changes.set.items():
        if key in result and result[key] != value and not overwrite:
            raise LabelError(
                f"'{key}' already has a value ({result[key]}), and --overwrite is false"
            )
        result[key] = value
    for key in changes.remove:
        result.pop(key, None)
    return result
