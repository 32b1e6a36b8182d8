"""Field types and checks shared by every schema, worded like Kubernetes' errors.

marshmallow's stock fields are lenient where Kubernetes is strict (`"80"` for an int,
`"yes"` for a bool), and their messages read like Python's. These subclasses reject what
the API server rejects and say so in Kubernetes' words; `objects.validate` prefixes each
message with its field path.
"""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from marshmallow import EXCLUDE, INCLUDE, RAISE, Schema, ValidationError, fields, missing
from marshmallow.utils import set_value

from raftkube.state import names
from raftkube.state.quantity import QuantityError, parse_quantity


class _Messages:
    """Kubernetes' wording for the errors every field can raise."""

    default_error_messages = {
        "required": "required value",
        "null": "must not be null",
        "validator_failed": "invalid value",
    }


class Str(_Messages, fields.String):
    default_error_messages = {"invalid": "must be a string"}


class Int(_Messages, fields.Integer):
    """An integer; a string or a bool is refused, as the API server's decoder does."""

    default_error_messages = {"invalid": "must be an integer"}

    def __init__(self, **kwargs: Any):
        super().__init__(strict=True, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, bool):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class Bool(_Messages, fields.Boolean):
    """true or false, nothing YAML 1.1 or Python would coerce."""

    default_error_messages = {"invalid": "must be a boolean"}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


class List(_Messages, fields.List):
    default_error_messages = {"invalid": "must be a list"}


class Nested(_Messages, fields.Nested):
    default_error_messages = {"type": "must be an object"}


class _Mapping(_Messages, fields.Field):
    """A JSON object whose keys and values are checked as a whole, one message each."""

    default_error_messages = {"invalid": "must be an object"}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> dict:
        if not isinstance(value, Mapping):
            raise self.make_error("invalid")
        errors = []
        result = {}
        for key, item in value.items():
            try:
                result[key] = self.check_item(key, item)
            except ValidationError as error:
                errors += error.messages if isinstance(error.messages, list) else [error.messages]
        if errors:
            raise ValidationError(errors)
        return result

    def check_item(self, key: Any, value: Any) -> Any:
        raise NotImplementedError


class Labels(_Mapping):
    """metadata.labels, nodeSelector, selectors: qualified keys, short plain values."""

    def check_item(self, key: Any, value: Any) -> str:
        problems = names.qualified_name(key) if isinstance(key, str) else ["must be a string"]
        if problems:
            raise ValidationError(f'invalid key "{key}": {"; ".join(problems)}')
        if not isinstance(value, str):
            raise ValidationError(
                f'value of "{key}" must be a string (quote {value!r} in YAML)'
            )
        problems = names.label_value(value)
        if problems:
            raise ValidationError(f'invalid value "{value}" of "{key}": {"; ".join(problems)}')
        return value


class Annotations(_Mapping):
    """metadata.annotations: qualified keys, any string values, 256 KiB in all."""

    TOTAL_LIMIT = 256 * 1024

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> dict:
        result = super()._deserialize(value, attr, data, **kwargs)
        size = sum(len(k) + len(v) for k, v in result.items())
        if size > self.TOTAL_LIMIT:
            raise ValidationError(f"too long: must have at most {self.TOTAL_LIMIT} bytes")
        return result

    def check_item(self, key: Any, value: Any) -> str:
        problems = names.qualified_name(key) if isinstance(key, str) else ["must be a string"]
        if problems:
            raise ValidationError(f'invalid key "{key}": {"; ".join(problems)}')
        if not isinstance(value, str):
            raise ValidationError(f'value of "{key}" must be a string (quote it in YAML)')
        return value


