"""Kubernetes' rules for names, label keys and values, and port names.

Each check returns a list of problems (empty when the value is fine), worded like
Kubernetes' `apimachinery/pkg/util/validation`, so callers can prefix a field path and
collect every problem instead of stopping at the first.
"""

from __future__ import annotations  # shipped to hosts in the helper, whose python may be older

import re
import secrets

_LABEL_FMT = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_LABEL = re.compile(rf"^{_LABEL_FMT}$")
_DNS1123_SUBDOMAIN = re.compile(rf"^{_LABEL_FMT}(\.{_LABEL_FMT})*$")
_DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_IANA_SVC_NAME = re.compile(r"^[-a-z0-9]+$")
_ENV_VAR_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")

LABEL_MAX = 63
# Kubernetes' name generator: 5 characters from an alphabet without vowels or
# look-alikes (no accidental words, no 0/o, 1/l), after a prefix cut to 58.
_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_SUFFIX_LENGTH = 5
_MAX_GENERATED_PREFIX = LABEL_MAX - _SUFFIX_LENGTH
SUBDOMAIN_MAX = 253
PORT_NAME_MAX = 15

_LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character (e.g. 'my-name', or '123-abc')"
)
_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "
    "or '.', and must start and end with an alphanumeric character (e.g. 'example.com')"
)
_DNS1035_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with "
    "an alphabetic character, and end with an alphanumeric character (e.g. 'my-name', or "
    "'abc-123')"
)
_NAME_PART_MSG = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start "
    "and end with an alphanumeric character (e.g. 'MyName', or 'my.name', or '123-abc')"
)
_LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' "
    "or '.', and must start and end with an alphanumeric character (e.g. 'MyValue', or "
    "'my_value', or '12345')"
)


def _too_long(value: str, limit: int) -> list[str]:
    return [f"must be no more than {limit} characters"] if len(value) > limit else []


def dns1123_label(value: str) -> list[str]:
    """Namespaces, container and volume names: one DNS label."""
    errors = _too_long(value, LABEL_MAX)
    if not _DNS1123_LABEL.match(value):
        errors.append(_LABEL_MSG)
    return errors


def dns1123_subdomain(value: str) -> list[str]:
    """Most object names (pods, nodes, RCs): a DNS subdomain."""
    errors = _too_long(value, SUBDOMAIN_MAX)
    if not _DNS1123_SUBDOMAIN.match(value):
        errors.append(_SUBDOMAIN_MSG)
    return errors


def dns1035_label(value: str) -> list[str]:
    """Service names: a DNS label that starts with a letter, so it can be a hostname."""
    errors = _too_long(value, LABEL_MAX)
    if not _DNS1035_LABEL.match(value):
        errors.append(_DNS1035_MSG)
    return errors


def qualified_name(value: str) -> list[str]:
    """Label and annotation keys: an optional DNS-subdomain prefix, '/', and a name."""
    prefix, slash, name = value.rpartition("/")
    if slash and not prefix:
        return ["prefix part must be non-empty"]
    if value.count("/") > 1:
        return [
            "a qualified name must consist of an optional DNS subdomain prefix and a name "
            "separated by one '/' (e.g. 'example.com/MyName')"
        ]
    errors = []
    if prefix:
        errors += [f"prefix part {msg}" for msg in dns1123_subdomain(prefix)]
    if not name:
        errors.append("name part must be non-empty")
    else:
        if len(name) > LABEL_MAX:
            errors.append(f"name part must be no more than {LABEL_MAX} characters")
        if not _QUALIFIED_NAME.match(name):
            errors.append(_NAME_PART_MSG)
    return errors


def label_value(value: str) -> list[str]:
    """Label values: up to 63 characters, possibly empty."""
    errors = _too_long(value, LABEL_MAX)
    if not _LABEL_VALUE.match(value):
        errors.append(_LABEL_VALUE_MSG)
    return errors


def port_name(value: str) -> list[str]:
    """Container port names (IANA_SVC_NAME): what SRV records and named targetPorts use."""
    errors = _too_long(value, PORT_NAME_MAX)
    if not _IANA_SVC_NAME.match(value):
        errors.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if "--" in value:
        errors.append("must not contain consecutive hyphens")
    if not re.search("[a-z]", value):
        errors.append("must contain at least one letter (a-z)")
    if value.startswith("-") or value.endswith("-"):
        errors.append("must not begin or end with a hyphen")
    return errors


def env_var_name(value: str) -> list[str]:
    """Environment variable names, as Kubernetes (>=1.26) accepts them."""
    if _ENV_VAR_NAME.match(value):
        return []
    return [
        "a valid environment variable name must consist of alphabetic characters, digits, "
        "'_', '-', or '.', and must not start with a digit"
    ]


def generate_name(prefix: str) -> str:
    """A name for an object created with `metadata.generateName` (`web-` -> `web-x7k2q`).

    Random, so call it outside the Raft state machine (the API does, before committing).
    """
    suffix = "".join(secrets.choice(_SUFFIX_ALPHABET) for _ in range(_SUFFIX_LENGTH))
    return prefix[:_MAX_GENERATED_PREFIX] + suffix
