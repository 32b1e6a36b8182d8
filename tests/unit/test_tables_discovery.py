"""Tables (kubectl's `get`), discovery documents and fieldValidation: pure parts of issue 10."""

import pytest

from raftkube.state import discovery, tables
from raftkube.state.fieldvalidation import FieldValidationError, directive, validate_fields
from raftkube.state.objects import KINDS, ValidationError, validate

ACCEPT = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
POD = {"apiVersion": "v1", "kind": "Pod",
       "metadata": {"name": "web", "namespace": "default", "labels": {"a": "b"}, "creationTimestamp": "2026-01-01T00:00:00Z"},
       "spec": {"containers": [{"name": "c", "image": "busybox"}], "nodeName": "node1"},
       "status": {"phase": "Running", "podIP": "10.244.1.2"}}


def test_wants_table_reads_kubectls_accept_header():
    assert tables.wants_table(ACCEPT)
    assert not tables.wants_table("application/json")
    assert not tables.wants_table("application/json;as=Table;v=v1beta1;g=meta.k8s.io")


def test_table_has_the_get_columns_wide_ones_at_priority_1_and_row_metadata():
    table = tables.table([POD], "Pod", 1767225900.0, "7")  # 2026-01-01T00:05:00Z
    names = [(c["name"], c["priority"]) for c in table["columnDefinitions"]]
    assert names == [("NAME", 0), ("READY", 0), ("STATUS", 0), ("RESTARTS", 0), ("AGE", 0), ("IP", 1), ("NODE", 1)]
    assert table["columnDefinitions"][0]["format"] == "name"
    row = table["rows"][0]
    assert row["cells"] == ["web", "0/1", "Running", "0", "5m", "10.244.1.2", "node1"]
    assert row["object"]["kind"] == "PartialObjectMetadata" and row["object"]["metadata"]["labels"] == {"a": "b"}
    assert table["metadata"]["resourceVersion"] == "7"
    assert tables.table([POD], "Pod", 0, include_object="Object")["rows"][0]["object"] is POD
    assert "object" not in tables.table([POD], "Pod", 0, include_object="None")["rows"][0]


def test_discovery_lists_every_kind_with_short_names_categories_and_subresources():
    resources = {r["name"]: r for r in discovery.resource_list("v1")["resources"]}
    for info in KINDS.values():
        assert resources[info.plural]["kind"] == info.kind
        assert resources[info.plural]["namespaced"] == info.namespaced
        assert resources[info.plural].get("shortNames", []) == list(info.short_names)
    assert resources["pods"]["categories"] == ["all"] and "categories" not in resources["nodes"]
    for sub in ("pods/log", "pods/exec", "pods/status", "replicationcontrollers/scale"):
        assert sub in resources
    assert resources["replicationcontrollers/scale"]["group"] == "autoscaling"
    assert discovery.resource_list("apps/v9") is None
    assert discovery.api_group_list()["kind"] == "APIGroupList"
    assert (discovery.version()["major"], discovery.version()["minor"]) == ("1", "32")


def test_openapi_names_each_patch_with_its_kind_and_field_validation():
    root = discovery.openapi_root()
    assert root["paths"]["api/v1"]["serverRelativeURL"].startswith("/openapi/v3/api/v1?hash=")
    document = discovery.openapi_document(discovery.openapi_key_version("api/v1"))
    patch = document["paths"]["/api/v1/namespaces/{namespace}/pods/{name}"]["patch"]
    assert patch["x-kubernetes-group-version-kind"] == {"group": "", "version": "v1", "kind": "Pod"}
    assert "fieldValidation" in [p["name"] for p in patch["parameters"]]
    assert "/api/v1/nodes/{name}" in document["paths"]


def test_field_validation_directives():
    pod = {**POD, "spec": {**POD["spec"], "bogus": 1}}
    with pytest.raises(ValidationError, match="spec.bogus: unknown field"):
        validate_fields(pod, "Strict", validate)
    obj, warnings = validate_fields(pod, "Warn", validate)
    assert "bogus" not in obj["spec"] and warnings == ['unknown field "spec.bogus"']
    obj, warnings = validate_fields(pod, "Ignore", validate)
    assert "bogus" not in obj["spec"] and warnings == []
    bad = {**pod, "spec": {**pod["spec"], "containers": [{"name": "c"}]}}
    with pytest.raises(ValidationError, match="image"):
        validate_fields(bad, "Ignore", validate)  # other problems stay errors
    assert directive(None) == "Strict" and directive("warn") == "Warn"
    with pytest.raises(FieldValidationError):
        directive("Loose")
