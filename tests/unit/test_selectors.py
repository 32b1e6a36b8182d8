"""Label selectors: the syntax kubectl accepts, Kubernetes' matching rules, clear errors."""

import re

import pytest

from raftkube.errors import UserError
from raftkube.state.selectors import Requirement, Selector, SelectorError, parse_selector

LABELS = {"app": "web", "env": "prod", "tier": "front"}


@pytest.mark.parametrize(
    ("text", "matches"),
    [
        ("app=web", True),
        ("app==web", True),
        ("app=db", False),
        ("app!=db", True),
        ("app!=web", False),
        ("missing!=x", True),  # != matches objects without the key
        ("env in (prod,staging)", True),
        ("env in (staging)", False),
        ("missing in (a)", False),
        ("env notin (prod)", False),
        ("env notin (dev,qa)", True),
        ("missing notin (a)", True),
        ("app", True),
        ("missing", False),
        ("!missing", True),
        ("!app", False),
        ("app=web,env=prod", True),
        ("app=web,env=dev", False),
        ("app=web,app!=web", False),
        ("", True),
    ],
)
def test_matches(text, matches):
    assert parse_selector(text).matches(LABELS) is matches


def test_empty_value_selects_the_empty_label():
    selector = parse_selector("flag=")
    assert selector.matches({"flag": ""})
    assert not selector.matches({"flag": "x"})
    assert not selector.matches({})


def test_whitespace_is_tolerated():
    assert str(parse_selector("  app = web ,  env  in ( prod , qa )  , ! canary ")) == (
        "app=web,!canary,env in (prod,qa)"
    )


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("b=2,a=1", "a=1,b=2"),
        ("a==1", "a=1"),
        ("env in (b,a,b)", "env in (a,b)"),
        ("env notin (x)", "env notin (x)"),
        ("!b,a", "a,!b"),
        ("example.com/role=db", "example.com/role=db"),
    ],
)
def test_canonical_string_round_trips(text, canonical):
    selector = parse_selector(text)
    assert str(selector) == canonical
    assert parse_selector(str(selector)) == selector


def test_none_and_blank_are_the_empty_selector():
    assert parse_selector(None) is Selector.empty
    assert parse_selector("   ") is Selector.empty
    assert Selector.empty.is_empty
    assert Selector.empty.matches({}) and Selector.empty.matches(None)
    assert str(Selector.empty) == ""


def test_from_match_labels():
    selector = Selector.from_match_labels({"tier": "front", "app": "web"})
    assert str(selector) == "app=web,tier=front"
    assert selector.matches(LABELS)
    assert not selector.matches({"app": "web"})
    assert Selector.from_match_labels({}).is_empty
    assert Selector.from_match_labels(None).is_empty
    assert selector == parse_selector("app=web,tier=front")


def test_selectors_are_hashable_values():
    expected = Selector((Requirement("a", "=", ("1",)),))
    assert {parse_selector("a=1"), parse_selector("a==1")} == {expected}


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("env in (a", 'missing ")"'),
        ("env in (a,", 'missing ")"'),
        ("env in a", 'expected "(" after "in"'),
        ("env notin ()", '"notin" needs at least one value'),
        ("a b", 'unexpected "b" after "a"'),
        ("!", "expected a label key, found end of selector"),
        (",a", 'expected a label key, found ","'),
        ("a,", "expected a label key, found end of selector"),
        ("a=b,,c", 'expected a label key, found ","'),
        ("a=b c", 'expected "," before "c"'),
        ("a=(", 'expected a label value, found "("'),
        ("env in (a b)", 'expected "," or ")" in the values of "in"'),
        ("-a=b", 'invalid label key "-a"'),
        ("a/b/c=d", 'invalid label key "a/b/c"'),
        ("Bad_Prefix/a=b", 'invalid label key "Bad_Prefix/a": prefix part'),
        ("a=-b", 'invalid label value "-b"'),
        ("a=" + "x" * 64, "must be no more than 63 characters"),
        ("env in (ok,b@d)", 'invalid label value "b@d"'),
    ],
)
def test_errors_name_the_selector_and_the_problem(text, reason):
    with pytest.raises(SelectorError) as caught:
        parse_selector(text)
    message = str(caught.value)
    assert message.startswith(f'invalid selector "{text}": ')
    assert reason in message
    assert "\n" not in message


def test_selector_error_is_a_user_error():
    assert issubclass(SelectorError, UserError)


def test_from_label_selector():
    selector = Selector.from_label_selector(
        {
            "matchLabels": {"app": "web"},
            "matchExpressions": [
                {"key": "env", "operator": "In", "values": ["prod", "qa"]},
                {"key": "canary", "operator": "DoesNotExist"},
                {"key": "tier", "operator": "NotIn", "values": ["db"]},
                {"key": "team", "operator": "Exists"},
            ],
        }
    )
    assert str(selector) == "app=web,!canary,env in (prod,qa),team,tier notin (db)"
    assert selector.matches({"app": "web", "env": "qa", "team": "a"})
    assert not selector.matches({"app": "web", "env": "qa", "team": "a", "canary": "1"})
    assert Selector.from_label_selector({}).is_empty
    assert Selector.from_label_selector(None).is_empty


@pytest.mark.parametrize(
    ("expression", "fragment"),
    [
        ({"key": "a", "operator": "Equals", "values": ["x"]}, 'invalid matchExpressions operator "Equals"'),
        ({"key": "a", "operator": "In"}, 'matchExpressions "a In" needs at least one value'),
        ({"key": "a", "operator": "Exists", "values": ["x"]}, "needs no values"),
        ({"key": "bad key", "operator": "Exists"}, "invalid matchExpressions key 'bad key'"),
        ({"key": "a", "operator": "In", "values": ["b c"]}, "invalid label value"),
    ],
)
def test_bad_match_expressions(expression, fragment):
    with pytest.raises(SelectorError, match=re.escape(fragment)):
        Selector.from_label_selector({"matchExpressions": [expression]})
