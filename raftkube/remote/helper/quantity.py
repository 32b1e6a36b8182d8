"""Kubernetes resource quantities, as the Docker limits of a container need them.

The helper cannot import raftkube.state (it runs on hosts with only its own package),
so this is the small part of quantity parsing a host needs. Pods reach the helper
already validated by the masters; a malformed quantity here is a bad request.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

from raftkube.remote.helper.errors import BadRequest

_SUFFIX = {
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
    "n": Fraction(1, 10**9), "u": Fraction(1, 10**6), "m": Fraction(1, 10**3), "": 1,
    "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
}  # fmt: skip
_QUANTITY = re.compile(r"^(\d+(?:\.\d*)?|\.\d+)(?:[eE]([+-]?\d{1,2})|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]?))$")


def quantity(value: str | int | float) -> Fraction:
    match = _QUANTITY.match(str(value)) if not isinstance(value, bool) else None
    if match is None:
        raise BadRequest(f"invalid quantity {value!r}")
    number, exponent, suffix = match.groups()
    if exponent is not None:
        return Fraction(number) * Fraction(10) ** int(exponent)
    return Fraction(number) * _SUFFIX[suffix]


def millicores(value: str | int | float) -> int:
    return math.ceil(quantity(value) * 1000)


def memory_bytes(value: str | int | float) -> int:
    return math.ceil(quantity(value))
