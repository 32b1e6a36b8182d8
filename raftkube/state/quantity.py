"""Resource quantities as Kubernetes writes them: `100m`, `0.5`, `64Mi`, `1G`, `1e3`.

The scheduler adds and compares requests, so quantities become exact integers here:
CPU in millicores and memory in bytes, rounded up like Kubernetes' `MilliValue()` and
`Value()` so a request never shrinks. Fractions keep `0.1 + 0.2` exact on the way.
"""

from __future__ import annotations  # shipped to hosts in the helper, whose python may be older

import math
import re
from fractions import Fraction

from raftkube.errors import UserError

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Fraction(1, 10**9),
    "u": Fraction(1, 10**6),
    "m": Fraction(1, 10**3),
    "": Fraction(1),
    "k": Fraction(10**3),
    "M": Fraction(10**6),
    "G": Fraction(10**9),
    "T": Fraction(10**12),
    "P": Fraction(10**15),
    "E": Fraction(10**18),
}
# "1E" is 1 exa, "1E3" is 1000: the exponent form needs digits after the e/E.
_QUANTITY = re.compile(
    r"^(?P<number>[+-]?(\d+(\.\d*)?|\.\d+))"
    r"(?:(?P<exponent>[eE][+-]?\d+)|(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]?))$"
)
_MAX_EXPONENT = 30


class QuantityError(UserError):
    """A resource quantity that Kubernetes would not accept."""


def parse_quantity(value: str | int | float) -> Fraction:
    """The exact value of a quantity; numbers from YAML (`cpu: 1`) are accepted as-is."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise QuantityError(f"invalid quantity {value!r}: must be a string or a number")
    text = value if isinstance(value, str) else repr(value)
    match = _QUANTITY.match(text)
    if not match:
        raise QuantityError(
            f'invalid quantity "{text}": expected a number with an optional suffix '
            "(e.g. '100m', '0.5', '64Mi', '1G', '1e3')"
        )
    number = Fraction(match["number"])
    if match["exponent"]:
        exponent = int(match["exponent"][1:])
        if abs(exponent) > _MAX_EXPONENT:
            raise QuantityError(f'invalid quantity "{text}": exponent out of range')
        return number * Fraction(10) ** exponent
    suffix = match["suffix"]
    return number * (_BINARY[suffix] if suffix in _BINARY else _DECIMAL[suffix])


def _non_negative(value: str | int | float, what: str) -> Fraction:
    quantity = parse_quantity(value)
    if quantity < 0:
        raise QuantityError(f'invalid {what} "{value}": must be greater than or equal to 0')
    return quantity


def parse_cpu(value: str | int | float) -> int:
    """CPU in millicores: `"100m"` -> 100, `"0.5"` -> 500, `2` -> 2000."""
    return math.ceil(_non_negative(value, "cpu quantity") * 1000)


def parse_memory(value: str | int | float) -> int:
    """Memory (or any byte count) in bytes: `"64Mi"` -> 67108864, `"1G"` -> 10**9."""
    return math.ceil(_non_negative(value, "memory quantity"))


def format_cpu(millicores: int) -> str:
    """The canonical form of a CPU amount: whole cores when exact, else millicores."""
    if millicores % 1000 == 0:
        return str(millicores // 1000)
    return f"{millicores}m"


def format_memory(num_bytes: int) -> str:
    """The canonical form of a byte count: the largest exact binary suffix, then decimal."""
    if num_bytes == 0:
        return "0"
    for suffix, factor in reversed(_BINARY.items()):
        if num_bytes % factor == 0:
            return f"{num_bytes // factor}{suffix}"
    for suffix in ("E", "P", "T", "G", "M", "k"):
        factor = int(_DECIMAL[suffix])
        if num_bytes % factor == 0:
            return f"{num_bytes // factor}{suffix}"
    return str(num_bytes)
