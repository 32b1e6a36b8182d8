"""Label selectors: the one parser and matcher used by the API, the CLI and the loops.

The syntax is Kubernetes': comma-separated requirements, each an equality (`a=b`,
`a==b`, `a!=b`), a set test (`env in (a,b)`, `tier notin (x)`) or an existence test
(`key`, `!key`). All requirements must hold. As in Kubernetes, `!=` and `notin` also
match objects that lack the key.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from raftkube.errors import UserError
from raftkube.state import names


class SelectorError(UserError):
    """A label selector that cannot be parsed or holds an invalid key or value."""


EQUALS = "="
NOT_EQUALS = "!="
IN = "in"
NOT_IN = "notin"
EXISTS = "exists"
DOES_NOT_EXIST = "!"

_SPECIAL = "!=,()"
_TOKEN = re.compile(r"\s*(?:(?P<op>==|!=|[!=,()])|(?P<word>[^\s!=,()]+))")


@dataclass(frozen=True)
class Requirement:
    """One test on one label key."""

    key: str
    operator: str
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        if self.operator == EXISTS:
            return present
        if self.operator == DOES_NOT_EXIST:
            return not present
        if self.operator in (EQUALS, IN):
            return present and labels[self.key] in self.values
        return not present or labels[self.key] not in self.values

    def __str__(self) -> str:
        if self.operator == EXISTS:
            return self.key
        if self.operator == DOES_NOT_EXIST:
            return f"!{self.key}"
        if self.operator in (EQUALS, NOT_EQUALS):
            return f"{self.key}{self.operator}{self.values[0]}"
        return f"{self.key} {self.operator} ({','.join(self.values)})"


@dataclass(frozen=True)
class Selector:
    """A conjunction of requirements; the empty selector matches every object."""

    requirements: tuple[Requirement, ...] = ()

    empty: ClassVar[Selector]

    @classmethod
    def from_match_labels(cls, match_labels: Mapping[str, str] | None) -> Selector:
        """The selector of an RC or a Service: every given label must be equal."""
        requirements = [Requirement(k, EQUALS, (v,)) for k, v in (match_labels or {}).items()]
        return cls(tuple(sorted(requirements, key=lambda r: r.key)))

    @classmethod
    def from_label_selector(cls, label_selector: Mapping | None) -> Selector:
        """A `LabelSelector` object (`matchLabels` + `matchExpressions`), as apps/v1 uses.

        Raises SelectorError for an operator Kubernetes does not know or values that do
        not fit it (`In` needs some, `Exists` none).
        """
        label_selector = label_selector or {}
        match_labels = cls.from_match_labels(label_selector.get("matchLabels"))
        requirements = list(match_labels.requirements)
        for expression in label_selector.get("matchExpressions") or []:
            requirements.append(_expression_requirement(expression))
        return cls(tuple(sorted(requirements, key=lambda r: r.key)))

    @property
    def is_empty(self) -> bool:
        return not self.requirements

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        labels = labels or {}
        return all(requirement.matches(labels) for requirement in self.requirements)

    def __str__(self) -> str:
        return ",".join(str(requirement) for requirement in self.requirements)


Selector.empty = Selector()


_EXPRESSION_OPERATORS = {
    "In": IN,
    "NotIn": NOT_IN,
    "Exists": EXISTS,
    "DoesNotExist": DOES_NOT_EXIST,
}


def _expression_requirement(expression: Mapping) -> Requirement:
    key, operator = expression.get("key"), expression.get("operator")
    values = expression.get("values") or []
    if not isinstance(key, str) or names.qualified_name(key):
        raise SelectorError(f"invalid matchExpressions key {key!r}")
    if operator not in _EXPRESSION_OPERATORS:
        known = ", ".join(_EXPRESSION_OPERATORS)
        raise SelectorError(f'invalid matchExpressions operator "{operator}": use one of {known}')
    needs_values = operator in ("In", "NotIn")
    if needs_values != bool(values):
        need = "at least one value" if needs_values else "no values"
        raise SelectorError(f'matchExpressions "{key} {operator}" needs {need}')
    if any(not isinstance(v, str) or names.label_value(v) for v in values):
        raise SelectorError(f'matchExpressions "{key} {operator}": invalid label value in {values}')
    return Requirement(key, _EXPRESSION_OPERATORS[operator], tuple(sorted(set(values))))


def parse_selector(text: str | None) -> Selector:
    """Parse a selector string such as `app=web,tier in (front,back),!canary`."""
    if text is None or not text.strip():
        return Selector.empty
    tokens = _tokenize(text)
    requirements = _Parser(text, tokens).parse()
    return Selector(tuple(sorted(requirements, key=lambda r: r.key)))


def _tokenize(text: str) -> list[str]:
    tokens = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match:
            break  # only trailing whitespace is left
        tokens.append(match["op"] or match["word"])
        position = match.end()
    return tokens


class _Parser:
    """Recursive descent over the tokens; every error names the selector as written."""

    def __init__(self, text: str, tokens: list[str]):
        self.text = text
        self.tokens = tokens
        self.position = 0

    def error(self, reason: str) -> SelectorError:
        return SelectorError(f'invalid selector "{self.text}": {reason}')

    def peek(self) -> str | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self) -> str | None:
        token = self.peek()
        self.position += 1
        return token

    def parse(self) -> list[Requirement]:
        requirements = [self.requirement()]
        while self.peek() is not None:
            if self.take() != ",":
                raise self.error(f'expected "," before "{self.tokens[self.position - 1]}"')
            requirements.append(self.requirement())
        return requirements

    def requirement(self) -> Requirement:
        if self.peek() == "!":
            self.take()
            return Requirement(self.key(), DOES_NOT_EXIST)
        key = self.key()
        operator = self.peek()
        if operator is None or operator == ",":
            return Requirement(key, EXISTS)
        self.take()
        if operator in ("=", "==", "!="):
            return Requirement(key, NOT_EQUALS if operator == "!=" else EQUALS, (self.value(),))
        if operator in (IN, NOT_IN):
            return Requirement(key, operator, self.value_set(operator))
        raise self.error(
            f'unexpected "{operator}" after "{key}": expected "=", "==", "!=", "in" or "notin"'
        )

    def key(self) -> str:
        token = self.take()
        if token is None or token in _SPECIAL or token == "==":
            found = "end of selector" if token is None else f'"{token}"'
            raise self.error(f"expected a label key, found {found}")
        problems = names.qualified_name(token)
        if problems:
            raise self.error(f'invalid label key "{token}": {"; ".join(problems)}')
        return token

    def value(self) -> str:
        token = self.peek()
        if token is None or token == ",":
            return ""  # `a=` selects objects whose label a is the empty string
        if token in _SPECIAL or token == "==":
            raise self.error(f'expected a label value, found "{token}"')
        self.take()
        return self._checked_value(token)

    def _checked_value(self, token: str) -> str:
        problems = names.label_value(token)
        if problems:
            raise self.error(f'invalid label value "{token}": {"; ".join(problems)}')
        return token

    def value_set(self, operator: str) -> tuple[str, ...]:
        if self.take() != "(":
            raise self.error(f'expected "(" after "{operator}"')
        values: set[str] = set()
        while True:
            token = self.take()
            if token is None:
                raise self.error('missing ")"')
            if token == ")" and not values:
                raise self.error(f'"{operator}" needs at least one value')
            if token in _SPECIAL or token == "==":
                raise self.error(f'expected a label value, found "{token}"')
            values.add(self._checked_value(token))
            separator = self.take()
            if separator == ")":
                return tuple(sorted(values))
            if separator is None:
                raise self.error('missing ")"')
            if separator != ",":
                raise self.error(f'expected "," or ")" in the values of "{operator}"')
