"""The kinds registry and what every kind shares: identity, metadata, error format."""

import copy

import pytest

from raftkube.errors import UserError
from raftkube.state.objects import KINDS, UnknownKind, ValidationError, kind_info, validate


def pod(**metadata):
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web", **metadata},
        "spec": {"containers": [{"name": "web", "image": "nginx:1.25"}]},
    }


def problems(obj) -> str:
    with pytest.raises(ValidationError) as caught:
        validate(obj)
    message = str(caught.value)
    assert "\n" not in message
    return message


# Kinds registry


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("Pod", "Pod"),
        ("pod", "Pod"),
        ("pods", "Pod"),
        ("po", "Pod"),
        ("PODS", "Pod"),
        ("replicationcontroller", "ReplicationController"),
        ("replicationcontrollers", "ReplicationController"),
        ("rc", "ReplicationController"),
        ("ReplicationController", "ReplicationController"),
        ("svc", "Service"),
        ("service", "Service"),
        ("services", "Service"),
        ("ep", "Endpoints"),
        ("endpoints", "Endpoints"),
        ("no", "Node"),
        ("node", "Node"),
        ("nodes", "Node"),
        ("ns", "Namespace"),
        ("namespace", "Namespace"),
        ("namespaces", "Namespace"),
        ("ev", "Event"),
        ("event", "Event"),
        ("events", "Event"),
    ],
)
def test_kind_info_accepts_what_kubectl_accepts(name, kind):
    assert kind_info(name).kind == kind


def test_kind_info_fields():
    info = kind_info("po")
    assert (info.kind, info.plural, info.singular, info.api_version) == ("Pod", "pods", "pod", "v1")
    assert info.namespaced and info.short_names == ("po",)
    assert set(info.aliases) == {"pod", "pods", "po"}
    assert not kind_info("nodes").namespaced
    assert not kind_info("ns").namespaced
    assert kind_info("ep").plural == "endpoints"


def test_every_kind_is_registered_under_its_kind_name():
    assert sorted(KINDS) == [
        "Endpoints", "Event", "Namespace", "Node", "Pod", "ReplicationController", "Service",
    ]  # fmt: skip
    assert all(name == info.kind for name, info in KINDS.items())


@pytest.mark.parametrize("name", ["foo", "deployment", "", "pod s"])
def test_unknown_kind_lists_the_known_ones(name):
    with pytest.raises(UnknownKind) as caught:
        kind_info(name)
    assert str(caught.value) == (
        f'unknown kind "{name}": known kinds are '
        "Endpoints, Event, Namespace, Node, Pod, ReplicationController, Service"
    )
    assert isinstance(caught.value, UserError)


# Identity: apiVersion, kind, metadata


def test_valid_object_comes_back_with_defaults_and_the_input_untouched():
    original = pod()
    kept = copy.deepcopy(original)
    result = validate(original)
    assert original == kept
    assert result["metadata"] == {"name": "web", "namespace": "default"}


def test_wrong_api_version_is_named():
    obj = pod()
    obj["apiVersion"] = "apps/v1"
    assert problems(obj) == 'Pod "web": apiVersion: unsupported value "apps/v1": supported values: "v1"'


def test_missing_api_version_and_kind():
    assert problems({"metadata": {"name": "x"}}) == (
        'object "x": apiVersion: required value; kind: required value'
    )


def test_unknown_kind_in_a_manifest():
    message = problems({"apiVersion": "v1", "kind": "Deployment", "metadata": {"name": "web"}})
    assert message.startswith('Deployment "web": kind: unknown kind "Deployment": known kinds are')


def test_kind_is_case_sensitive_with_a_hint():
    message = problems({"apiVersion": "v1", "kind": "pod", "metadata": {"name": "web"}})
    assert 'kind: unknown kind "pod" (did you mean "Pod"?)' in message


def test_not_a_mapping():
    with pytest.raises(ValidationError, match="must be a mapping"):
        validate(["not", "an", "object"])


def test_metadata_must_be_a_mapping():
    assert "metadata: must be an object" in problems({"apiVersion": "v1", "kind": "Pod", "metadata": "x"})


def test_validation_error_carries_subject_and_paths():
    obj = pod()
    obj["spec"]["containers"][0]["imagee"] = "x"
    with pytest.raises(ValidationError) as caught:
        validate(obj)
    assert caught.value.subject == 'Pod "web"'
    assert caught.value.errors == [("spec.containers[0].imagee", "unknown field")]
    assert isinstance(caught.value, UserError)


def test_all_errors_are_collected_into_one_line():
    obj = pod(labels={"ok": "yes", "bad key": "x"}, colour="blue")
    obj["spec"]["restartPolicy"] = "Sometimes"
    obj["spec"]["containers"][0]["imagee"] = "typo"
    obj["spek"] = {}
    message = problems(obj)
    assert message.startswith('Pod "web": ')
    for part in [
        'metadata.labels: invalid key "bad key"',
        "metadata.colour: unknown field",
        "spec.containers[0].imagee: unknown field",
        'spec.restartPolicy: unsupported value "Sometimes": supported values: "Always", '
        '"OnFailure", "Never"',
        "spek: unknown field",
    ]:
        assert part in message
    assert message.count("; ") == 4


# Names


@pytest.mark.parametrize(
    "name", ["web", "web-1", "a", "web.example.com", "0web", "a" * 253, "a.b-c.d"]
)
def test_subdomain_names_are_accepted_for_pods(name):
    assert validate(pod(name=name))["metadata"]["name"] == name


@pytest.mark.parametrize("name", ["Web", "web_1", "-web", "web-", "web..a", "a" * 254, "", "wéb"])
def test_bad_pod_names_are_refused(name):
    message = problems(pod(name=name))
    assert f'metadata.name: invalid value "{name}"' in message