class ResourceList(_Mapping):
    """Resource name -> quantity. Numbers from YAML (`cpu: 1`) are kept as strings."""

    def __init__(self, allowed: Iterable[str] | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.allowed = tuple(allowed) if allowed is not None else None

    def check_item(self, key: Any, value: Any) -> str:
        if not isinstance(key, str) or names.qualified_name(key):
            raise ValidationError(f'invalid resource name "{key}"')
        if self.allowed is not None and key not in self.allowed:
            raise ValidationError(
                f'unsupported resource "{key}": supported resources: {_quoted(self.allowed)}'
            )
        try:
            quantity = parse_quantity(value)
        except QuantityError as error:
            raise ValidationError(f"{key}: {error}") from None
        if quantity < 0:
            raise ValidationError(f"{key}: must be greater than or equal to 0")
        return value if isinstance(value, str) else repr(value)


class IntOrString(_Messages, fields.Field):
    """A port given as a number or as the name of a container port (targetPort)."""

    default_error_messages = {"invalid": "must be an integer or a string"}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int | str:
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise self.make_error("invalid")
        return value


class Timestamp(Str):
    """An RFC 3339 time such as `2026-11-27T02:40:00Z`, as the store writes them."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            parsed = datetime.datetime.fromisoformat(text)
        except ValueError:
            parsed = None
        if parsed is None or "T" not in text.upper() or parsed.tzinfo is None:
            raise ValidationError(f'invalid value "{text}": must be an RFC 3339 time with a zone')
        return text


# Validators: each raises marshmallow's ValidationError with Kubernetes' wording.


def _quoted(values: Iterable[str]) -> str:
    return ", ".join(f'"{value}"' for value in values)


def one_of(*choices: str) -> Callable[[Any], None]:
    def check(value: Any) -> None:
        if value not in choices:
            raise ValidationError(
                f'unsupported value "{value}": supported values: {_quoted(choices)}'
            )

    return check


def in_range(low: int, high: int | None = None) -> Callable[[int], None]:
    def check(value: int) -> None:
        if high is None and value < low:
            raise ValidationError(f"must be greater than or equal to {low}")
        if high is not None and not low <= value <= high:
            raise ValidationError(f"must be between {low} and {high}, inclusive")

    return check


def name_rule(rule: Callable[[str], list[str]]) -> Callable[[str], None]:
    """Turn a `names` check into a validator naming the bad value."""

    def check(value: str) -> None:
        problems = rule(value)
        if problems:
            raise ValidationError(f'invalid value "{value}": {"; ".join(problems)}')

    return check


def not_empty(value: Any) -> None:
    if not value:
        raise ValidationError("required value")


def absolute_path(value: str) -> None:
    if not value.startswith("/"):
        raise ValidationError(f'invalid value "{value}": must be an absolute path')


def ipv4(value: str) -> None:
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        raise ValidationError(f'invalid value "{value}": must be a valid IPv4 address') from None


def ipv4_cidr(value: str) -> None:
    try:
        ipaddress.IPv4Network(value)
    except ValueError:
        raise ValidationError(
            f'invalid value "{value}": must be a valid IPv4 CIDR (e.g. 10.244.1.0/24)'
        ) from None


def quantity(value: str) -> None:
    try:
        if parse_quantity(value) < 0:
            raise ValidationError("must be greater than or equal to 0")
    except QuantityError as error:
        raise ValidationError(str(error)) from None


def dicts_in(value: Any) -> list[tuple[int, dict]]:
    """(index, item) of the mappings in a raw list, for checks across list items.

    Cross-field checks read the input as written (`pass_original`) so they still run
    when some field has an error, and report every problem in one go with the index
    the user wrote.
    """
    if not isinstance(value, list):
        return []
    return [(index, item) for index, item in enumerate(value) if isinstance(item, dict)]


def duplicates(values: Iterable[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """(path, value) of every hashable value already seen earlier."""
    seen = set()
    repeated = []
    for path, value in values:
        try:
            hash(value)
        except TypeError:
            continue  # a list or mapping where a name belongs: its own field error says so
        if value in seen:
            repeated.append((path, value))
        seen.add(value)
    return repeated


PORT = in_range(1, 65535)
PROTOCOL = one_of("TCP", "UDP", "SCTP")


def port_number_or_name(value: int | str) -> None:
    """A port as a number (1..65535) or as the name of a container port."""
    if isinstance(value, int):
        PORT(value)
    else:
        name_rule(names.port_name)(value)


def http_header_name(value: str) -> None:
    """An HTTP header field name: RFC 7230's token characters."""
    allowed = set("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
    if not value or set(value) - allowed:
        raise ValidationError(f'invalid value "{value}": must be a valid HTTP header name')


class Object(Schema):
    """A Kubernetes struct: an unknown field is an error, never silently dropped."""

    class Meta:
        unknown = RAISE

    error_messages = {"unknown": "unknown field", "type": "must be an object"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # (attribute, field, key in the body) in declaration order, and whether the
        # field does anything when the body leaves it out (required, or a default).
        self._declared = [(name, field, field.data_key if field.data_key is not None else name,
                           field.required or field.load_default is not missing)
                          for name, field in self.load_fields.items()]
        self._keys = frozenset(key for _, _, key, _ in self._declared)

    def _deserialize(self, data, *, error_store, many=False, partial=None, unknown=RAISE, index=None):
        """marshmallow's own loop for one object, passing over absent optional fields.

        marshmallow runs every declared field for every object only to find nothing to
        do for an absent one; a pod declares ~50 fields and sets a handful, so that was
        most of validating it. The result and the errors are the same.
        """
        if many or partial is not None or not isinstance(data, Mapping):
            return super()._deserialize(data, error_store=error_store, many=many, partial=partial,
                                        unknown=unknown, index=index)
        index = index if self.opts.index_errors else None
        result = self.dict_class()
        for name, field, key, eager in self._declared:
            raw = data.get(key, missing)
            if raw is missing and not eager:
                continue
            try:
                value = field.deserialize(raw, key, data)
            except ValidationError as error:
                error_store.store_error(error.messages, key, index=index)
                value = error.valid_data or missing
            if value is not missing:
                set_value(result, field.attribute or name, value)
        if unknown != EXCLUDE:
            for key in data:
                if key in self._keys:
                    continue
                if unknown == INCLUDE:
                    result[key] = data[key]
                elif unknown == RAISE:
                    error_store.store_error([self.error_messages["unknown"]], key, index)
        return result


class Status(Object):
    """A status struct: written by raftkube's own loops and setup, not by users.

    Known fields are type-checked; unknown ones are kept rather than refused, so a loop
    that records something new is not wedged by a stale schema.
    """

    class Meta:
        unknown = INCLUDE
