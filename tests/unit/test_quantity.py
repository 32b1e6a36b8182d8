"""Quantities: Kubernetes' notation in, exact integers out, canonical text back."""

from fractions import Fraction

import pytest

from raftkube.errors import UserError
from raftkube.state.quantity import (
    QuantityError,
    format_cpu,
    format_memory,
    parse_cpu,
    parse_memory,
    parse_quantity,
)


@pytest.mark.parametrize(
    ("text", "millicores"),
    [
        ("100m", 100),
        ("0.5", 500),
        ("1", 1000),
        (1, 1000),
        (0.25, 250),
        ("2.5", 2500),
        (".5", 500),
        ("5.", 5000),
        ("1e3", 1_000_000),
        ("1E-3", 1),
        ("1k", 1_000_000),
        ("0", 0),
        ("1.0001", 1001),  # rounded up, like MilliValue()
        ("500000n", 1),
        ("250u", 1),
    ],
)
def test_parse_cpu(text, millicores):
    assert parse_cpu(text) == millicores


@pytest.mark.parametrize(
    ("text", "num_bytes"),
    [
        ("64Mi", 64 * 2**20),
        ("1Ki", 1024),
        ("1Gi", 2**30),
        ("2Ti", 2 * 2**40),
        ("1Pi", 2**50),
        ("1Ei", 2**60),
        ("1G", 10**9),
        ("1M", 10**6),
        ("1k", 1000),
        ("1T", 10**12),
        ("1P", 10**15),
        ("1E", 10**18),  # exa, not an exponent
        ("1e3", 1000),
        ("1E3", 1000),
        ("1.5Gi", 3 * 2**29),
        ("128974848", 128974848),
        (1024, 1024),
        ("100m", 1),  # a tenth of a byte rounds up to one
        ("+1Ki", 1024),
    ],
)
def test_parse_memory(text, num_bytes):
    assert parse_memory(text) == num_bytes


def test_parse_quantity_is_exact():
    assert parse_quantity("0.1") + parse_quantity("0.2") == Fraction(3, 10)
    assert parse_quantity("-1") == -1


@pytest.mark.parametrize(
    "junk", ["", "x", "1.2.3", "1KiB", "1 Gi", " 1", "1i", "Mi", "1e", "e3", "1kk", "0x10", "inf"]
)
def test_junk_is_refused_with_the_value_named(junk):
    with pytest.raises(QuantityError, match=f'invalid quantity "{junk}"'):
        parse_memory(junk)


@pytest.mark.parametrize("junk", [None, True, [1], {"a": 1}])
def test_non_scalar_is_refused(junk):
    with pytest.raises(QuantityError, match="must be a string or a number"):
        parse_quantity(junk)


def test_negative_resources_are_refused():
    with pytest.raises(QuantityError, match='invalid cpu quantity "-1": must be greater'):
        parse_cpu("-1")
    with pytest.raises(QuantityError, match="memory quantity"):
        parse_memory("-1Ki")


def test_huge_exponent_is_refused_not_computed():
    with pytest.raises(QuantityError, match="exponent out of range"):
        parse_memory("1e999999999")


def test_quantity_error_is_a_user_error():
    assert issubclass(QuantityError, UserError)


@pytest.mark.parametrize(
    ("millicores", "text"), [(500, "500m"), (2000, "2"), (0, "0"), (1500, "1500m"), (1, "1m")]
)
def test_format_cpu(millicores, text):
    assert format_cpu(millicores) == text
    assert parse_cpu(text) == millicores


@pytest.mark.parametrize(
    ("num_bytes", "text"),
    [
        (0, "0"),
        (64 * 2**20, "64Mi"),
        (2**30, "1Gi"),
        (10**9, "1G"),
        (1536, "1536"),  # 1.5Ki is not a whole number of Ki: stays exact in bytes
        (3 * 2**29, "1536Mi"),
        (1000, "1k"),
        (1500, "1500"),
        (2**60, "1Ei"),
    ],
)
def test_format_memory(num_bytes, text):
    assert format_memory(num_bytes) == text
    assert parse_memory(text) == num_bytes