def test_name_too_long_says_so():
    assert "must be no more than 253 characters" in problems(pod(name="a" * 254))


def test_name_or_generate_name_is_required():
    obj = pod()
    del obj["metadata"]["name"]
    assert problems(obj) == "Pod: metadata.name: name or generateName is required"


def test_generate_name_stands_in_for_name():
    obj = pod(generateName="web-")
    del obj["metadata"]["name"]
    assert validate(obj)["metadata"]["generateName"] == "web-"


def test_bad_generate_name():
    obj = pod(generateName="Web-")
    del obj["metadata"]["name"]
    assert 'metadata.generateName: invalid value "Web-"' in problems(obj)


def test_name_must_be_a_string():
    assert "metadata.name: must be a string" in problems(pod(name=42))


# Namespaces


def test_namespaced_kinds_default_to_default_namespace():
    assert validate(pod())["metadata"]["namespace"] == "default"
    assert validate(pod(), default_namespace="prod")["metadata"]["namespace"] == "prod"
    assert validate(pod(namespace="team-a"))["metadata"]["namespace"] == "team-a"


def test_bad_namespace():
    assert 'metadata.namespace: invalid value "Team_A"' in problems(pod(namespace="Team_A"))


def test_cluster_scoped_kinds_lose_their_namespace():
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1", "namespace": "x"}}
    assert "namespace" not in validate(node)["metadata"]
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a", "namespace": "b"}}
    assert "namespace" not in validate(ns)["metadata"]


# Labels and annotations


def test_labels_accepted():
    labels = {"app": "web", "example.com/tier": "front", "empty": "", "a_b.c-d": "X_y.z-1"}
    assert validate(pod(labels=labels))["metadata"]["labels"] == labels


@pytest.mark.parametrize(
    ("key", "fragment"),
    [
        ("bad key", 'invalid key "bad key": name part must consist of alphanumeric'),
        ("-a", 'invalid key "-a": name part'),
        ("a" * 64, "name part must be no more than 63 characters"),
        ("/a", "prefix part must be non-empty"),
        ("example.com/", "name part must be non-empty"),
        ("Example.com/a", "prefix part a lowercase RFC 1123 subdomain"),
        ("a/b/c", "separated by one '/'"),
    ],
)
def test_bad_label_keys(key, fragment):
    message = problems(pod(labels={key: "x"}))
    assert "metadata.labels: " in message and fragment in message


@pytest.mark.parametrize(("value", "fragment"), [("a b", "a valid label must be"), ("-a", "a valid label"), ("x" * 64, "must be no more than 63 characters")])
def test_bad_label_values(value, fragment):
    message = problems(pod(labels={"app": value}))
    assert f'metadata.labels: invalid value "{value}" of "app": ' in message and fragment in message


@pytest.mark.parametrize("value", [1, 1.0, True])
def test_label_values_must_be_strings_with_a_yaml_hint(value):
    message = problems(pod(labels={"version": value}))
    assert f'metadata.labels: value of "version" must be a string (quote {value!r} in YAML)' in message


def test_labels_must_be_a_mapping():
    assert "metadata.labels: must be an object" in problems(pod(labels=["app=web"]))


def test_annotations():
    notes = {"example.com/note": "anything at all: {}", "a": ""}
    assert validate(pod(annotations=notes))["metadata"]["annotations"] == notes
    assert 'metadata.annotations: invalid key "bad key"' in problems(pod(annotations={"bad key": "x"}))
    assert 'value of "n" must be a string' in problems(pod(annotations={"n": 1}))
    huge = {"big": "x" * (256 * 1024)}
    assert "metadata.annotations: too long: must have at most 262144 bytes" in problems(pod(annotations=huge))


# Bookkeeping metadata


def test_bookkeeping_metadata_is_accepted():
    meta = {
        "uid": "0b7e5f7c-1d7c-4a5e-8f6a-3b1d2c4e5f60",
        "resourceVersion": "42",
        "generation": 3,
        "creationTimestamp": "2026-11-27T02:40:00Z",
        "deletionTimestamp": "2026-11-27T02:41:00.123456+00:00",
        "deletionGracePeriodSeconds": 30,
        "ownerReferences": [
            {"apiVersion": "v1", "kind": "ReplicationController", "name": "web", "uid": "u1",
             "controller": True, "blockOwnerDeletion": True}
        ],
        "finalizers": ["example.com/cleanup"],
    }  # fmt: skip
    assert validate(pod(**meta))["metadata"] == {"name": "web", "namespace": "default", **meta}


def test_null_means_absent_as_kubectl_dry_run_writes_it():
    obj = pod(creationTimestamp=None, labels=None)
    obj["status"] = {}
    obj["spec"]["containers"][0]["resources"] = {}
    result = validate(obj)
    assert "creationTimestamp" not in result["metadata"]
    assert "labels" not in result["metadata"]


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("creationTimestamp", "yesterday", 'invalid value "yesterday": must be an RFC 3339 time'),
        ("creationTimestamp", "2026-11-27", "must be an RFC 3339 time"),
        ("creationTimestamp", "2026-11-27T02:40:00", "with a zone"),
        ("generation", "3", "must be an integer"),
        ("generation", -1, "must be greater than or equal to 0"),
        ("uid", 7, "must be a string"),
        ("ownerReferences", [{"kind": "x"}], "metadata.ownerReferences[0].apiVersion: required value"),
        ("finalizers", "x", "must be a list"),
        ("selfLinks", "x", "metadata.selfLinks: unknown field"),
    ],
)
def test_bad_bookkeeping_metadata(field, value, fragment):
    assert fragment in problems(pod(**{field: value}))
