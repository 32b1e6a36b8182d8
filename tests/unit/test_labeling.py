"""`label` / `annotate` arguments, parsed and applied the kubectl way."""

import pytest

from raftkube.client.labeling import LabelChanges, LabelError, apply_label_changes, parse_label_changes


def test_set_and_remove():
    changes = parse_label_changes(["app=web", "example.com/tier=front", "old-", "empty="])
    assert changes == LabelChanges({"app": "web", "example.com/tier": "front", "empty": ""}, ("old",))
    assert apply_label_changes({"old": "x", "keep": "y"}, changes) == {
        "keep": "y", "app": "web", "example.com/tier": "front", "empty": "",
    }  # fmt: skip


def test_changing_a_value_needs_overwrite():
    changes = parse_label_changes(["app=db"])
    with pytest.raises(LabelError, match=r"^'app' already has a value \(web\), and --overwrite is false$"):
        apply_label_changes({"app": "web"}, changes)
    assert apply_label_changes({"app": "web"}, changes, overwrite=True) == {"app": "db"}
    assert apply_label_changes({"app": "db"}, changes) == {"app": "db"}  # same value: no conflict


def test_removing_a_missing_key_is_fine():
    assert apply_label_changes(None, parse_label_changes(["gone-"])) == {}


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ([], "at least one label update is required"),
        (["app"], 'invalid label spec "app": use key=value or key-'),
        (["bad key=x"], 'invalid label "bad key=x": name part must consist'),
        (["app=not valid"], 'invalid label "app=not valid": a valid label must be'),
        (["app=x", "app-"], 'can not both modify and remove the label "app"'),
        (["-"], 'invalid label "-": name part must be non-empty'),
    ],
)
def test_bad_label_arguments(arguments, message):
    with pytest.raises(LabelError) as caught:
        parse_label_changes(arguments)
    assert str(caught.value).startswith(message)


def test_annotation_values_are_free_text():
    changes = parse_label_changes(["note=any text: at all", "x-"], annotations=True)
    assert changes.set == {"note": "any text: at all"} and changes.remove == ("x",)
    with pytest.raises(LabelError, match="at least one annotation update is required"):
        parse_label_changes([], annotations=True)
    with pytest.raises(LabelError, match='invalid annotation "bad key=1"'):
        parse_label_changes(["bad key=1"], annotations=True)
