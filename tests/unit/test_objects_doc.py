"""docs/objects.md lists every field a user may write, so it stays true as schemas grow."""

from pathlib import Path

import pytest
from marshmallow import fields

from raftkube.state.objects import KINDS, _SCHEMAS

DOC = Path(__file__).resolve().parents[2] / "docs" / "objects.md"
NOT_LISTED = ("apiVersion", "kind", "metadata", "status")


def field_paths(schema, prefix=""):
    for name, field in schema.fields.items():
        if not prefix and name in NOT_LISTED:
            continue
        path = prefix + name
        yield path
        inner = field.inner if isinstance(field, fields.List) else field
        if isinstance(inner, fields.Nested) and path != "spec.template":
            yield from field_paths(inner.schema, path + ("[]." if inner is not field else "."))


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_field_is_documented(kind):
    text = DOC.read_text()
    missing = [path for path in field_paths(_SCHEMAS[kind]) if f"`{path}`" not in text]
    assert not missing, f"add to docs/objects.md: {missing}"
