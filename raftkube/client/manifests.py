"""Read the manifests a user hands to `apply -f` / `delete -f`: files, directories, stdin.

Every problem names the file (and line, or document number) so the user can go
straight to it, like kubectl does. The objects are returned as written; validation is
the masters' job (`raftkube.state.objects.validate`).
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import IO, Any

import yaml

from raftkube.errors import UserError
from raftkube.state.kinds import DEFAULT_NAMESPACE, KindInfo, kind_info

log = logging.getLogger(__name__)

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
STDIN = "-"


class _ManifestLoader(yaml.SafeLoader):
    """SafeLoader that leaves timestamps as strings, as kubectl's YAML-to-JSON step does.

    Plain SafeLoader turns `date: 2026-01-01` into a `datetime.date`, which is neither a
    valid label value nor JSON.
    """


_ManifestLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


class ManifestError(UserError):
    """A manifest file that is missing, unreadable, not YAML/JSON, or not an object."""


def load_manifests(
    source: str, recursive: bool = False, stdin: IO[str] | None = None
) -> list[dict]:
    """Every object in `source`: a file, a directory of manifests, or "-" for stdin.

    Multi-document YAML and `kind: List` (or `PodList`, ...) are flattened into one list;
    empty documents are skipped.
    """
    if source == STDIN:
        stream = stdin if stdin is not None else sys.stdin
        return _parse(stream.read(), "<stdin>", is_json=False)
    path = Path(source)
    if path.is_dir():
        files = _manifest_files(path, recursive)
        log.debug("loading %d manifest files from %s", len(files), path)
        return [obj for file in files for obj in _load_file(file)]
    if not path.exists():
        raise ManifestError(f"{source}: no such file or directory")
    return _load_file(path)


def _manifest_files(directory: Path, recursive: bool) -> list[Path]:
    candidates = directory.rglob("*") if recursive else directory.iterdir()
    return sorted(p for p in candidates if p.is_file() and p.suffix in MANIFEST_SUFFIXES)


def _load_file(path: Path) -> list[dict]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise ManifestError(f"{path}: cannot read: {reason}") from None
    return _parse(text, str(path), is_json=path.suffix == ".json")


def _parse(text: str, name: str, is_json: bool) -> list[dict]:
    documents = _json_documents(text, name) if is_json else _yaml_documents(text, name)
    objects = []
    for number, document in enumerate(documents, start=1):
        if document is None:
            continue
        objects += _objects_in(document, f"{name}: document {number}")
    return objects


def _json_documents(text: str, name: str) -> list[Any]:
    try:
        return [json.loads(text)] if text.strip() else []
    except json.JSONDecodeError as error:
        raise ManifestError(f"{name}:{error.lineno}: {error.msg}") from None


def _yaml_documents(text: str, name: str) -> list[Any]:
    try:
        return list(yaml.load_all(text, Loader=_ManifestLoader))
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = f":{mark.line + 1}" if mark else ""
        raise ManifestError(f"{name}{line}: {error.problem or error.context}") from None
    except yaml.YAMLError as error:
        raise ManifestError(f"{name}: {error}") from None


def _objects_in(document: Any, where: str) -> list[dict]:
    if not isinstance(document, dict):
        raise ManifestError(f"{where}: not a mapping (got {type(document).__name__})")
    try:
        json.dumps(document)  # what the API is sent: no YAML sets or binary
    except (TypeError, ValueError) as error:
        raise ManifestError(f"{where}: {error}") from None
    kind = document.get("kind")
    if not kind:
        raise ManifestError(f"{where}: no kind")
    if not (isinstance(kind, str) and kind.endswith("List") and "items" in document):
        return [document]
    items = document["items"] or []
    if not isinstance(items, list):
        raise ManifestError(f"{where}: {kind}.items must be a list")
    item_kind = kind[: -len("List")]  # PodList items may omit their kind; List items may not
    objects = []
    for index, item in enumerate(items):
        if isinstance(item, dict) and item_kind and "kind" not in item:
            item = {"apiVersion": document.get("apiVersion", "v1"), "kind": item_kind, **item}
        objects += _objects_in(item, f"{where}: items[{index}]")
    return objects


def place_manifest(manifest: dict, namespace: str | None) -> KindInfo:
    """Give a manifest its namespace (from itself, -n, or the default); refuse a mismatch
    or a missing name (`apply -f` and `delete -f` address objects by name)."""
    info = kind_info(manifest["kind"])
    if manifest.get("metadata") is None:
        manifest["metadata"] = {}
    meta = manifest["metadata"]
    if not isinstance(meta, dict):
        raise UserError(f"{info.kind}: metadata must be a mapping")
    if not meta.get("name") or not isinstance(meta["name"], str):
        raise UserError(f"{info.kind}: metadata.name is required (generateName is for creating only)")
    if info.namespaced:
        if namespace and meta.get("namespace") not in (None, namespace):
            raise UserError(f"{info.singular}/{meta['name']}: the manifest's namespace {meta['namespace']!r} "
                            f"does not match -n {namespace}")
        meta["namespace"] = meta.get("namespace") or namespace or DEFAULT_NAMESPACE
    return info
