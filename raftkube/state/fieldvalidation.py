"""`fieldValidation=Strict|Warn|Ignore`: what a write does with fields the schema does not know.

As in Kubernetes, an unknown field is never stored: `Strict` refuses the write (also
our default, design decision 1), `Warn` drops the field and says so in a `Warning`
header, `Ignore` drops it silently. Other problems are errors whatever the directive.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable

from raftkube.state.objects import ValidationError

DIRECTIVES = ("Strict", "Warn", "Ignore")
UNKNOWN = "unknown field"
_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


class FieldValidationError(ValueError):
    """The `fieldValidation` parameter names no directive."""


def directive(value: str | None) -> str:
    if value in (None, ""):
        return "Strict"
    for known in DIRECTIVES:
        if value.lower() == known.lower():
            return known
    raise FieldValidationError(f"fieldValidation {value!r} is not one of Strict, Warn, Ignore")


def validate_fields(obj: dict, how: str, validate: Callable[[dict], dict]) -> tuple[dict, list[str]]:
    """`validate(obj)` under directive `how`; returns (validated object, warnings)."""
    try:
        return validate(obj), []
    except ValidationError as exc:
        unknown = [path for path, problem in exc.errors if problem == UNKNOWN]
        if how == "Strict" or not unknown:
            raise
    pruned = copy.deepcopy(obj)
    for path in unknown:
        _remove(pruned, path)
    validated = validate(pruned)  # whatever else is wrong is still an error
    warnings = [f'unknown field "{path}"' for path in unknown] if how == "Warn" else []
    return validated, warnings


def _remove(obj, path: str) -> None:
    steps = [int(index) if index else key for key, index in _STEP.findall(path)]
    parent = obj
    for step in steps[:-1]:
        try:
            parent = parent[step]
        except (KeyError, IndexError, TypeError):
            return
    if isinstance(parent, dict):
        parent.pop(steps[-1], None)
