"""fieldSelector parsing and matching, with Kubernetes' supported fields per kind."""

import pytest

from raftkube.state.fieldselectors import FieldSelectorError, parse_field_selector

POD = {"kind": "Pod", "metadata": {"name": "web", "namespace": "prod"}, "spec": {"nodeName": "node1"},
       "status": {"phase": "Running"}}
EVENT = {"kind": "Event", "metadata": {"name": "e1", "namespace": "prod"}, "type": "Warning", "reason": "BackOff",
         "involvedObject": {"kind": "Pod", "name": "web", "namespace": "prod", "uid": "u1"}}


def test_equal_double_equal_and_not_equal():
    assert parse_field_selector("metadata.name=web,spec.nodeName==node1", "Pod").matches(POD)
    assert not parse_field_selector("status.phase!=Running", "Pod").matches(POD)
    assert parse_field_selector("spec.nodeName!=node2", "Pod").matches(POD)
    assert parse_field_selector("", "Pod").is_empty
    assert parse_field_selector("metadata.namespace=prod", "Node").matches({"metadata": {"name": "n"}}) is False


def test_event_fields():
    selector = parse_field_selector("involvedObject.name=web,involvedObject.namespace=prod,"
                                    "involvedObject.uid=u1,type=Warning,reason=BackOff", "Event")
    assert selector.matches(EVENT)
    assert not parse_field_selector("involvedObject.kind=Node", "Event").matches(EVENT)


def test_unsupported_field_or_syntax_is_an_error():
    with pytest.raises(FieldSelectorError, match="field label not supported: spec.image"):
        parse_field_selector("spec.image=x", "Pod")
    with pytest.raises(FieldSelectorError, match="not supported"):
        parse_field_selector("status.phase=Running", "Service")
    with pytest.raises(FieldSelectorError, match="FIELD=VALUE"):
        parse_field_selector("metadata.name", "Pod")


def test_unschedulable_defaults_to_false():
    assert parse_field_selector("spec.unschedulable=false", "Node").matches({"kind": "Node", "spec": {}})
