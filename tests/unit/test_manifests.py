"""Reading manifests: files, directories, stdin, multi-document YAML, Lists, errors."""

import io
import json

import pytest

from raftkube.client.manifests import ManifestError, load_manifests
from raftkube.errors import UserError

POD = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n"


def write(path, text):
    path.write_text(text)
    return str(path)


def test_single_document_file(tmp_path):
    source = write(tmp_path / "web.yaml", POD.format(name="web"))
    assert load_manifests(source) == [{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"}}]


def test_multi_document_yaml_skips_empty_documents(tmp_path):
    text = "---\n" + POD.format(name="a") + "---\n---\n# only a comment\n---\n" + POD.format(name="b")
    source = write(tmp_path / "two.yaml", text)
    assert [obj["metadata"]["name"] for obj in load_manifests(source)] == ["a", "b"]


def test_empty_file_has_no_objects(tmp_path):
    assert load_manifests(write(tmp_path / "empty.yaml", "")) == []


def test_list_items_are_flattened(tmp_path):
    text = (
        "apiVersion: v1\nkind: List\nitems:\n"
        "- {apiVersion: v1, kind: Service, metadata: {name: web}}\n"
        "- {apiVersion: v1, kind: Pod, metadata: {name: web}}\n"
    )
    kinds = [obj["kind"] for obj in load_manifests(write(tmp_path / "list.yaml", text))]
    assert kinds == ["Service", "Pod"]


def test_typed_list_items_get_their_kind(tmp_path):
    text = json.dumps({"apiVersion": "v1", "kind": "PodList", "items": [{"metadata": {"name": "p"}}]})
    assert load_manifests(write(tmp_path / "pods.json", text)) == [
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}
    ]


def test_empty_list(tmp_path):
    assert load_manifests(write(tmp_path / "l.yaml", "kind: List\nitems: []\n")) == []
    assert load_manifests(write(tmp_path / "n.yaml", "kind: List\nitems:\n")) == []


def test_json_file(tmp_path):
    obj = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a"}}
    assert load_manifests(write(tmp_path / "ns.json", json.dumps(obj, indent="\t"))) == [obj]


def test_directory_reads_manifests_sorted_not_recursive(tmp_path):
    write(tmp_path / "b.yaml", POD.format(name="b"))
    write(tmp_path / "a.yml", POD.format(name="a"))
    write(tmp_path / "c.json", json.dumps({"kind": "Pod", "metadata": {"name": "c"}}))
    write(tmp_path / "README.md", "not a manifest")
    (tmp_path / "sub").mkdir()
    write(tmp_path / "sub" / "d.yaml", POD.format(name="d"))
    names = [obj["metadata"]["name"] for obj in load_manifests(str(tmp_path))]
    assert names == ["a", "b", "c"]
    names = [obj["metadata"]["name"] for obj in load_manifests(str(tmp_path), recursive=True)]
    assert names == ["a", "b", "c", "d"]


def test_stdin():
    stream = io.StringIO(POD.format(name="a") + "---\n" + POD.format(name="b"))
    assert len(load_manifests("-", stdin=stream)) == 2


def test_yaml_error_names_file_and_line(tmp_path):
    source = write(tmp_path / "web.yaml", "kind: Pod\nmetadata:\n  name: web\n  bad: : x\n")
    with pytest.raises(ManifestError) as caught:
        load_manifests(source)
    assert str(caught.value) == f"{source}:4: mapping values are not allowed here"


def test_yaml_error_on_stdin():
    with pytest.raises(ManifestError, match=r"^<stdin>:1: mapping values are not allowed here$"):
        load_manifests("-", stdin=io.StringIO("kind: a: b\n"))


def test_json_error_names_file_and_line(tmp_path):
    source = write(tmp_path / "bad.json", '{\n  "kind": "Pod",\n}\n')
    with pytest.raises(ManifestError, match=rf"^{source}:3: "):
        load_manifests(source)


def test_document_that_is_not_a_mapping(tmp_path):
    source = write(tmp_path / "x.yaml", POD.format(name="a") + "---\n- just\n- a list\n")
    with pytest.raises(ManifestError) as caught:
        load_manifests(source)
    assert str(caught.value) == f"{source}: document 2: not a mapping (got list)"


def test_document_without_kind(tmp_path):
    source = write(tmp_path / "x.yaml", "apiVersion: v1\nmetadata: {name: a}\n")
    with pytest.raises(ManifestError) as caught:
        load_manifests(source)
    assert str(caught.value) == f"{source}: document 1: no kind"


def test_list_item_without_kind(tmp_path):
    source = write(tmp_path / "x.yaml", "kind: List\nitems:\n- metadata: {name: a}\n")
    with pytest.raises(ManifestError, match=r"document 1: items\[0\]: no kind"):
        load_manifests(source)


def test_missing_file():
    with pytest.raises(ManifestError, match="^nope.yaml: no such file or directory$"):
        load_manifests("nope.yaml")


def test_unreadable_file(tmp_path):
    source = tmp_path / "bin.yaml"
    source.write_bytes(b"\xff\xfe\x00kind")
    with pytest.raises(ManifestError, match="cannot read"):
        load_manifests(str(source))


def test_manifest_error_is_a_user_error():
    assert issubclass(ManifestError, UserError)


def test_timestamps_stay_strings(tmp_path):
    text = "kind: Pod\nmetadata:\n  labels: {date: 2026-01-01}\n  creationTimestamp: 2026-11-27T02:40:00Z\n"
    metadata = load_manifests(write(tmp_path / "t.yaml", text))[0]["metadata"]
    assert metadata == {"labels": {"date": "2026-01-01"}, "creationTimestamp": "2026-11-27T02:40:00Z"}


def test_yaml_scalars_keep_their_types(tmp_path):
    text = "kind: Pod\nspec: {replicas: 3, ratio: 0.5, flag: true, none: null, port: '80'}\n"
    spec = load_manifests(write(tmp_path / "t.yaml", text))[0]["spec"]
    assert spec == {"replicas": 3, "ratio": 0.5, "flag": True, "none": None, "port": "80"}


def test_unsafe_tags_are_refused(tmp_path):
    source = write(tmp_path / "evil.yaml", "kind: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(ManifestError, match=r"evil.yaml:1: could not determine a constructor"):
        load_manifests(source)


def test_values_json_cannot_hold_are_refused(tmp_path):
    path = tmp_path / "set.yaml"
    path.write_text("kind: Pod\nmetadata: {name: x}\nstatus: {seen: !!set {a, b}}\n")
    with pytest.raises(ManifestError, match=r"set\.yaml: document 1: .*set"):
        load_manifests(str(path))
